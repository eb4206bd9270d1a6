"""`dbt docs generate` works and the marts are documented: what a BI user reads in dbt docs.

Builds every model empty (`dbt run --empty`, no provider data needed) in a tmp DuckDB so the
catalog has real column types, then generates the docs and checks manifest and catalog: every
mart has a description whose first line states its grain, an enforced contract, every column
described (and no undocumented column in the built table), and the exposures that read them.
"""

from __future__ import annotations

import json

import pytest

from tokenledger.dbt import run_dbt


@pytest.fixture(scope="module")
def docs(tmp_path_factory, monkeypatch_module):
    tmp = tmp_path_factory.mktemp("docs")
    db = tmp / "docs.duckdb"
    target = tmp / "target"
    monkeypatch_module.setenv("TOKENLEDGER_DBT_TARGET", "duckdb")
    run_dbt(["seed"], duckdb_path=db, target="duckdb", target_path=target)
    run_dbt(["run", "--empty"], duckdb_path=db, target="duckdb", target_path=target)
    run_dbt(["docs", "generate"], duckdb_path=db, target="duckdb", target_path=target)
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    assert (target / "index.html").exists()
    return manifest, catalog


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _marts(manifest: dict) -> dict[str, dict]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    }


def test_every_mart_documented_with_grain_and_contract(docs):
    manifest, catalog = docs
    marts = _marts(manifest)
    assert "model.tokenledger.fct_cost_and_usage" in marts
    assert "model.tokenledger.fct_quarantined_cost_rows" in marts
    for uid, node in marts.items():
        first_line = node["description"].strip().splitlines()[0] if node["description"] else ""
        assert first_line.lower().startswith("one row per"), f"{uid}: grain first: {first_line!r}"
        assert node["config"]["contract"]["enforced"], f"{uid}: contract not enforced"
        undocumented = [c for c, col in node["columns"].items() if not col["description"].strip()]
        assert not undocumented, f"{uid}: columns without a description: {undocumented}"
        built = {c.lower() for c in catalog["nodes"][uid]["columns"]}
        assert built == {c.lower() for c in node["columns"]}, f"{uid}: yml and table differ"


def test_catalog_carries_the_descriptions_readers_see(docs):
    manifest, catalog = docs
    fact = "model.tokenledger.fct_cost_and_usage"
    assert catalog["nodes"][fact]["metadata"]["schema"] == "marts"
    cols = manifest["nodes"][fact]["columns"]
    assert "BilledCost" in cols["billed_cost"]["description"]
    assert catalog["nodes"][fact]["columns"]["billed_cost"]["type"].upper().startswith("DECIMAL")


def test_exposures_declare_the_dashboards_on_the_marts(docs):
    manifest, _ = docs
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"superset_cost_dashboards", "html_cost_report"} <= set(exposures)
    for exposure in exposures.values():
        assert exposure["type"] == "dashboard" and exposure["description"].strip()
        assert "model.tokenledger.fct_cost_and_usage" in exposure["depends_on"]["nodes"]
    assert (
        "model.tokenledger.fct_quarantined_cost_rows"
        in exposures["superset_cost_dashboards"]["depends_on"]["nodes"]
    )
