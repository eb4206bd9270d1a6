"""Google Vertex AI end to end: billing export files (simulator) → `tokenledger run` (real dlt,
real dbt) → DuckDB marts.

What a user would notice: the fact equals Google's net bill (cost + credits) to the cent per
day, credits stay visible as their own rows, every SKU description becomes the model and token
type it bills, a day Google re-exports after updating hourly rows is corrected by the next
incremental run (and only that day moves), and malformed lines are quarantined with a reason
while the rest still reconciles. One module-scoped pair of pipeline runs serves every test.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.gcp_vertex_ai import days_to_read, list_export_days
from ingestion.pipeline import PROVIDERS
from simulator import gcp_vertex_ai
from simulator.world import World
from tokenledger.cli import main
from tokenledger.demo import compare_to_the_cent, fact_cost_by_provider_day

PROVIDER = "gcp_vertex_ai"
SEED, DAYS = 23, 14
START = dt.date(2026, 3, 2)  # a Monday
LAST = START + dt.timedelta(days=DAYS - 1)
REEXPORTED = START + dt.timedelta(days=2)  # far outside the 3-day lookback
MALFORMED = START + dt.timedelta(days=5)
CENT = Decimal("0.01")


@dataclass
class VertexRuns:
    world: World
    exports: Path
    db: Path
    first_fact: dict = field(default_factory=dict)
    first_truth: dict = field(default_factory=dict)
    first_credits: dict = field(default_factory=dict)
    first_usage: dict = field(default_factory=dict)
    first_skus: set = field(default_factory=set)
    reexported_rows: int = 0
    second_fact: dict = field(default_factory=dict)
    second_truth: dict = field(default_factory=dict)


def _truth(world: World) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in world.truth_billed_cost(PROVIDER):
        assert row["billing_currency"] == "USD"
        out[(PROVIDER, str(row["date"]))] += row["billed_cost"]
    return dict(out)


def _sum_by_day(con, sql: str) -> dict[str, Decimal]:
    return {d: Decimal(v) for d, v in con.execute(sql).fetchall()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> VertexRuns:
    """Export 14 days, run the pipeline; then Google re-exports one day and a file gains two
    malformed lines, and an incremental run (no --start) picks both up."""
    tmp = tmp_path_factory.mktemp("vertex")
    world = World(seed=SEED, days=DAYS, start=START, providers=(PROVIDER,))
    state = VertexRuns(world=world, exports=tmp / "exports", db=tmp / "wh.duckdb")
    gcp_vertex_ai.write_exports(world, state.exports)
    with pytest.MonkeyPatch.context() as mp:
        for _, env in PROVIDERS.values():  # only this provider is configured
            mp.delenv(env, raising=False)
        mp.setenv("GCP_BILLING_EXPORT_DIR", str(state.exports))
        mp.setenv("TOKENLEDGER_WAREHOUSE", "duckdb")
        mp.setenv("TOKENLEDGER_DUCKDB", str(state.db))
        assert main(["run", "--start", str(START), "--end", str(LAST), "--quiet"]) == 0

        state.first_fact = fact_cost_by_provider_day(state.db)
        state.first_truth = _truth(world)
        con = duckdb.connect(str(state.db), read_only=True)
        try:
            by_category = (
                "select cast(charge_period_start as date)::varchar, sum(billed_cost)::varchar "
                "from marts.fct_cost_and_usage where x_provider = 'gcp_vertex_ai' "
                "and charge_category = '{}' group by 1"
            )
            state.first_credits = _sum_by_day(con, by_category.format("Credit"))
            state.first_usage = _sum_by_day(con, by_category.format("Usage"))
            state.first_skus = set(
                con.execute(
                    "select distinct sku_description, model, token_type "
                    "from staging.stg_gcp_vertex_ai__costs"
                ).fetchall()
            )
        finally:
            con.close()

        state.reexported_rows = gcp_vertex_ai.reexport_day(world, state.exports, REEXPORTED)
        gcp_vertex_ai.inject_malformed_rows(world, state.exports, MALFORMED)
        assert main(["run", "--quiet"]) == 0
        state.second_fact = fact_cost_by_provider_day(state.db)
        state.second_truth = _truth(world)
    return state


def test_fact_equals_net_bill_to_the_cent_every_day(runs):
    assert compare_to_the_cent(runs.first_fact, runs.first_truth) == []
    assert len(runs.first_fact) == DAYS
    assert {p for p, _ in runs.first_fact} == {PROVIDER}


def test_credits_stay_visible_as_credit_rows(runs):
    """Usage rows carry Google's cost before credits, Credit rows the (negative) credits:
    both equal what the export holds, and together they are the net bill."""
    rows = gcp_vertex_ai.export_of(runs.world).rows  # already re-exported: skip that day
    cost = defaultdict(Decimal)
    credits = defaultdict(Decimal)
    for r in rows.itertuples(index=False):
        day = str(runs.world.date_of(r.day))
        cost[day] += Decimal(int(r.cost_micro)).scaleb(-6)
        credits[day] += Decimal(int(r.free_tier_micro + r.promotion_micro)).scaleb(-6)
    days = [d for d in cost if d != str(REEXPORTED)]
    assert all(credits[d] < 0 for d in days)  # the free tier applies every day
    for day in days:
        assert runs.first_usage[day].quantize(CENT) == cost[day].quantize(CENT)
        assert runs.first_credits.get(day, Decimal(0)).quantize(CENT) == credits[day].quantize(CENT)


def test_every_sku_description_parses_to_the_model_and_token_type_billed(runs):
    expected = {
        (gcp_vertex_ai.sku_description(model, kind), model, gcp_vertex_ai.KINDS[kind][1])
        for model, (_, prices) in gcp_vertex_ai.MODELS.items()
        for kind in prices
    }
    parsed = {s for s in runs.first_skus if s[0] is not None}
    assert parsed <= expected
    assert len(parsed) >= 10  # every model × kind the two teams use
    assert all(token_type != "unknown" for _, _, token_type in parsed)


def test_reexported_day_is_corrected_and_only_that_day_moves(runs):
    assert runs.reexported_rows > 0
    day = str(REEXPORTED)
    assert runs.second_truth[(PROVIDER, day)] > runs.first_truth[(PROVIDER, day)]
    assert compare_to_the_cent(runs.second_fact, runs.second_truth) == []
    assert runs.second_fact[(PROVIDER, day)] > runs.first_fact[(PROVIDER, day)]
    moved = {k for k in runs.first_fact if runs.first_fact[k] != runs.second_fact.get(k)}
    assert moved == {(PROVIDER, day)}

    # the day's rows were replaced, not appended: raw lines == lines in the day's file
    path = gcp_vertex_ai.day_dir(runs.exports, REEXPORTED) / gcp_vertex_ai.EXPORT_FILE
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    con = duckdb.connect(str(runs.db), read_only=True)
    try:
        raw = con.execute(
            "select count(*), count(distinct export_time) from raw_gcp_vertex_ai.billing_export "
            "where _bucket_date = ?",
            [REEXPORTED],
        ).fetchone()
    finally:
        con.close()
    assert raw[0] == len(lines)
    export_times = {json.loads(line)["export_time"] for line in lines}
    assert raw[1] == len(export_times) > 1  # the later export time of the updated rows landed


def test_malformed_lines_are_quarantined_with_their_reason_and_nothing_is_lost(runs):
    con = duckdb.connect(str(runs.db), read_only=True)
    try:
        quarantined = con.execute(
            "select reason, count(*) from quarantine.quarantined_cost_rows "
            "where provider = 'gcp_vertex_ai' group by 1"
        ).fetchall()
        raw_lines = con.execute("select count(*) from raw_gcp_vertex_ai.billing_export").fetchone()
        raw_credits = con.execute(
            "select count(*) from raw_gcp_vertex_ai.billing_export_credits"
        ).fetchone()
        fact_rows = con.execute(
            "select sum(x_source_row_count) from marts.fct_cost_and_usage "
            "where x_provider = 'gcp_vertex_ai'"
        ).fetchone()
        malformed = con.execute(
            "select count(*) from raw_gcp_vertex_ai.billing_export "
            "where _malformed_line is not null"
        ).fetchone()
    finally:
        con.close()
    reasons = dict(quarantined)
    # the truncated line and the line without a cost (and that line's credits)
    assert sum(reasons.values()) >= 2
    assert all("amount" in reason for reason in reasons)
    assert malformed[0] == 1
    # every raw line and credit is either costed in the fact or quarantined
    assert raw_lines[0] + raw_credits[0] == fact_rows[0] + sum(reasons.values())
    # the day with the bad lines still equals Google's bill of its good lines
    day = (PROVIDER, str(MALFORMED))
    assert runs.second_fact[day].quantize(CENT) == runs.second_truth[day].quantize(CENT)


def test_incremental_run_reads_only_changed_or_recent_day_folders(runs):
    days = list_export_days(str(runs.exports))
    assert [d.day for d in days] == [START + dt.timedelta(days=i) for i in range(DAYS)]
    seen = {d.day.isoformat(): d.fingerprint for d in days}
    seen[str(REEXPORTED)] = "an older export"
    recent = LAST - dt.timedelta(days=3)
    chosen = [d.day for d in days_to_read(days, recent, LAST, seen, explicit_start=False)]
    assert chosen == [REEXPORTED] + [recent + dt.timedelta(days=i) for i in range(4)]
    # an explicit range reads exactly that range, changed or not
    chosen = [d.day for d in days_to_read(days, START, START, seen, explicit_start=True)]
    assert chosen == [START]


def test_export_rows_look_like_bigquerys_json_export():
    """The simulator writes what `EXPORT DATA ... FORMAT JSON` writes: nested records, negative
    credits, hourly UTC windows, and an invoice month in US Pacific time (the first UTC hours
    of March are February's invoice)."""
    world = World(seed=SEED, days=2, start=dt.date(2026, 2, 28), providers=(PROVIDER,))
    rows = [json.loads(line) for line in gcp_vertex_ai.day_lines(world, 1)]  # 1 March
    assert {r["service"]["description"] for r in rows} == {"Vertex AI"}
    months = {(r["usage_start_time"][11:13], r["invoice"]["month"]) for r in rows}
    assert ("00", "202602") in months and ("07", "202602") in months
    assert ("08", "202603") in months and ("23", "202603") in months
    assert all(r["usage_start_time"].endswith(" UTC") for r in rows)
    credits = [c for r in rows for c in r["credits"]]
    assert credits and all(c["amount"] < 0 for c in credits)
    assert {c["type"] for c in credits} <= {"FREE_TIER", "PROMOTION"}
    assert all(r["usage"]["unit"] == "count" and r["cost"] > 0 for r in rows)
