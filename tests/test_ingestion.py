"""Ingestion: the dlt sources against the real simulator over HTTP into a tmp DuckDB file.

What a user would notice: the raw tables carry the contract's columns; billed cost lands to the
cent; re-runs, retries and restatements leave the warehouse exactly right; the admin key
never shows up in a log line or a table; an interrupted history resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pytest

from ingestion import common
from ingestion.common import (
    ProviderAPIError,
    RetryPolicy,
    TableSpec,
    buckets_to_arrow,
    fetch_json_page,
    resolve_day_range,
    row_keys,
)
from ingestion.pipeline import configured_sources, run_ingestion

OPENAI_KEY = "sk-admin-TLTEST-7f3a9c2e51d04b8f"
ANTHROPIC_KEY = "sk-ant-admin01-TLTEST-c41d9e0a77b2"

CONTRACT_COLUMNS = {
    "raw_openai.usage_completions": {
        "start_time", "end_time", "project_id", "user_id", "api_key_id", "model", "batch",
        "service_tier", "input_tokens", "output_tokens", "input_cached_tokens",
        "input_cache_write_tokens", "input_audio_tokens", "output_audio_tokens",
        "num_model_requests",
    },
    "raw_openai.usage_embeddings": {
        "start_time", "end_time", "project_id", "user_id", "api_key_id", "model",
        "input_tokens", "num_model_requests",
    },
    # the other usage endpoints (tests/test_provider_services.py checks what they carry)
    **{
        f"raw_openai.usage_{name}": {"start_time", "end_time", *fields}
        for name, fields in (
            ("images", ("project_id", "user_id", "api_key_id", "model", "size", "source",
                        "images", "num_model_requests")),
            ("audio_speeches", ("project_id", "user_id", "api_key_id", "model", "characters",
                                "num_model_requests")),
            ("audio_transcriptions", ("project_id", "user_id", "api_key_id", "model",
                                      "seconds", "num_model_requests")),
            ("moderations", ("project_id", "user_id", "api_key_id", "model", "input_tokens",
                             "num_model_requests")),
            ("vector_stores", ("project_id", "usage_bytes")),
            ("code_interpreter_sessions", ("project_id", "num_sessions")),
            ("file_search_calls", ("project_id", "user_id", "api_key_id", "vector_store_id",
                                   "num_requests")),
            ("web_search_calls", ("project_id", "user_id", "api_key_id", "model",
                                  "context_level", "num_model_requests", "num_requests")),
        )
    },
    "raw_openai.costs": {
        "start_time", "end_time", "amount__value", "amount__currency", "line_item",
        "project_id", "api_key_id", "quantity", "quantity_unit",
    },
    "raw_anthropic.usage_messages": {
        "starting_at", "ending_at", "uncached_input_tokens", "cache_read_input_tokens",
        "cache_creation__ephemeral_5m_input_tokens", "cache_creation__ephemeral_1h_input_tokens",
        "output_tokens", "server_tool_use__web_search_requests", "api_key_id", "workspace_id",
        "model", "service_tier", "context_window",
    },
    "raw_anthropic.cost_report": {
        "starting_at", "ending_at", "amount", "currency", "workspace_id", "description",
        "cost_type", "model", "service_tier", "token_type", "context_window",
    },
}  # fmt: skip
META_COLUMNS = {"_row_key", "_bucket_date", "_billing_account_id", "_dlt_load_id"}
LOAD_ID = "_dlt_load_id"  # which load brought a row: differs between runs by design
TABLES = sorted(CONTRACT_COLUMNS)


# ----------------------------------------------------------------------------- helpers
@pytest.fixture()
def sim(simulator_server, monkeypatch):
    """The simulator with both providers' env vars pointing at it (distinctive test keys)."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{simulator_server.url}/v1")
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", simulator_server.url)
    monkeypatch.delenv("TOKENLEDGER_LOOKBACK_DAYS", raising=False)
    return simulator_server


def control(server, path: str, body: dict) -> None:
    """POST to the simulator's control plane."""
    httpx.post(f"{server.url}/_sim/{path}", json=body, timeout=10).raise_for_status()


def world_days(server) -> tuple[date, date]:
    """The world's first and last UTC day (both included)."""
    return server.world.start, server.world.end - timedelta(days=1)


