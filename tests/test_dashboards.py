"""A real BI client reads the marts: Apache Superset (dashboards/) runs every dashboard query.

Builds a demo warehouse with the real pipeline against the simulator (with bad records
injected so there is something in quarantine), registers it in Superset, and runs each query of
dashboards/queries/ through Superset's SQL Lab API. The same queries are the ready SQL of
docs/bi.md. Superset is installed by scripts/test-setup.d/dashboards.sh (run here when missing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import timedelta

import pytest

from tokenledger.paths import PROJECT_DIR

DASHBOARDS = PROJECT_DIR / "dashboards"
QUERIES = DASHBOARDS / "queries"
BI_DOC = PROJECT_DIR / "docs" / "bi.md"
SUPERSET_PYTHON = DASHBOARDS / ".venv" / "bin" / "python"


def _queries() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted(QUERIES.glob("*.sql"))}


def _normalise(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";")


def test_docs_bi_carries_every_dashboard_query():
    """docs/bi.md's ready SQL is exactly what the dashboards run (and what this file tests)."""
    doc_blocks = {_normalise(b) for b in re.findall(r"```sql\n(.*?)```", BI_DOC.read_text(), re.S)}
    assert len(_queries()) >= 6
    for name, sql in _queries().items():
        assert _normalise(sql) in doc_blocks, f"dashboards/queries/{name}.sql is not in docs/bi.md"


@pytest.fixture(scope="module")
def superset_ready():
    """Superset in dashboards/.venv with its metadata database (installed once, lazily)."""
    subprocess.run(
        ["bash", str(PROJECT_DIR / "scripts" / "test-setup.d" / "dashboards.sh")],
        check=True,
        timeout=1200,
    )
    assert SUPERSET_PYTHON.exists()


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory):
    """A DuckDB warehouse built by `tokenledger run` from a simulator world with bad records."""
    from simulator.server import serve
    from simulator.world import World
    from tokenledger.cli import main
    from tokenledger.demo import SIM_ANTHROPIC_KEY, SIM_OPENAI_KEY

    world = World(seed=21, days=10)
    server = serve(world)
    db = tmp_path_factory.mktemp("bi") / "demo.duckdb"
    saved = dict(os.environ)
    try:
        os.environ.update(
            {
                "OPENAI_ADMIN_KEY": SIM_OPENAI_KEY,
                "OPENAI_BASE_URL": f"{server.url}/v1",
                "ANTHROPIC_ADMIN_KEY": SIM_ANTHROPIC_KEY,
                "ANTHROPIC_BASE_URL": server.url,
                "TOKENLEDGER_WAREHOUSE": "duckdb",
                "TOKENLEDGER_DUCKDB": str(db),
            }
        )
        day = str(world.start + timedelta(days=2))
        for provider in ("openai", "anthropic"):
            bad = {"kind": "missing_field", "provider": provider, "date": day}
            server.control("/_sim/inject", bad)
        last = world.start + timedelta(days=world.days - 1)
        assert main(["run", "--start", str(world.start), "--end", str(last), "--quiet"]) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.shutdown()
    return db


@pytest.mark.timeout(1500)
def test_superset_runs_every_dashboard_query_on_the_marts(superset_ready, demo_warehouse):
    proc = subprocess.run(
        [
            str(SUPERSET_PYTHON),
            str(DASHBOARDS / "superset_dashboards.py"),
            "--duckdb",
            str(demo_warehouse),
            "--require-rows",
            "--json",
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no summary (exit {proc.returncode}): {proc.stderr[-3000:]}"
    summary = json.loads(lines[-1])
    assert set(summary["queries"]) == set(_queries())
    for name, info in summary["queries"].items():
        assert info["status"] == "success", f"{name}: {info}"
        assert info["rows"] > 0, f"{name} returned no rows"
    assert summary["queries"]["top_api_keys"]["rows"] <= 10
    assert "x_quarantine_reason" in summary["queries"]["quarantined_rows"]["columns"]
    assert summary["ok"] and proc.returncode == 0, proc.stderr[-3000:]
