"""Azure OpenAI end to end: the simulator's Cost Management Query API (real HTTP) →
`tokenledger run` (real dlt, real dbt) → DuckDB marts, billed in EUR.

What a user would notice: the fact equals Azure's bill in the billing currency (EUR) to the
cent per day; the reporting-currency amount is that bill × the seed's latest EUR→USD fixing
on or before the day (a weekend uses Friday's) with rate and rate date recorded; a load under
a 429 storm that waits as long as Azure's longest `x-ms-ratelimit-...-retry-after` header says,
through many `nextLink` pages, loses and duplicates nothing; a restated recent day is
replaced by the next incremental load. One module-scoped pipeline run serves every test.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import pytest

from ingestion.azure_openai import (
    QUERIES,
    azure_retry_after,
    fetch_query,
    query_body,
    query_windows,
)
from ingestion.pipeline import PROVIDERS, run_ingestion
from simulator import azure_openai
from simulator.server import serve
from simulator.world import World
from tokenledger.cli import main
from tokenledger.demo import compare_to_the_cent

PROVIDER = "azure_openai"
SEED, DAYS = 31, 14
START = dt.date(2026, 3, 2)  # a Monday: days 5-6 and 12-13 are weekends
LAST = START + dt.timedelta(days=DAYS - 1)
RESTATED = LAST - dt.timedelta(days=1)
PAGE_ROWS = 40
CENT = Decimal("0.01")
PROJECT = Path(__file__).resolve().parents[1]


@dataclass
class AzureRun:
    world: World
    db: Path
    fact_rows: list = field(default_factory=list)
    truth: dict = field(default_factory=dict)
    rate_limited: int = 0
    early_retries: int = 0
    queries: int = 0
    restated_staging: dict = field(default_factory=dict)
    restated_truth: dict = field(default_factory=dict)
    restated_raw_rows: int = 0
    raw_rows_before: int = 0


def _truth(world: World) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for row in world.truth_billed_cost(PROVIDER):
        assert row["billing_currency"] == "EUR"
        out[str(row["date"])] += row["billed_cost"]
    return dict(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> AzureRun:
    """One pipeline run through a 429 storm and small pages; then Azure restates a recent day
    and an incremental load (no --start) re-reads the trailing window."""
    tmp = tmp_path_factory.mktemp("azure")
    world = World(seed=SEED, days=DAYS, start=START, providers=(PROVIDER,))
    state = AzureRun(world=world, db=tmp / "wh.duckdb")
    billing = azure_openai.billing_of(world)
    server = serve(world)
    try:
        with pytest.MonkeyPatch.context() as mp:
            for _, env in PROVIDERS.values():  # only this provider is configured
                mp.delenv(env, raising=False)
            mp.setattr(azure_openai, "PAGE_ROWS", PAGE_ROWS)
            mp.setenv("AZURE_COST_ACCESS_TOKEN", azure_openai.SIM_TOKEN)
            mp.setenv(
                "AZURE_COST_SCOPE",
                f"providers/Microsoft.Billing/billingAccounts/{billing.billing_account_id}",
            )
            mp.setenv("AZURE_MANAGEMENT_URL", server.url)
            mp.setenv("TOKENLEDGER_WAREHOUSE", "duckdb")
            mp.setenv("TOKENLEDGER_DUCKDB", str(state.db))
            # a storm: every 3rd call throttled (ms headers, longest 2 s), every 5th a 503,
            # every 7th a truncated body
            server.control(
                "/_sim/faults",
                {
                    "rate_limit_every": 3,
                    "retry_after": 2,
                    "server_error_every": 5,
                    "malformed_every": 7,
                },
            )
            assert main(["run", "--start", str(START), "--end", str(LAST), "--quiet"]) == 0
            server.control("/_sim/faults", {})
            state.rate_limited = billing.rate_limited
            state.early_retries = billing.early_retries
            state.queries = billing.queries
            state.truth = _truth(world)
            con = duckdb.connect(str(state.db), read_only=True)
            try:
                state.fact_rows = con.execute(
                    "select cast(charge_period_start as date)::varchar, billing_currency, "
                    "billed_cost::varchar, x_reporting_currency, "
                    "x_billed_cost_reporting::varchar, x_exchange_rate::varchar, "
                    "x_exchange_rate_date::varchar, region_id, resource_id "
                    "from marts.fct_cost_and_usage where x_provider = 'azure_openai'"
                ).fetchall()
                state.raw_rows_before = con.execute(
                    "select count(*) from raw_azure_openai.cost_by_meter"
                ).fetchone()[0]
            finally:
                con.close()

            # Azure settles cost for ~72 h: a recent day changes; the next incremental load
            # (real dlt) re-reads the trailing window and the staging view shows the new day
            azure_openai.restate_day(world, RESTATED, 1.3)
            state.restated_truth = _truth(world)
            run_ingestion(None, LAST, state.db, providers=[PROVIDER])
            con = duckdb.connect(str(state.db), read_only=True)
            try:
                state.restated_staging = {
                    d: Decimal(v)
                    for d, v in con.execute(
                        "select bucket_date::varchar, sum(billed_cost)::varchar "
                        "from staging.stg_azure_openai__costs group by 1"
                    ).fetchall()
                }
                state.restated_raw_rows = con.execute(
                    "select count(*) from raw_azure_openai.cost_by_meter"
                ).fetchone()[0]
            finally:
                con.close()
    finally:
        server.shutdown()
    return state


def _fact_by_day(run: AzureRun, column: int) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in run.fact_rows:
        out[(PROVIDER, row[0])] += Decimal(row[column])
    return dict(out)


def _eur_usd_fixings() -> list[tuple[dt.date, Decimal]]:
    with (PROJECT / "seeds" / "exchange_rates.csv").open() as fh:
        rows = [
            (dt.date.fromisoformat(r["rate_date"]), Decimal(r["rate"]))
            for r in csv.DictReader(fh)
            if r["from_currency"] == "EUR" and r["to_currency"] == "USD"
        ]
    return sorted(rows)


def test_fact_equals_the_eur_bill_to_the_cent_every_day(run):
    assert {row[1] for row in run.fact_rows} == {"EUR"}
    fact = _fact_by_day(run, 2)
    truth = {(PROVIDER, d): v for d, v in run.truth.items()}
    assert compare_to_the_cent(fact, truth) == []
    assert len(fact) == DAYS


def test_reporting_currency_uses_the_latest_fixing_on_or_before_the_day(run):
    fixings = _eur_usd_fixings()
    weekend_days = 0
    for day, truth_eur in run.truth.items():
        d = dt.date.fromisoformat(day)
        rate_date, rate = max((f for f in fixings if f[0] <= d), key=lambda f: f[0])
        rows = [r for r in run.fact_rows if r[0] == day]
        assert {r[3] for r in rows} == {"USD"}
        assert {r[6] for r in rows} == {rate_date.isoformat()}
        assert {Decimal(r[5]) for r in rows} == {rate}
        reported = sum((Decimal(r[4]) for r in rows), Decimal(0))
        assert reported.quantize(CENT) == (truth_eur * rate).quantize(CENT)
        if d.weekday() >= 5:  # no fixing on a weekend: Friday's rate, Friday's date
            weekend_days += 1
            assert rate_date == d - dt.timedelta(days=d.weekday() - 4)
    assert weekend_days == 4


def test_storm_of_429s_is_waited_out_as_long_as_azure_asks(run):
    assert run.rate_limited >= 2
    # a retry before the longest x-ms-ratelimit-*-retry-after would have been refused again
    assert run.early_retries == 0


def test_every_nextlink_page_is_followed_once(run):
    # every row Azure holds landed once, though it took many pages to read them
    assert run.raw_rows_before == len(azure_openai.billing_of(run.world).rows)
    pages = -(-run.raw_rows_before // PAGE_ROWS)
    assert pages > 5
    assert run.queries >= pages + run.rate_limited


def test_a_restated_recent_day_replaces_its_rows(run):
    day = str(RESTATED)
    assert run.restated_truth[day] > run.truth[day]
    assert run.restated_raw_rows == run.raw_rows_before  # replaced, not appended
    assert run.restated_staging[day] == run.restated_truth[day]
    untouched = str(START)
    assert run.restated_staging[untouched] == run.truth[untouched]


def test_conformed_region_and_resource_of_each_deployment(run):
    regions = {row[7] for row in run.fact_rows}
    assert regions == {"swedencentral", "eastus2", "westeurope"}
    assert all(
        row[8].startswith("/subscriptions/") and "/accounts/aoai-" in row[8]
        for row in run.fact_rows
    )


def test_longest_ms_retry_after_header_wins():
    prefix = "x-ms-ratelimit-microsoft.costmanagement-"
    headers = {
        f"{prefix}qpu-retry-after": "1",
        f"{prefix}entity-retry-after": "7",
        f"{prefix}tenant-retry-after": "3",
        "Retry-After": "60",
    }
    assert azure_retry_after(headers) == 7.0
    assert azure_retry_after({"Retry-After": "5"}) == 5.0
    assert azure_retry_after({}) is None


def test_query_windows_stay_within_a_month_and_cover_every_day():
    first, last = dt.date(2026, 1, 1), dt.date(2026, 3, 15)
    windows = list(query_windows(first, last))
    assert windows[0][0] == first and windows[-1][1] == last
    assert all((b - a).days < 31 for a, b in windows)
    assert all(windows[i][1] + dt.timedelta(days=1) == windows[i + 1][0] for i in range(2))


def test_simulator_refuses_a_nextlink_posted_with_another_body(monkeypatch):
    monkeypatch.setattr(azure_openai, "PAGE_ROWS", PAGE_ROWS)
    world = World(seed=SEED, days=DAYS, start=START, providers=(PROVIDER,))
    billing = azure_openai.billing_of(world)
    server = serve(world)
    try:
        scope = f"providers/Microsoft.Billing/billingAccounts/{billing.billing_account_id}"
        url = (
            f"{server.url}/{scope}/providers/Microsoft.CostManagement/query?api-version=2023-11-01"
        )
        headers = {"Authorization": f"Bearer {azure_openai.SIM_TOKEN}"}
        body = query_body(QUERIES[0], START, LAST)
        first = httpx.post(url, json=body, headers=headers, timeout=30).json()
        columns = [c["name"] for c in first["properties"]["columns"]]
        assert columns[:3] == ["Cost", "UsageQuantity", "UsageDate"]
        assert isinstance(first["properties"]["rows"][0][2], int)  # 20260302
        next_link = first["properties"]["nextLink"]
        assert "$skiptoken=" in next_link
        other = query_body(QUERIES[0], START, START)
        refused = httpx.post(next_link, json=other, headers=headers, timeout=30)
        assert refused.status_code == 400 and "skiptoken" in refused.json()["error"]["message"]
        unauthorised = httpx.post(url, json=body, timeout=30)
        assert unauthorised.status_code == 401
        # a period without cost: 204 No Content, which the source reads as no rows
        empty = query_body(QUERIES[0], START - dt.timedelta(days=60), START - dt.timedelta(days=40))
        assert httpx.post(url, json=empty, headers=headers, timeout=30).status_code == 204
        with httpx.Client(base_url=server.url, headers=headers) as client:
            tables = list(
                fetch_query(
                    client,
                    scope,
                    QUERIES[0],
                    START - dt.timedelta(days=60),
                    START - dt.timedelta(days=40),
                )
            )
        assert tables == []
    finally:
        server.shutdown()
