"""AWS Bedrock end to end: the simulator's Cost Explorer (real HTTP, JSON 1.1) and its CUR 2.0
export in an S3 bucket on moto's server (loopback) → `tokenledger run` (boto3, real dlt, real
dbt) → DuckDB.

What a user would notice: the fact equals the simulated AWS bill to the cent per day (credits,
refund and tax included, other AWS services left out); usage types parse to the right model,
token kind and region; Cost Explorer agrees with the CUR; a throttling storm and pagination
lose nothing; a re-delivered billing period replaces the old one; a delivery cut off mid-load
is never read; a malformed line item is quarantined with its reason.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingestion.aws_bedrock import (
    aws_client,
    fetch_cost_explorer,
    map_to_json,
)
from ingestion.common import ProviderAPIError, RetryPolicy
from simulator import aws_bedrock as sim_bedrock
from simulator.server import serve
from simulator.world import World
from tokenledger.cli import main
from tokenledger.demo import (
    SIM_AWS_SECRET_ACCESS_KEY,
    aws_bedrock_env,
    compare_to_the_cent,
    fact_cost_by_provider_day,
    truth_cost_by_provider_day,
)

SEED, DAYS = 5, 21
PROVIDERS = ("openai", "anthropic", "aws_bedrock")
FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, days=DAYS, providers=PROVIDERS)


@pytest.fixture(scope="module")
def aws(world, tmp_path_factory):
    """The simulator (Cost Explorer) and moto's S3 with the CUR export, env pointed at both.
    Only AWS is configured: OpenAI and Anthropic have their own end-to-end tests."""
    server = serve(world)
    bucket = sim_bedrock.CurBucket(world).start()
    db = tmp_path_factory.mktemp("bedrock") / "wh.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("OPENAI_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY"):
            mp.delenv(name, raising=False)
        for name, value in aws_bedrock_env(server, bucket).items():
            mp.setenv(name, value)
        mp.setenv("TOKENLEDGER_DUCKDB", str(db))
        yield server, bucket, db
    bucket.stop()
    server.shutdown()


def _run(world: World) -> int:
    last = world.start + dt.timedelta(days=world.days - 1)
    return main(["run", "--start", str(world.start), "--end", str(last), "--quiet"])


def _bedrock_truth(world: World) -> dict[tuple[str, str], Decimal]:
    return truth_cost_by_provider_day(world.truth_billed_cost(provider="aws_bedrock"))


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def first_run(world, aws):
    server, bucket, db = aws
    assert _run(world) == 0
    return db


def test_fact_matches_the_aws_bill_to_the_cent(world, first_run):
    fact = fact_cost_by_provider_day(first_run)
    assert compare_to_the_cent(fact, _bedrock_truth(world)) == []
    assert {p for p, _ in fact} == {"aws_bedrock"}
    assert len(fact) == DAYS
    # credits, the refund and tax are in the fact with their sign; S3 spend is not
    rows = dict(
        _query(
            first_run,
            "select charge_category, sum(billed_cost)::varchar from marts.fct_cost_and_usage "
            "where x_provider = 'aws_bedrock' group by 1",
        )
    )
    assert Decimal(rows["Credit"]) < 0 and Decimal(rows["Tax"]) > 0
    assert Decimal(rows["Usage"]) > 0
    products = _query(
        first_run, "select distinct line_item_product_code from raw_aws_bedrock.cur_line_items"
    )
    assert products == [("AmazonBedrock",)]


def test_usage_types_parse_to_model_publisher_token_kind_and_region(world, first_run):
    b = sim_bedrock.bill(world)
    expected = {}
    for _team, _acct, _principal, _resource, _tags, model, region, _base in b.streams:
        for kind, token_type in sim_bedrock.KINDS.items():
            expected[sim_bedrock.usage_type(region, model, kind)] = (model, token_type, region)
    parsed = _query(
        first_run,
        "select distinct usage_type, model, token_type, region_id "
        "from staging.stg_aws_bedrock__cur_line_items where usage_type is not null",
    )
    assert parsed, "no usage types staged"
    for usage_type, model, token_type, region in parsed:
        assert expected[usage_type] == (model, token_type, region), usage_type
    # FOCUS PublisherName: who made the model AWS resells, not AWS
    publishers = _query(
        first_run,
        "select distinct x_model, publisher_name from marts.fct_cost_and_usage "
        "where x_provider = 'aws_bedrock' and x_model is not null",
    )
    assert publishers
    for model, publisher in publishers:
        assert publisher == sim_bedrock.MODELS[model][0], model


def test_tags_principals_and_regions_reach_the_fact(world, first_run):
    rows = _query(
        first_run,
        "select x_tags, x_principal_id, resource_id, region_id, billed_cost "
        "from marts.fct_cost_and_usage where x_provider = 'aws_bedrock' "
        "and charge_category = 'Usage'",
    )
    tagged = [r for r in rows if r[0] is not None]
    assert tagged and len(tagged) < len(rows)  # untagged spend is kept, with null tags
    assert {json.loads(r[0])["user_team"] for r in tagged} == set(sim_bedrock.TAGGED_TEAMS)
    assert all(r[1].startswith("arn:aws:iam::") for r in rows)
    assert all(r[2].startswith("arn:aws:bedrock:") for r in tagged)
    assert {r[3] for r in rows} == {s[6] for s in sim_bedrock.bill(world).streams}


def test_cost_explorer_agrees_with_the_cur_per_day(world, first_run):
    ce = dict(
        _query(
            first_run,
            "select charge_date::varchar, sum(billed_cost)::varchar "
            "from staging.stg_aws_bedrock__cost_explorer group by 1",
        )
    )
    cur = _bedrock_truth(world)
    assert len(ce) == DAYS
    assert {("aws_bedrock", d): Decimal(v) for d, v in ce.items()} == cur
    estimated = _query(
        first_run,
        "select min(charge_date)::varchar from staging.stg_aws_bedrock__cost_explorer "
        "where is_estimated",
    )[0][0]
    last = world.start + dt.timedelta(days=DAYS - 1)
    assert estimated == str(max(world.start, last.replace(day=1)))


def _ce_rows(tables: list[pa.Table]) -> list[tuple]:
    cols = ["time_period_start", "usage_type", "tag", "unblended_cost__amount"]
    return sorted(tuple(r[c] for c in cols) for t in tables for r in t.select(cols).to_pylist())


def test_cost_explorer_pagination_and_throttling_storm_lose_nothing(
    world, aws, monkeypatch, caplog
):
    server, _bucket, _db = aws
    last = world.start + dt.timedelta(days=DAYS - 1)
    clean = list(fetch_cost_explorer(aws_client("ce"), world.start, last, "team", FAST))
    assert len(clean) > 5  # NextPageToken followed across many pages
    stormy = serve(world)  # its own fault counters
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", stormy.url)
        stormy.control(
            "/_sim/faults",
            {"rate_limit_every": 2, "server_error_every": 7, "malformed_every": 5},
        )
        noisy = list(fetch_cost_explorer(aws_client("ce"), world.start, last, "team", FAST))
        assert _ce_rows(noisy) == _ce_rows(clean)
        # every other request was throttled: at least one failed attempt per page
        assert stormy.state.requests >= 2 * len(clean) - 1
        assert "LimitExceededException" in caplog.text

        stormy.control("/_sim/faults", {"rate_limit_every": 1})
        with pytest.raises(ProviderAPIError) as failed:
            list(fetch_cost_explorer(aws_client("ce"), world.start, last, "team", FAST))
        assert "LimitExceededException" in str(failed.value)
        assert SIM_AWS_SECRET_ACCESS_KEY not in str(failed.value) + caplog.text
    finally:
        stormy.shutdown()


def test_map_columns_become_sorted_json_text():
    maps = pa.array(
        [[("user_team", "search"), ("user_env", 'p"rod')], [], None, [("a", None)]],
        pa.map_(pa.string(), pa.string()),
    )
    out = map_to_json(maps).to_pylist()
    assert out[0] == '{"user_env":"p\\"rod","user_team":"search"}'
    assert json.loads(out[0]) == {"user_env": 'p"rod', "user_team": "search"}
    assert out[1] is None and out[2] is None
    assert json.loads(out[3]) == {"a": None}


def _inject_cut_off_delivery(db: Path) -> str:
    """The state a crash mid-load leaves: rows of a delivery under a load id dlt never marked
    complete (no `_dlt_loads` row), here half the lines at ten times their cost. Returns
    that load id (later than the last completed load, earlier than the next run's)."""
    con = duckdb.connect(str(db))
    try:
        current = con.execute(
            "select max(_dlt_load_id) from raw_aws_bedrock.cur_line_items"
        ).fetchone()[0]
        partial = f"{float(current) + 1:.6f}"
        con.execute(
            "insert into raw_aws_bedrock.cur_line_items by name "
            "select * replace (line_item_unblended_cost * 10 as line_item_unblended_cost, "
            f"'{partial}' as _dlt_load_id) from raw_aws_bedrock.cur_line_items "
            "where _source_row_number % 2 = 0"
        )
        complete = con.execute(
            "select count(*) from raw_aws_bedrock._dlt_loads where load_id = ?", [partial]
        ).fetchone()[0]
    finally:
        con.close()
    assert complete == 0
    return partial


def test_redelivered_period_replaces_the_old_and_bad_lines_are_quarantined(world, aws, first_run):
    """Also: a delivery cut off mid-load is never read, and the next run clears it."""
    _server, bucket, db = aws
    before = fact_cost_by_provider_day(db)
    staged = "select sum(billed_cost) from staging.stg_aws_bedrock__cur_line_items"
    staged_before = _query(db, staged)[0][0]
    partial = _inject_cut_off_delivery(db)
    assert _query(db, staged)[0][0] == staged_before  # only completed deliveries are read
    restated = world.start + dt.timedelta(days=DAYS - 3)
    bad_day = world.start + dt.timedelta(days=DAYS - 2)
    sim_bedrock.restate_day(world, restated, 1.25)
    sim_bedrock.inject_bad_line(world, bad_day, "null_cost")
    sim_bedrock.inject_bad_line(world, bad_day, "unknown_usage_type")
    written = bucket.publish()
    assert written  # a new execution of the restated period, beside the old one
    period = restated.strftime("%Y-%m")
    keys = [
        o["Key"]
        for o in bucket.client().list_objects_v2(Bucket=bucket.bucket)["Contents"]
        if f"data/BILLING_PERIOD={period}/" in o["Key"]
    ]
    assert len(keys) >= 2  # the stale delivery is still in the bucket

    assert _run(world) == 0
    after = fact_cost_by_provider_day(db)
    assert compare_to_the_cent(after, _bedrock_truth(world)) == []
    key = ("aws_bedrock", str(restated))
    assert after[key] > before[key]
    untouched = ("aws_bedrock", str(world.start))
    assert after[untouched] == before[untouched]

    quarantined = _query(
        db,
        "select reason from quarantine.quarantined_cost_rows where provider = 'aws_bedrock'",
    )
    assert len(quarantined) == 1 and "amount" in quarantined[0][0]
    unknown = _query(
        db,
        "select sum(billed_cost) from marts.fct_cost_and_usage "
        "where x_provider = 'aws_bedrock' and x_token_type = 'unknown' "
        f"and charge_period_start = '{bad_day}'",
    )
    assert unknown[0][0] is not None and unknown[0][0] > Decimal("1.2")
    files = _query(
        db,
        "select count(distinct _source_file) from raw_aws_bedrock.cur_line_items "
        f"where _billing_period = '{period}'",
    )
    assert files == [(1,)]
    left = _query(
        db,
        f"select count(*) from raw_aws_bedrock.cur_line_items where _dlt_load_id = '{partial}'",
    )
    assert left == [(0,)]  # the cut-off delivery was retired by the completed one
    loads = _query(
        db,
        "select _billing_period, count(distinct _dlt_load_id) "
        "from raw_aws_bedrock.cur_line_items group by 1",
    )
    assert loads and all(n == 1 for _, n in loads)  # one delivery per period remains

