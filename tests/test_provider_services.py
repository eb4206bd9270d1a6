"""OpenAI's other metered services and Anthropic's tool, priority and long-context charges.

Simulator (real HTTP) → dlt → dbt → marts. What a user would notice: images, audio, vector
storage, file search, web search, code interpreter and Anthropic code execution reach the cost
fact to the cent per provider, day and token type; their usage lands in the right units;
Priority Tier usage is visible but not billed (the cost report excludes it); a malformed line
is quarantined, not lost; paging, 429 storms and restatements of the new endpoints leave
exactly the served numbers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingestion import openai as openai_source
from ingestion.pipeline import run_ingestion
from simulator.server import serve
from simulator.world import GIB, OPENAI_SERVICE_LINES, World
from tokenledger.cli import main
from tokenledger.demo import compare_to_the_cent

SEED, DAYS = 5, 14
SERVICE_TYPES = {tt for _, tt, _, _ in OPENAI_SERVICE_LINES.values()} | {"code_execution"}
NEW_USAGE = (
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "moderations",
    "vector_stores",
    "code_interpreter_sessions",
    "file_search_calls",
    "web_search_calls",
)
CENT = Decimal("0.01")


def _days(world: World) -> tuple[date, date]:
    return world.start, world.end - timedelta(days=1)


def _truth_by(world: World, *keys: str) -> dict[tuple, Decimal]:
    out: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in world.truth_billed_cost():
        out[tuple(str(row[k]) for k in keys)] += row["billed_cost"]
    return dict(out)


# ----------------------------------------------------------------------------- whole pipeline
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One `tokenledger run` over a 14-day world with a malformed (amount-less) line on a new
    OpenAI service and on Anthropic code execution; yields (world, duckdb path)."""
    world = World(seed=SEED, days=DAYS)
    bad_day = world.start + timedelta(days=4)
    world.inject("missing_field", "openai", bad_day, label="dall-e-3, images")
    world.inject("missing_field", "anthropic", bad_day, label="Code Execution Usage")
    server = serve(world)
    db = tmp_path_factory.mktemp("services") / "wh.duckdb"
    first, last = _days(world)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_ADMIN_KEY", "sk-admin-services")
        mp.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        mp.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-services")
        mp.setenv("ANTHROPIC_BASE_URL", server.url)
        mp.setenv("TOKENLEDGER_DUCKDB", str(db))
        try:
            assert main(["run", "--start", str(first), "--end", str(last), "--quiet"]) == 0
        finally:
            server.shutdown()
    return world, db


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_fact_equals_truth_per_provider_day_and_token_type(built):
    world, db = built
    fact = {
        (p, d, t): Decimal(c)
        for p, d, t, c in _query(
            db,
            "select x_provider, charge_period_start::date::varchar, x_token_type, "
            "sum(billed_cost)::varchar from marts.fct_cost_and_usage group by all",
        )
    }
    truth = _truth_by(world, "provider", "date", "token_type")
    assert compare_to_the_cent(fact, truth) == []
    # every new kind of charge is there, every day, for the provider that bills it
    new = {(p, t) for p, _, t in fact if t in SERVICE_TYPES}
    assert new == {("openai", t) for t in SERVICE_TYPES - {"code_execution"}} | {
        ("anthropic", "code_execution"),
        ("anthropic", "web_search"),
    }
    for provider, token_type in new:
        days = {d for p, d, t in fact if (p, t) == (provider, token_type)}
        assert len(days) == DAYS, (provider, token_type)


