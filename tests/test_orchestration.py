"""Dagster: the definitions load, keys are stable, dlt → dbt lineage exists, and a real
partitioned run against the simulator materialises every asset with passing checks."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "dagster_definitions.txt"


@pytest.fixture(scope="module")
def definitions_module(dbt_manifest):
    import orchestration.definitions as module

    return module


def _describe(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines = [f"asset {'/'.join(k.path)}" for k in sorted(graph.get_all_asset_keys())]
    lines += [
        f"check {c.asset_key.to_user_string()}:{c.name}"
        for c in sorted(
            graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)
        )
    ]
    lines += [f"job {j.name}" for j in sorted(defs.jobs, key=lambda j: j.name)]
    lines += [
        f"schedule {s.name} {defs.resolve_schedule_def(s.name).cron_schedule}"
        for s in defs.schedules
    ]
    return "\n".join(lines) + "\n"


def test_definitions_snapshot(definitions_module):
    """Asset keys, checks, jobs and schedules; a changed key shows up in review.
    Regenerate with UPDATE_SNAPSHOTS=1 after an intended change."""
    described = _describe(definitions_module.defs)
    if os.environ.get("UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(described)
    assert described == SNAPSHOT.read_text()


def test_dbt_sources_are_the_dlt_assets(definitions_module):
    """The dbt staging models depend on the dlt assets themselves, not on look-alike keys."""
    graph = definitions_module.defs.resolve_asset_graph()
    for provider, table, model in [
        ("openai", "costs", "stg_openai__costs"),
        ("openai", "usage_completions", "stg_openai__usage_completions"),
        ("anthropic", "cost_report", "stg_anthropic__costs"),
        ("anthropic", "usage_messages", "stg_anthropic__usage_messages"),
    ]:
        raw_key = dg.AssetKey([f"raw_{provider}", table])
        node = graph.get(raw_key)
        assert node.is_materializable, f"{raw_key} is not a dlt asset"
        children = {k.path[-1] for k in node.child_keys}
        assert model in children, f"no lineage edge {raw_key} -> {model}"
    fact = graph.get(dg.AssetKey(["marts", "fct_cost_and_usage"]))
    assert fact.is_materializable and fact.partitions_def is not None


def test_partitioned_run_materialises_everything(dbt_manifest, provider_env, tmp_path):
    from orchestration.definitions import build_definitions
    from simulator.server import serve
    from simulator.world import World
    from tokenledger.demo import compare_to_the_cent, fact_cost_by_provider_day

    world = World(seed=5, days=10)
    server = serve(world)
    try:
        provider_env(server)
        db = tmp_path / "dagster.duckdb"
        defs = build_definitions(str(db))
        day = world.start + timedelta(days=world.days - 1)
        result = defs.resolve_job_def("daily_cost_pipeline").execute_in_process(
            partition_key=str(day), instance=dg.DagsterInstance.ephemeral()
        )
        assert result.success
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        all_keys = defs.resolve_asset_graph().get_all_asset_keys()
        assert all_keys <= materialized, f"not materialised: {all_keys - materialized}"
        checks = result.get_asset_check_evaluations()
        # every blocking check passes; warnings (e.g. usage on a tier no catalogue prices,
        # surfaced as unpriced) may fire without failing the run
        blocking = [c for c in checks if c.severity == dg.AssetCheckSeverity.ERROR]
        assert blocking and all(c.passed for c in blocking), [
            c.check_name for c in blocking if not c.passed
        ]
        # the partition's run covers its day plus the lookback, and matches the truth
        truth = {}
        for row in world.truth_billed_cost():
            if str(row["date"]) >= str(day - timedelta(days=3)) and str(row["date"]) <= str(day):
                key = (row["provider"], str(row["date"]))
                truth[key] = truth.get(key, 0) + row["billed_cost"]
        assert compare_to_the_cent(fact_cost_by_provider_day(db), truth) == []
    finally:
        server.shutdown()


def _dbt_step(target_dir: Path, warehouse: Path, *args: str) -> str:
    """One dbt call as a Dagster step makes it: the resource's executable, a new target folder
    in DBT_TARGET_PATH, the project folder as working directory; returns dbt's debug output."""
    from orchestration.resources import _dbt_executable
    from tokenledger.paths import PROJECT_DIR

    env = dict(os.environ, DBT_TARGET_PATH=str(target_dir), TOKENLEDGER_DUCKDB=str(warehouse))
    env.pop("TOKENLEDGER_DBT_TARGET", None)
    proc = subprocess.run(
        [_dbt_executable(), "--debug", *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_dagster_dbt_steps_start_from_the_last_parse_of_their_warehouse(tmp_path, dbt_manifest):
    """Each Dagster dbt step gets a new target folder; the first step on a warehouse parses the
    project, the next ones start from that parse (`tokenledger-dbt`), and dagster-dbt's
    `dbt --version` call does not replace it with the parse of another warehouse."""
    from tokenledger.paths import PROJECT_DIR

    warehouse = tmp_path / f"parse_check_{os.getpid()}.duckdb"
    shared = PROJECT_DIR / "target" / "parse_cache" / f"duckdb-{warehouse.stem}.msgpack"
    try:
        first = _dbt_step(tmp_path / "step1", warehouse, "parse")
        assert "Unable to do partial parsing" in first
        _dbt_step(PROJECT_DIR / "target", warehouse, "--version")
        second = _dbt_step(tmp_path / "step2", warehouse, "parse")
        assert "Unable to do partial parsing" not in second
        assert "Partial parsing enabled" in second
    finally:
        shared.unlink(missing_ok=True)