def ingest(server, db: Path, **kwargs: Any) -> dict:
    """Run the ingestion over the whole world unless start/end are given."""
    first, last = world_days(server)
    kwargs.setdefault("start", first)
    kwargs.setdefault("end", last)
    return run_ingestion(duckdb_path=db, **kwargs)


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every raw table's rows, ordered, for exact comparison."""
    with duckdb.connect(str(db), read_only=True) as con:
        present = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        return {
            t: con.execute(f"select * exclude ({LOAD_ID}) from {t} order by _row_key").fetchall()
            for t in TABLES
            if t in present
        }


def served_cost_by_day(db: Path) -> dict[tuple[str, date], Decimal]:
    """Σ billed cost in the raw tables per provider and UTC day, exactly, in USD."""
    totals: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    with duckdb.connect(str(db), read_only=True) as con:
        for day, value in con.execute(
            "select _bucket_date, amount__value from raw_openai.costs"
        ).fetchall():
            if value is not None:
                totals["openai", day] += Decimal(value)
        for day, value in con.execute(
            "select _bucket_date, amount from raw_anthropic.cost_report"
        ).fetchall():
            if value is not None:
                totals["anthropic", day] += Decimal(value) / 100  # cents
    return dict(totals)


def truth_by_day(world) -> dict[tuple[str, date], Decimal]:
    """The world's billed cost per provider and day."""
    totals: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for row in world.truth_billed_cost():
        day = row["date"] if isinstance(row["date"], date) else date.fromisoformat(row["date"])
        totals[row["provider"], day] += Decimal(row["billed_cost"])
    return dict(totals)


def fast_retries(monkeypatch, attempts: int = 3) -> None:
    """Keep backoff short in tests that exhaust retries (Retry-After is still honoured)."""
    policy = RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.05)
    monkeypatch.setattr(common, "DEFAULT_RETRY_POLICY", policy)


# ----------------------------------------------------------------------------- end to end
def test_rows_land_with_contract_columns_and_cost_matches_truth(sim, tmp_path):
    db = tmp_path / "wh" / "tl.duckdb"
    first, last = world_days(sim)
    bad_day = first + timedelta(days=3)
    for provider in ("openai", "anthropic"):
        for kind in ("unknown_token_type", "missing_field"):
            control(sim, "inject", {"kind": kind, "provider": provider, "date": str(bad_day)})
    seen: list[tuple[str, str, int]] = []

    result = ingest(sim, db, progress=lambda *args: seen.append(args))

    assert set(result["rows"]) == set(TABLES)
    assert all(n > 0 for n in result["rows"].values())
    expected_progress = {(t.split(".")[0].removeprefix("raw_"), t.split(".")[1]) for t in TABLES}
    assert {(p, r) for p, r, _ in seen} == expected_progress
    assert (db.parent / ".dlt_pipelines" / "tokenledger_openai").is_dir()
    with duckdb.connect(str(db), read_only=True) as con:
        for table, expected in CONTRACT_COLUMNS.items():
            schema, name = table.split(".")
            columns = {
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = ? and table_name = ?",
                    [schema, name],
                ).fetchall()
            }
            assert expected | META_COLUMNS <= columns, table
            rows, keys, days = con.execute(
                f"select count(*), count(distinct _row_key), count(distinct _bucket_date)"
                f" from {table}"
            ).fetchone()
            assert rows == keys == result["rows"][table]
            assert days == (last - first).days + 1
        accounts = dict(
            con.execute(
                "select 'openai', any_value(_billing_account_id) from raw_openai.costs union all "
                "select 'anthropic', any_value(_billing_account_id) from raw_anthropic.cost_report"
            ).fetchall()
        )
        # the missing-amount lines land with a null amount (dbt quarantines them)
        null_amounts = con.execute(
            "select (select count(*) from raw_openai.costs where amount__value is null),"
            " (select count(*) from raw_anthropic.cost_report where amount is null)"
        ).fetchone()
        text_types = con.execute(
            "select data_type from information_schema.columns where column_name in"
            " ('amount__value', 'amount')"
        ).fetchall()
    assert accounts == {"openai": sim.world.openai_org_id, "anthropic": sim.world.anthropic_org_id}
    assert null_amounts == (1, 1)
    assert {t for (t,) in text_types} == {"VARCHAR"}
    assert served_cost_by_day(db) == truth_by_day(sim.world)