def test_service_lines_carry_their_units_and_quantities(built):
    world, db = built
    rows = _query(
        db,
        "select x_token_type, consumed_unit, sum(consumed_quantity)::double, count(*) "
        "from marts.fct_cost_and_usage where x_provider = 'openai' group by 1, 2",
    )
    units = {t: u for t, u, _, _ in rows}
    assert {t: units[t] for t in SERVICE_TYPES - {"code_execution"}} == {
        "image": "Images",
        "characters": "Characters",
        "audio_seconds": "Seconds",
        "vector_store_gb_day": "GiB-Days",
        "file_search_call": "Requests",
        "web_search": "Requests",
        "code_interpreter_session": "Sessions",
    }
    qty = {t: q for t, _, q, _ in rows}
    # billed quantities equal metered usage: images, characters, seconds, GiB-days, calls
    images = world.openai_images.frame["images"].sum()
    assert qty["image"] == images  # the amount-less injected line is quarantined
    assert qty["characters"] == world.openai_audio_speeches.frame["characters"].sum()
    seconds = world.openai_audio_transcriptions.frame["seconds"].sum()
    assert qty["audio_seconds"] == pytest.approx(seconds, abs=DAYS * 4 * 0.001)
    gib_days = world.openai_vector_stores.frame["usage_bytes"].sum() / GIB
    assert qty["vector_store_gb_day"] == pytest.approx(gib_days, rel=1e-6)
    assert qty["file_search_call"] == world.openai_file_search_calls.frame["num_requests"].sum()
    assert qty["web_search"] == world.openai_web_search_calls.frame["num_requests"].sum()
    sessions = world.openai_code_interpreter_sessions.frame["num_sessions"].sum()
    assert qty["code_interpreter_session"] == sessions


def test_usage_of_every_endpoint_lands_in_conformed_units(built):
    world, db = built
    rows = dict(
        (e, (t, u, Decimal(q)))
        for e, t, u, q in _query(
            db,
            "select usage_endpoint, any_value(token_type), any_value(consumed_unit), "
            "sum(consumed_quantity)::varchar from staging.stg_openai__usage_services "
            "group by 1",
        )
    )
    assert set(rows) == set(NEW_USAGE)
    assert {e: t for e, (t, _, _) in rows.items()} == {
        "images": "image",
        "audio_speeches": "characters",
        "audio_transcriptions": "audio_seconds",
        "moderations": "moderation",
        "vector_stores": "vector_store_gb_day",
        "code_interpreter_sessions": "code_interpreter_session",
        "file_search_calls": "file_search_call",
        "web_search_calls": "web_search",
    }
    served = {
        "images": world.openai_images.frame["images"].sum(),
        "moderations": world.openai_moderations.frame["num_model_requests"].sum(),
        "web_search_calls": world.openai_web_search_calls.frame["num_requests"].sum(),
    }
    for endpoint, total in served.items():
        assert rows[endpoint][2] == Decimal(int(total)), endpoint
    # moderations are free: usage, but no cost line
    assert _query(db, "select count(*) from marts.fct_cost_and_usage "
                      "where x_token_type = 'moderation'") == [(0,)]  # fmt: skip


def test_priority_tier_is_metered_not_billed_and_long_context_is_billed(built):
    world, db = built
    f = world.anthropic_usage.frame
    tier = world.anthropic_usage.vocab["service_tier"]
    priority = f[f["service_tier"] == tier.index("priority")]
    expected = int(priority["uncached_input_tokens"].sum() + priority["output_tokens"].sum())
    landed = _query(
        db,
        "select sum(token_quantity) from staging.stg_anthropic__usage_messages "
        "where service_tier = 'priority' and token_type in ('input', 'output')",
    )[0][0]
    assert expected > 0 and landed == expected
    assert _query(db, "select count(*) from marts.fct_cost_and_usage "
                      "where x_service_tier = 'priority'") == [(0,)]  # fmt: skip
    # two workspaces bill Sonnet at the 1M-context price
    long_ctx = _query(
        db,
        "select count(distinct sub_account_id), sum(billed_cost) from staging.stg_anthropic__costs"
        " where context_window = '200k-1M'",
    )[0]
    assert long_ctx[0] == 2 and long_ctx[1] > 0


def test_malformed_service_lines_are_quarantined_with_a_reason(built):
    world, db = built
    rows = _query(
        db,
        "select provider, raw_description, reason from quarantine.quarantined_cost_rows",
    )
    assert sorted((p, d) for p, d, _ in rows) == [
        ("anthropic", "Code Execution Usage"),
        ("openai", "dall-e-3, images"),
    ]
    assert all("amount" in reason for _, _, reason in rows)


# ----------------------------------------------------------------------------- ingestion
@pytest.fixture()
def sim(monkeypatch):
    world = World(seed=SEED, days=DAYS)
    server = serve(world)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-services")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    yield server
    server.shutdown()


