"""FOCUS exports → raw_focus: files as the clouds write them, loaded whole per delivery,
incremental by file, re-deliveries replacing their rows, bad files named (no dbt here)."""

from __future__ import annotations

import gzip
import json
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from ingestion.focus import EXPORTS_DIR_ENV, FocusExportError, discover_deliveries
from ingestion.pipeline import run_ingestion
from simulator.focus_exports import (
    FOCUS_COLUMNS,
    focus_world,
    restate_month,
    write_focus_exports,
)
from simulator.world import World

NANO = Decimal("0.000000001")


@pytest.fixture()
def exports(tmp_path, monkeypatch):
    world = World(seed=11, days=40, providers=("openai", "anthropic", "focus"))
    root = tmp_path / "exports" / "focus"
    write_focus_exports(world, root)
    monkeypatch.setenv(EXPORTS_DIR_ENV, str(root))
    return world, root, tmp_path / "warehouse.duckdb"


def _raw_by_day(db: Path) -> dict[str, Decimal]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select left(charge_period_start, 10), sum(cast(billed_cost as decimal(38, 9)))"
            " from raw_focus.cost_and_usage group by 1"
        ).fetchall()
    finally:
        con.close()
    return {d: Decimal(v) for d, v in rows}


def _exported_by_day(world: World) -> dict[str, Decimal]:
    f = focus_world(world).frame
    sums = f.groupby(f["date"].astype(str))["BilledCost"].sum()
    return {d: Decimal(int(v)) * NANO for d, v in sums.items()}


def _raw_count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select count(*) from raw_focus.cost_and_usage").fetchone()[0]
    finally:
        con.close()


def test_files_are_written_as_each_cloud_delivers_them(exports):
    world, root, _ = exports
    aws = sorted(root.glob("aws/*/data/BILLING_PERIOD=*/*.snappy.parquet"))
    azure = sorted(root.glob("azure/*/*-*/*/part_0_0001.csv.gz"))
    gcp = sorted(root.glob("gcp/*/*/focus-000000000000.csv"))
    months = {d.strftime("%Y-%m") for d in focus_world(world).frame["date"]}
    assert len(aws) == len(azure) == len(gcp) == len(months) >= 2

    table = pq.read_table(aws[0])
    assert set(FOCUS_COLUMNS) <= set(table.column_names)
    assert {"x_Discounts", "x_Operation", "x_ServiceCode"} <= set(table.column_names)
    assert str(table.schema.field("BilledCost").type) == "double"
    assert str(table.schema.field("ChargePeriodStart").type).startswith("timestamp")

    with gzip.open(azure[0], "rt") as fh:
        header = fh.readline().strip().split(",")
    assert header[: len(FOCUS_COLUMNS)] == list(FOCUS_COLUMNS)
    manifest = json.loads((azure[0].parent / "manifest.json").read_text())
    assert manifest["exportConfig"]["type"] == "FocusCost"

    services = set(focus_world(world).frame["ServiceName"])
    assert {
        "Amazon Elastic Compute Cloud",
        "Amazon Elastic Kubernetes Service",
        "Snowflake Data Cloud",
        "Virtual Machines",
        "Kubernetes Engine",
        "BigQuery",
        "Amazon Bedrock",
        "Azure OpenAI",
        "Vertex AI",
    } <= services


def test_every_cent_lands_once_and_an_unchanged_folder_loads_nothing(exports):
    world, _, db = exports
    first = run_ingestion(None, None, db, providers=["focus"])
    rows = len(focus_world(world).frame)
    assert first["rows"]["raw_focus.cost_and_usage"] == rows
    assert _raw_by_day(db) == _exported_by_day(world)  # exact, not only to the cent

    again = run_ingestion(None, None, db, providers=["focus"])
    assert again["rows"]["raw_focus.cost_and_usage"] == 0
    assert _raw_count(db) == rows


def test_a_redelivered_month_replaces_its_rows_and_only_its_rows(exports):
    world, root, db = exports
    run_ingestion(None, None, db, providers=["focus"])
    before = _raw_by_day(db)
    months = sorted({d.strftime("%Y-%m") for d in focus_world(world).frame["date"]})
    restated = months[0]

    restate_month(world, restated, 1.5)
    write_focus_exports(world, root, run=2, months=[restated])
    # Azure keeps the first run's folder beside the new one: only the newest run counts
    runs = list(root.glob(f"azure/*/{restated.replace('-', '')}01-*/*"))
    assert len(runs) == 2

    result = run_ingestion(None, None, db, providers=["focus"])
    in_month = (focus_world(world).frame["date"].astype(str).str[:7] == restated).sum()
    assert result["rows"]["raw_focus.cost_and_usage"] == in_month  # only that month re-read
    after = _raw_by_day(db)
    assert after == _exported_by_day(world)
    assert _raw_count(db) == len(focus_world(world).frame)  # nothing duplicated
    changed = {d for d in after if after[d] != before[d]}
    assert changed and all(d.startswith(restated) for d in changed)


def test_azure_newest_run_wins(tmp_path):
    world = World(seed=3, days=10, providers=("openai", "anthropic", "focus"))
    root = tmp_path / "focus"
    write_focus_exports(world, root, run=1)
    write_focus_exports(world, root, run=2)
    azure = [d for d in discover_deliveries(root) if d.partition.startswith("azure/")]
    newest = {p.parent.name for d in azure for p in d.files}
    for delivery in azure:
        runs = [p for p in (root / delivery.partition).iterdir() if p.is_dir()]
        assert len(runs) == 2
        (run,) = {p.parent for p in delivery.files}
        assert json.loads((run / "manifest.json").read_text())["runInfo"]["submittedTime"].endswith(
            ":02Z"
        )
    assert len(newest) == len(azure)


def test_a_corrupt_file_is_named_and_retried_after_it_is_fixed(exports):
    world, root, db = exports
    gcp = sorted(root.glob("gcp/*/*/focus-000000000000.csv"))[-1]
    good = gcp.read_bytes()
    gcp.write_bytes(b'BilledCost,ChargePeriodStart\n"1.0,2026-01-01\n\x00\x00"unterminated')
    with pytest.raises(Exception) as info:
        run_ingestion(None, None, db, providers=["focus"])
    assert "focus" in str(info.value) and gcp.name in str(info.value)
    assert isinstance(info.value, FocusExportError)

    gcp.write_bytes(good)
    os.utime(gcp)  # a fixed re-delivery
    run_ingestion(None, None, db, providers=["focus"])
    assert _raw_by_day(db) == _exported_by_day(world)


def test_a_new_extension_column_lands(exports):
    world, root, db = exports
    gcp = sorted(root.glob("gcp/*/*/focus-000000000000.csv"))[0]
    lines = gcp.read_text().splitlines()
    lines = [lines[0] + ",x_NewColumn"] + [line + ",drift" for line in lines[1:]]
    gcp.write_text("\n".join(lines) + "\n")
    run_ingestion(None, None, db, providers=["focus"])
    con = duckdb.connect(str(db), read_only=True)
    try:
        drift = con.execute(
            "select count(*) from raw_focus.cost_and_usage where x_new_column = 'drift'"
        ).fetchone()[0]
    finally:
        con.close()
    assert drift == len(lines) - 1
    assert _raw_by_day(db) == _exported_by_day(world)
