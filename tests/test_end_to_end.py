"""End to end: simulator (real HTTP) → `tokenledger run` (real dlt, real dbt) → DuckDB marts
(PostgreSQL: tests/test_postgres_providers.py).

Checks what a user of the pipeline would notice: the fact table equals the provider's truth
to the cent, re-runs and fault storms leave the warehouse identical, a restated day is
corrected, bad records are quarantined with a reason, and no key leaks.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from simulator.server import serve
from simulator.world import World
from tokenledger.cli import main
from tokenledger.demo import (
    SIM_ANTHROPIC_KEY,
    SIM_OPENAI_KEY,
    compare_to_the_cent,
    fact_cost_by_provider_day,
    sim_api_env,
    truth_cost_by_provider_day,
)
from tokenledger.warehouse import Warehouse

SEED, DAYS = 11, 21


def _truth(server, provider: str | None = None) -> list[dict]:
    query = f"?provider={provider}" if provider else ""
    with urllib.request.urlopen(server.url + "/_sim/truth" + query, timeout=30) as resp:
        payload = json.loads(resp.read())
    return payload["rows"] if isinstance(payload, dict) else payload


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, days=DAYS)


@pytest.fixture()
def server(world):
    srv = serve(world)
    yield srv
    srv.shutdown()


def _run(world: World, db: Path | Warehouse, monkeypatch, *extra: str) -> int:
    if isinstance(db, Warehouse):  # PostgreSQL: chosen by configuration, as a user would
        monkeypatch.setenv("TOKENLEDGER_WAREHOUSE", "postgres")
        monkeypatch.setenv("TOKENLEDGER_PG_DATABASE", db.pg.database)
    else:
        monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(db))
    first = world.start
    last = world.start + timedelta(days=world.days - 1)
    return main(["run", "--start", str(first), "--end", str(last), "--quiet", *extra])


@pytest.fixture(scope="module")
def clean_run(world, tmp_path_factory):
    """One `tokenledger run` of the clean world into DuckDB, shared by the tests that only read
    it (or re-run it, which must change nothing): the warehouse and the served truth."""
    srv = serve(world)
    db = tmp_path_factory.mktemp("clean_run") / "wh.duckdb"
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in sim_api_env(srv).items():
                mp.setenv(key, value)
            assert _run(world, db, mp) == 0
        yield db, _truth(srv)
    finally:
        srv.shutdown()


def test_fact_matches_truth_and_rerun_changes_nothing(
    clean_run, world, server, provider_env, monkeypatch, capsys, warehouse_snapshot
):
    db, truth = clean_run
    problems = compare_to_the_cent(fact_cost_by_provider_day(db), truth_cost_by_provider_day(truth))
    assert problems == []
    fact = fact_cost_by_provider_day(db)
    assert {p for p, _ in fact} == {"openai", "anthropic"}
    assert len({d for _, d in fact}) == DAYS

    provider_env(server)
    before = warehouse_snapshot(db)
    assert any(k.startswith("marts.") for k in before)
    assert _run(world, db, monkeypatch) == 0
    assert warehouse_snapshot(db) == before

    printed = capsys.readouterr()
    for secret in (SIM_OPENAI_KEY, SIM_ANTHROPIC_KEY):
        assert secret not in printed.out + printed.err


def test_fault_storm_lands_identical_warehouse(
    clean_run, world, provider_env, tmp_path, monkeypatch, warehouse_snapshot
):
    stormy = serve(world)
    try:
        provider_env(stormy)
        stormy.control(
            "/_sim/faults",
            {"rate_limit_every": 3, "retry_after": 1, "server_error_every": 4, "slow_ms": 50},
        )
        stormy_db = tmp_path / "stormy.duckdb"
        assert _run(world, stormy_db, monkeypatch) == 0
    finally:
        stormy.shutdown()
    assert warehouse_snapshot(stormy_db) == warehouse_snapshot(clean_run[0])


def test_restated_day_is_corrected_by_next_run(
    clean_run, world, server, provider_env, tmp_path, monkeypatch
):
    provider_env(server)
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(clean_run[0], db)  # yesterday's warehouse, as the clean run left it
    day = str(world.start + timedelta(days=DAYS - 3))
    before = fact_cost_by_provider_day(db)

    for provider in ("openai", "anthropic"):
        server.control("/_sim/restate", {"provider": provider, "date": day, "factor": 1.25})
    assert _run(world, db, monkeypatch) == 0

    after = fact_cost_by_provider_day(db)
    assert compare_to_the_cent(after, truth_cost_by_provider_day(_truth(server))) == []
    for provider in ("openai", "anthropic"):
        assert after[(provider, day)] > before[(provider, day)]
    untouched = str(world.start)
    assert after[("openai", untouched)] == before[("openai", untouched)]


def test_bad_records_are_quarantined_or_surfaced_never_lost(
    world, server, provider_env, tmp_path, monkeypatch
):
    provider_env(server)
    day = str(world.start + timedelta(days=2))
    for provider in ("openai", "anthropic"):
        server.control("/_sim/inject", {"kind": "missing_field", "provider": provider, "date": day})
        server.control(
            "/_sim/inject",
            {"kind": "unknown_token_type", "provider": provider, "date": day},
        )
    db = tmp_path / "wh.duckdb"
    assert _run(world, db, monkeypatch) == 0

    con = duckdb.connect(str(db), read_only=True)
    try:
        quarantined = con.execute(
            "select provider, reason from quarantine.quarantined_cost_rows"
        ).fetchall()
        unknown = con.execute(
            "select x_provider, sum(billed_cost) from marts.fct_cost_and_usage "
            "where x_token_type = 'unknown' group by 1"
        ).fetchall()
    finally:
        con.close()
    assert {p for p, _ in quarantined} == {"openai", "anthropic"}
    assert all("amount" in reason for _, reason in quarantined)
    assert {p for p, c in unknown if c > 0} == {"openai", "anthropic"}
    # the unknown-token-type cost still counts: the fact still equals the truth to the cent
    assert (
        compare_to_the_cent(
            fact_cost_by_provider_day(db), truth_cost_by_provider_day(_truth(server))
        )
        == []
    )


def test_no_table_holds_a_key(clean_run):
    db, _ = clean_run
    con = duckdb.connect(str(db), read_only=True)
    try:
        text_cols = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type in ('VARCHAR', 'JSON')"
        ).fetchall()
        for schema, table, col in text_cols:
            hits = con.execute(
                f'select count(*) from "{schema}"."{table}" where "{col}" like ? or "{col}" like ?',
                [f"%{SIM_OPENAI_KEY}%", f"%{SIM_ANTHROPIC_KEY}%"],
            ).fetchone()[0]
            assert hits == 0, f"{schema}.{table}.{col} holds an admin key"
    finally:
        con.close()