def _raw(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [f"usage_{e}" for e in NEW_USAGE] + ["costs"]
        return {
            # dlt's load id says which load brought a row: it differs between runs by design
            t: con.execute(
                f"select * exclude (_dlt_load_id) from raw_openai.{t} order by _row_key"
            ).fetchall()
            for t in tables
        }


def _served_cost(db: Path) -> dict[tuple[str, str], Decimal]:
    return {
        ("openai", d): Decimal(v)
        for d, v in _query(
            db,
            "select _bucket_date::varchar, sum(amount__value::decimal(38, 9))::varchar "
            "from raw_openai.costs group by 1",
        )
    }


def test_paging_with_empty_pages_and_a_short_last_page(sim):
    """Four buckets a page from ten days before the world: the first pages are all empty
    buckets, the last one is short; every endpoint still yields each row exactly once."""
    world = sim.world
    first, last = _days(world)
    early = first - timedelta(days=10)  # 24 days: pages of 4, 4, 4 ... the last holds 4
    ends = [last, last - timedelta(days=1)]  # 23 days: the last page holds 3
    with openai_source._client("sk-admin-services", f"{sim.url}/v1") as client:
        for endpoint in openai_source.ENDPOINTS:
            whole = pa.concat_tables(
                list(openai_source.fetch_endpoint(client, endpoint, first, last))
            )
            paged_ep = dataclasses.replace(endpoint, limit=4)
            for end in ends:
                pages = list(openai_source.fetch_endpoint(client, paged_ep, early, end))
                got = pa.concat_tables(pages)
                keep = [d <= end for d in whole["_bucket_date"].to_pylist()]
                want = whole.filter(pa.array(keep))
                assert sorted(got["_row_key"].to_pylist()) == sorted(
                    want["_row_key"].to_pylist()
                ), endpoint.resource
                assert got.num_rows == len(set(got["_row_key"].to_pylist()))
                # ten empty days in front: the first two pages carry nothing
                assert len(pages) == -(-((end - first).days + 1 - 2) // 4) + 1


def test_rate_limit_storm_on_the_new_endpoints_lands_the_same_rows(sim, tmp_path, caplog):
    first, last = _days(sim.world)
    clean, stormy = tmp_path / "clean.duckdb", tmp_path / "stormy" / "wh.duckdb"
    run_ingestion(first, last, clean, providers=["openai"])
    sim.control("/_sim/faults", {"rate_limit_every": 2, "retry_after": 0})
    with caplog.at_level(logging.WARNING, logger="ingestion"):
        run_ingestion(first, last, stormy, providers=["openai"])
    for endpoint in NEW_USAGE:
        assert f"/organization/usage/{endpoint}: HTTP 429" in caplog.text, endpoint
    assert _raw(stormy) == _raw(clean)
    truth = {k: v for k, v in _truth_by(sim.world, "provider", "date").items() if k[0] == "openai"}
    assert compare_to_the_cent(_served_cost(stormy), truth) == []


def test_restated_day_of_the_new_services_is_replaced_not_added(sim, tmp_path):
    world = sim.world
    first, last = _days(world)
    db = tmp_path / "wh.duckdb"
    run_ingestion(first, last, db, providers=["openai"])
    day = last - timedelta(days=2)
    before = _query(db, f"select sum(images) from raw_openai.usage_images "
                        f"where _bucket_date = '{day}'")[0][0]  # fmt: skip
    sim.control("/_sim/restate", {"provider": "openai", "date": str(day), "factor": 1.5})
    run_ingestion(day - timedelta(days=1), last, db, providers=["openai"])
    after = _query(db, f"select sum(images) from raw_openai.usage_images "
                       f"where _bucket_date = '{day}'")[0][0]  # fmt: skip
    assert (
        after
        == world.openai_images.day_rows((day - first).days, (day - first).days)["images"].sum()
    )
    assert after > before
    truth = {k: v for k, v in _truth_by(world, "provider", "date").items() if k[0] == "openai"}
    assert compare_to_the_cent(_served_cost(db), truth) == []
    for table in [f"usage_{e}" for e in NEW_USAGE]:
        dupes = _query(db, f"select count(*) - count(distinct _row_key) from raw_openai.{table}")
        assert dupes == [(0,)], table