def test_amount_text_is_exactly_as_served(sim, tmp_path):
    db = tmp_path / "tl.duckdb"
    day = world_days(sim)[1]
    ingest(sim, db, start=day, end=day, providers=["openai"])
    served = httpx.get(
        f"{sim.url}/v1/organization/costs",
        params={"start_time": common.day_start_unix(day), "limit": 1,
                "group_by": ["project_id", "line_item", "api_key_id"]},
        headers={"Authorization": f"Bearer {OPENAI_KEY}"},
    ).text  # fmt: skip
    assert re.search(r'"value":\s*"', served) and re.search(r'"value":\s*[0-9]', served)
    # the JSON token's text, whether the API sent a number or a string
    body = json.loads(served, parse_float=str, parse_int=str)
    values = sorted(r["amount"]["value"] for r in body["data"][0]["results"])
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select amount__value from raw_openai.costs").fetchall()
    landed = sorted(v for (v,) in rows)
    assert landed == values


def test_second_run_changes_nothing(sim, tmp_path):
    db = tmp_path / "tl.duckdb"
    ingest(sim, db)
    before = snapshot(db)
    ingest(sim, db)
    assert snapshot(db) == before


def test_rate_limits_and_server_errors_leave_the_same_warehouse(sim, tmp_path, caplog):
    clean, faulty = tmp_path / "clean.duckdb", tmp_path / "faulty" / "tl.duckdb"
    ingest(sim, clean)
    control(sim, "faults", {"rate_limit_every": 3, "retry_after": 1, "server_error_every": 5})
    with caplog.at_level(logging.WARNING, logger="ingestion"):
        ingest(sim, faulty)
    assert "HTTP 429" in caplog.text and "HTTP 500" in caplog.text
    assert snapshot(faulty) == snapshot(clean)


def test_rerun_after_restatement_corrects_the_day(sim, tmp_path):
    db = tmp_path / "tl.duckdb"
    first, last = world_days(sim)
    ingest(sim, db)
    before = served_cost_by_day(db)
    day = last - timedelta(days=2)
    for provider in ("openai", "anthropic"):
        control(sim, "restate", {"provider": provider, "date": str(day), "factor": 1.25})
    ingest(sim, db, start=day - timedelta(days=1), end=last)
    after = served_cost_by_day(db)
    assert after == truth_by_day(sim.world)
    assert after["openai", day] > before["openai", day]
    assert {k: v for k, v in after.items() if k[1] != day} == {
        k: v for k, v in before.items() if k[1] != day
    }
    with duckdb.connect(str(db), read_only=True) as con:
        dupes = con.execute(
            "select count(*) - count(distinct _row_key) from raw_openai.usage_completions"
        ).fetchone()[0]
    assert dupes == 0


def test_malformed_page_is_retried(sim, tmp_path, caplog):
    clean, retried = tmp_path / "clean.duckdb", tmp_path / "retried.duckdb"
    ingest(sim, clean, providers=["anthropic"])
    control(sim, "faults", {"malformed_every": 2})
    ingest(sim, retried, providers=["anthropic"])
    assert "cost_report: HTTP 200 with malformed JSON (attempt 1/6)" in caplog.text
    assert set(snapshot(retried)) == {"raw_anthropic.usage_messages", "raw_anthropic.cost_report"}
    assert snapshot(retried) == snapshot(clean)


def test_persistently_malformed_page_fails_clearly(sim, tmp_path, monkeypatch):
    fast_retries(monkeypatch)
    control(sim, "faults", {"malformed_every": 1})
    with pytest.raises(ProviderAPIError) as err:
        ingest(sim, tmp_path / "tl.duckdb", providers=["openai"])
    message = str(err.value)
    assert "/organization/usage/completions" in message
    assert "malformed JSON" in message and "3 attempt" in message
    assert OPENAI_KEY not in message


def test_admin_key_never_reaches_logs_or_tables(sim, tmp_path, caplog, capsys, monkeypatch):
    fast_retries(monkeypatch, attempts=6)
    db = tmp_path / "tl.duckdb"
    control(sim, "faults", {"rate_limit_every": 2, "retry_after": 0, "server_error_every": 3})
    with caplog.at_level(logging.DEBUG):
        # everything at DEBUG, including the SDK's and httpx's request logs
        ingest(sim, db)
        # once a source has run, its key is redacted from any log record, whoever logs it
        logging.getLogger("some.library").warning("probe %s", OPENAI_KEY)
        control(sim, "faults", {})
        monkeypatch.setenv("OPENAI_ADMIN_KEY", "not-an-admin-" + OPENAI_KEY)
        with pytest.raises(ProviderAPIError, match="HTTP 401") as err:
            ingest(sim, db, providers=["openai"])
    out, errs = capsys.readouterr()
    texts = [caplog.text, out, errs, str(err.value)]
    assert "probe ***" in caplog.text
    for text in texts:
        assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            dump = json.dumps(con.execute(f'select * from "{schema}"."{table}"').fetchall(),
                              default=str)  # fmt: skip
            assert OPENAI_KEY not in dump and ANTHROPIC_KEY not in dump, table
    for path in (db.parent / ".dlt_pipelines").rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert OPENAI_KEY.encode() not in blob and ANTHROPIC_KEY.encode() not in blob, path


def test_incremental_run_resumes_from_state_with_lookback(sim, tmp_path, monkeypatch):
    db, full = tmp_path / "tl.duckdb", tmp_path / "full.duckdb"
    first, last = world_days(sim)
    stop = last - timedelta(days=6)
    ingest(sim, db, end=stop)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select max(_bucket_date) from raw_openai.costs").fetchone() == (stop,)

    monkeypatch.setenv("TOKENLEDGER_LOOKBACK_DAYS", "2")
    resumed = run_ingestion(None, None, db)  # from state, up to today UTC
    ingest(sim, full)

    assert snapshot(db) == snapshot(full)
    with duckdb.connect(str(full), read_only=True) as con:
        for table in TABLES:
            reread = con.execute(
                f"select count(*) from {table} where _bucket_date >= ?", [stop - timedelta(days=2)]
            ).fetchone()[0]
            assert resumed["rows"][table] == reread, table


# ----------------------------------------------------------------------------- units
def test_sources_build_without_credentials_or_requests(monkeypatch):
    for var in ("OPENAI_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert configured_sources() == {}
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    sources = configured_sources(date(2026, 1, 1), date(2026, 1, 31))
    assert list(sources) == ["anthropic"]
    assert set(sources["anthropic"].resources) == {"usage_messages", "cost_report"}
    assert sources["anthropic"].name == "anthropic"


def test_day_range_resolution():
    today = date(2026, 3, 10)
    assert resolve_day_range(date(2026, 3, 1), date(2026, 3, 5), None, lookback=3, today=today) == (
        date(2026, 3, 1),
        date(2026, 3, 5),
    )
    assert resolve_day_range(None, None, date(2026, 3, 8), lookback=3, today=today) == (
        date(2026, 3, 5),
        today,
    )
    first, last = resolve_day_range(None, None, None, lookback=3, today=today, backfill_days=7)
    assert (first, last) == (date(2026, 3, 4), today)
    with pytest.raises(ValueError):
        resolve_day_range(date(2026, 3, 6), date(2026, 3, 5), None, lookback=3, today=today)


def test_row_keys_keep_duplicate_grain_rows_distinct():
    keys = row_keys([[1, 1, 1, 2], ["a", "a", None, "a"], [None, None, "", None]])
    assert len(set(keys)) == 4
    assert keys == row_keys([[1, 1, 1, 2], ["a", "a", None, "a"], [None, None, "", None]])


def test_buckets_to_arrow_flattens_and_tolerates_drift():
    spec = TableSpec(
        columns={"start_time": pa.int64(), "amount__value": pa.string(), "model": pa.string()},
        grain=("model",),
    )
    buckets = [
        {"start_time": 86400, "end_time": 172800, "results": [
            {"object": "x", "amount": {"value": "0.8958740000000000", "currency": "usd"},
             "model": "m1"},
            {"object": "x", "amount": {"value": 3, "currency": "usd"}, "model": "m2",
             "new_field": 7},
            {"object": "x", "model": "m3"},
        ]},
        {"start_time": 172800, "end_time": 259200, "results": []},
    ]  # fmt: skip
    table = buckets_to_arrow(
        buckets,
        spec,
        bucket_fields=("start_time", "end_time"),
        bucket_day=common.unix_to_day,
        billing_account_id="org-1",
    )
    rows = table.to_pylist()
    assert [r["amount__value"] for r in rows] == ["0.8958740000000000", "3", None]
    assert [r["new_field"] for r in rows] == [None, 7, None]
    assert "object" not in table.column_names
    assert table.schema.field("start_time").type == pa.int64()
    assert {r["_bucket_date"] for r in rows} == {date(1970, 1, 2)}
    assert {r["_billing_account_id"] for r in rows} == {"org-1"}


class _Response:
    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None):
        self.status_code, self.content, self.headers = status, body, headers or {}


def test_retry_policy_honours_retry_after_then_gives_up():
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=4, base_delay=0.01, sleep=waits.append)
    replies = iter(
        [
            _Response(429, b'{"error": {"message": "slow down"}}', {"retry-after": "7"}),
            _Response(200, b'{"data": [{"start'),
            _Response(503, b"{}"),
            _Response(200, b'{"data": [], "has_more": false}', {"x": "1"}),
        ]
    )
    page = fetch_json_page(lambda: next(replies), provider="p", endpoint="/e", policy=policy)
    assert page.body["data"] == [] and waits[0] == 7.0 and len(waits) == 3

    def time_out() -> _Response:
        raise common.TransportFailure("ReadTimeout")

    with pytest.raises(ProviderAPIError, match=r"timeout/connection error after 4 attempt"):
        fetch_json_page(time_out, provider="p", endpoint="/e", policy=policy)

    with pytest.raises(ProviderAPIError, match=r"/e failed with HTTP 400 after 1 attempt"):
        fetch_json_page(
            lambda: _Response(400, b'{"error": {"message": "bad group_by"}}'),
            provider="p",
            endpoint="/e",
            policy=policy,
        )


def test_schema_drift_lands_new_fields_as_columns_and_missing_ones_as_null(
    sim, tmp_path, monkeypatch
):
    db = tmp_path / "tl.duckdb"
    first, last = world_days(sim)
    ingest(sim, db, providers=["anthropic"])
    real_fetch = common.fetch_json_page

    def drifted(*args: Any, **kwargs: Any) -> common.Page:
        page = real_fetch(*args, **kwargs)
        for bucket in page.body["data"]:
            for result in bucket["results"]:
                result["inference_geo"] = "us"  # a field the API starts sending
                result.pop("service_tier", None)  # and one it stops sending
        return page

    monkeypatch.setattr(common, "fetch_json_page", drifted)
    ingest(sim, db, providers=["anthropic"], start=last - timedelta(days=1), end=last)
    with duckdb.connect(str(db), read_only=True) as con:
        by_day = con.execute(
            "select _bucket_date >= ? as reread, count(inference_geo), count(service_tier),"
            " count(*) from raw_anthropic.cost_report group by 1 order by 1",
            [last - timedelta(days=1)],
        ).fetchall()
    (_, old_geo, old_tier, old_rows), (_, new_geo, new_tier, new_rows) = by_day
    assert old_geo == 0 and old_tier > 0
    assert new_geo == new_rows > 0 and new_tier == 0


def test_declared_columns_are_converted_tolerantly():
    tokens = common.to_arrow_array([1, "2", "3.0", None, "1234567890123456789"], pa.int64(), "t")
    assert tokens.to_pylist() == [1, 2, 3, None, 1234567890123456789]
    text = common.to_arrow_array([1, "0.10", True, None], pa.string(), "amount")
    assert text.to_pylist() == ["1", "0.10", "true", None]
    assert common.to_arrow_array([None, None], None, "all_null_new_field") is None


def test_admin_key_from_dlt_config_alone(sim, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_ADMIN_KEY")
    monkeypatch.setenv("SOURCES__OPENAI__ADMIN_KEY", OPENAI_KEY)
    last = world_days(sim)[1]
    result = ingest(sim, tmp_path / "tl.duckdb", providers=["openai"], start=last, end=last)
    assert result["rows"]["raw_openai.costs"] > 0
