"""The quality gate (write–audit–publish) on the real pipeline: simulator (real HTTP) →
`tokenledger run` (real dlt, Great Expectations, dbt) → DuckDB.

The three properties a user relies on: a batch that fails a blocking check leaves every table
in `marts` exactly as it was, its offending rows are in quarantine with the check that caught
them, and an alert reaches a receiver — once, however often the bad batch is re-run. A good
batch publishes. Publishing is one transaction on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    truth_cost_by_provider_day,
)
from tokenledger.quality import Batch, publish_audited_marts
from tokenledger.quality.expectations import validate_raw_cost_reports, validate_staging_costs
from tokenledger.warehouse import Warehouse

SEED, DAYS = 7, 21
NON_NEGATIVE = "fct_cost_and_usage_usage_cost_is_non_negative"


class HookReceiver:
    """A JSON webhook receiver on loopback: records every POST body."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def quality_alerts(self) -> list[dict]:
        return [b for b in self.bodies if b.get("type") == "tokenledger.quality"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def marts_content(db) -> dict[str, str]:
    """Per table in `marts`: a hash of its column names and types and of every row, every
    column (nothing left out) — equal means a reader sees exactly the same marts."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "order by 1"
        ).fetchall()
        out = {}
        for (table,) in tables:
            columns = con.execute(
                "select column_name, data_type, is_nullable from information_schema.columns "
                f"where table_schema = 'marts' and table_name = '{table}' order by ordinal_position"
            ).fetchall()
            rows = sorted(con.execute(f'select * from marts."{table}"').fetchall(), key=repr)
            out[table] = hashlib.sha256(repr((columns, rows)).encode()).hexdigest()
        return out
    finally:
        con.close()


def _query(db, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """A simulator world, an alert receiver configured in alerts.toml, and a DuckDB warehouse
    that a first, good `tokenledger run` over the whole world has published."""
    tmp = tmp_path_factory.mktemp("quality_gate")
    world = World(seed=SEED, days=DAYS)
    server = serve(world)
    receiver = HookReceiver()
    config = tmp / "alerts.toml"
    config.write_text(
        "[retry]\nattempts = 1\ntimeout_seconds = 5\n\n"
        f'[channels.quality-hook]\ntype = "webhook"\nurl = "{receiver.url}"\n'
        'secret_env = "QG_HOOK_SECRET"\n'
    )
    db = tmp / "wh.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_ADMIN_KEY", SIM_OPENAI_KEY)
        mp.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        mp.setenv("ANTHROPIC_ADMIN_KEY", SIM_ANTHROPIC_KEY)
        mp.setenv("ANTHROPIC_BASE_URL", server.url)
        mp.setenv("TOKENLEDGER_WAREHOUSE", "duckdb")
        mp.setenv("TOKENLEDGER_DUCKDB", str(db))
        mp.setenv("TOKENLEDGER_ALERTS_CONFIG", str(config))
        mp.setenv("QG_HOOK_SECRET", "qg-secret")
        last = world.start + timedelta(days=DAYS - 1)
        code = main(["run", "--start", str(world.start), "--end", str(last), "--quiet"])
        yield {
            "world": world,
            "server": server,
            "db": db,
            "receiver": receiver,
            "last": last,
            "first_code": code,
            "tmp": tmp,
        }
    receiver.close()
    server.shutdown()


def test_good_batch_is_published(gate):
    db = gate["db"]
    assert gate["first_code"] == 0
    truth = truth_cost_by_provider_day(gate["world"].truth_billed_cost())
    assert compare_to_the_cent(fact_cost_by_provider_day(db), truth) == []
    # what BI reads is exactly the audited batch
    published = _query(db, "select count(*), sum(billed_cost) from marts.fct_cost_and_usage")
    audited = _query(db, "select count(*), sum(billed_cost) from marts__audit.fct_cost_and_usage")
    assert published == audited and published[0][0] > 0
    assert _query(db, "select count(*) from quarantine.quarantined_batch_rows") == [(0,)]
    assert gate["receiver"].quality_alerts() == []


def test_bad_batch_leaves_marts_quarantines_rows_and_alerts_once(gate, capsys):
    db, server, receiver, last = gate["db"], gate["server"], gate["receiver"], gate["last"]
    bad_day = last - timedelta(days=1)
    before = marts_content(db)
    assert "fct_cost_and_usage" in before and "fct_spend_anomalies" in before

    # the provider serves one usage line with a negative amount, through the real API
    server.control(
        "/_sim/inject",
        {"kind": "negative_cost", "provider": "openai", "date": str(bad_day)},
    )
    run = ["run", "--start", str(last - timedelta(days=3)), "--end", str(last), "--quiet"]
    assert main(run) == 3
    err = capsys.readouterr().err
    assert "quality gate failed" in err and NON_NEGATIVE in err

    # 1. marts unchanged, every table, every column — though the batch was built and audited
    assert marts_content(db) == before
    assert _query(
        db, "select count(*) from marts__audit.fct_cost_and_usage where billed_cost < 0"
    ) == [(1,)]

    # 2. the offending row is in quarantine with the check that caught it and the reason
    rows = _query(
        db,
        "select batch_id, check_kind, checked_relation, reason, row_data, batch_start_date, "
        "batch_end_date from quarantine.quarantined_batch_rows "
        f"where check_name = '{NON_NEGATIVE}'",
    )
    assert len(rows) == 1
    batch_id, kind, relation, reason, row_data, start, end = rows[0]
    assert kind == "dbt_test" and relation.endswith("fct_cost_and_usage")
    assert "usage charge never costs less than zero" in reason
    offending = json.loads(row_data)
    assert offending["x_provider"] == "openai" and float(offending["billed_cost"]) < 0
    assert offending["charge_period_start"].startswith(str(bad_day))
    assert (start, end) == (last - timedelta(days=3), last)

    # 3. one alert reached the receiver, naming the check and the batch
    alerts = receiver.quality_alerts()
    assert len(alerts) == 1
    assert NON_NEGATIVE in alerts[0]["data"]["check_name"]
    assert alerts[0]["data"]["batch_id"] == batch_id

    # the same bad batch again: still stopped, nothing duplicated, no second alert
    assert main(run) == 3
    assert marts_content(db) == before
    assert _query(db, "select count(*) from quarantine.quarantined_batch_rows") == [(1,)]
    assert len(receiver.quality_alerts()) == 1


def test_raw_suites_catch_duplicate_keys_and_unparseable_amounts(gate, tmp_path):
    """Great Expectations on the raw cost report: a duplicated `_row_key` and a batch whose
    amounts stopped being numbers are both caught, with the offending raw rows."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(gate["db"], db)
    last = gate["last"]
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "insert into raw_openai.costs select * from raw_openai.costs "
            f"where _bucket_date = '{last}' limit 1"
        )
        con.execute(
            "update raw_anthropic.cost_report set amount = 'USD ' || amount "
            f"where _bucket_date = '{last}'"
        )
    finally:
        con.close()
    batch = Batch(last - timedelta(days=2), last, ("openai", "anthropic"))
    failures = {f.check_name: f for f in validate_raw_cost_reports(Warehouse.resolve(db), batch)}
    unique = failures["raw_openai.costs:expect_column_values_to_be_unique(_row_key)"]
    assert unique.failing_rows == 2 and len({r["_row_key"] for r in unique.rows}) == 1
    amounts = failures["raw_anthropic.cost_report:expect_column_values_to_match_regex(amount)"]
    assert amounts.failing_rows > 0 and all(r["amount"].startswith("USD ") for r in amounts.rows)
    assert set(failures) == {unique.check_name, amounts.check_name}


def test_staging_suites_pass_a_good_batch_and_catch_bad_staging_rows(gate, tmp_path):
    """Great Expectations on the staging cost models (after the dbt build): the good batch
    passes; a staging row the quarantine missed — null billed cost, unknown currency, a token
    type outside the conformed vocabulary, a charge day outside the batch — is caught, with
    the offending staging row."""
    db = tmp_path / "suites.duckdb"
    shutil.copy(gate["db"], db)
    last = gate["last"]
    batch = Batch(last - timedelta(days=2), last, ("openai", "anthropic"))
    assert validate_staging_costs(Warehouse.resolve(db), batch) == []

    # the staging view becomes a table holding four bad rows beside the good ones
    con = duckdb.connect(str(db))
    try:
        con.execute("create table staging.good as select * from staging.stg_openai__costs")
        con.execute("drop view staging.stg_openai__costs")
        con.execute("create table staging.stg_openai__costs as select * from staging.good")
        bad = {
            "null_cost": "billed_cost = null",
            "bad_currency": "billing_currency = 'XTS'",
            "bad_type": "token_type = 'reasoning'",
            "old_day": "bucket_start_at = bucket_start_at - interval 30 day",
        }
        for key, change in bad.items():
            con.execute(
                "insert into staging.stg_openai__costs select * from staging.good "
                f"where bucket_date = '{last}' limit 1"
            )
            con.execute(
                f"update staging.stg_openai__costs set cost_row_key = '{key}', {change} "
                "where cost_row_key = (select cost_row_key from staging.good "
                f"where bucket_date = '{last}' limit 1) and rowid = "
                "(select max(rowid) from staging.stg_openai__costs)"
            )
    finally:
        con.close()
    failures = {f.check_name: f for f in validate_staging_costs(Warehouse.resolve(db), batch)}
    rel = "staging.stg_openai__costs"
    expected = {
        f"{rel}:expect_column_values_to_not_be_null(billed_cost)": "null_cost",
        f"{rel}:expect_column_values_to_be_in_set(billing_currency)": "bad_currency",
        f"{rel}:expect_column_values_to_be_in_set(token_type)": "bad_type",
        f"{rel}:expect_column_values_to_be_between(charge_day)": "old_day",
    }
    assert set(failures) == set(expected)
    for name, key in expected.items():
        failure = failures[name]
        assert failure.kind == "great_expectations" and failure.relation == rel
        assert failure.failing_rows == 1 and [r["cost_row_key"] for r in failure.rows] == [key]
        assert "charge_day" not in failure.rows[0]


def _pg_or_duck(engine, request, tmp_path) -> Warehouse:
    if engine == "duckdb":
        return Warehouse.resolve(tmp_path / "publish.duckdb")
    return request.getfixturevalue("pg_warehouse")


def _execute(wh: Warehouse, *statements: str) -> None:
    if wh.is_postgres:
        con = wh.pg.connect()
        with con, con.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
        con.close()
        return
    con = duckdb.connect(str(wh.duckdb_path))
    for sql in statements:
        con.execute(sql)
    con.close()


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_publish_is_one_transaction_and_keeps_types(engine, request, tmp_path):
    """All audited marts replace the published ones together, with their types and NOT NULL
    constraints; when one cannot be published, none is."""
    wh = _pg_or_duck(engine, request, tmp_path)
    wh.ensure_exists()
    _execute(
        wh,
        "create schema if not exists marts",
        "create schema if not exists marts__audit",
        "drop table if exists marts.a",
        "drop table if exists marts.b",
        "create table marts.a (id varchar not null, cost decimal(38, 9))",
        "insert into marts.a values ('old', 1.5)",
        "create table marts__audit.a (id varchar not null, cost decimal(38, 9))",
        "insert into marts__audit.a values ('new', 2.25), ('newer', 3)",
        "create table marts__audit.b (day date not null, n bigint)",
        "insert into marts__audit.b values ('2026-01-02', 7)",
    )
    with pytest.raises(RuntimeError, match="missing_mart"):
        publish_audited_marts(wh, ["a", "b", "missing_mart"])
    _, rows = wh.query("select id from marts.a")
    assert rows == [("old",)]
    _, rows = wh.query(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'b'"
    )
    assert rows == [(0,)]

    assert publish_audited_marts(wh, ["a", "b"]) == {"a": "refreshed", "b": "created"}
    _, rows = wh.query("select id, cost from marts.a order by id")
    assert [r[0] for r in rows] == ["new", "newer"]
    _, cols = wh.query(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'b' order by ordinal_position"
    )
    assert [(c[0], c[2]) for c in cols] == [("day", "NO"), ("n", "YES")]
    assert cols[0][1].lower() == "date"


def test_missing_day_and_volume_drop_checks_fire_on_the_audited_fact(gate, tmp_path):
    """The batch-aware dbt tests pass on the good batch and fail, naming the provider-day, when
    a provider's day is missing or arrives with a fraction of its usual rows."""
    from tokenledger.dbt import run_dbt
    from tokenledger.quality import audited_build_args, batch_environment

    db = tmp_path / "copy.duckdb"
    shutil.copy(gate["db"], db)
    wh = Warehouse.resolve(db)
    last = gate["last"]
    batch = Batch(last - timedelta(days=3), last, ("openai", "anthropic"))
    select = ["--select", "assert_no_missing_days_in_batch", "assert_no_volume_drop"]

    def run_checks() -> dict[str, str]:
        args = ["test", *select, "--vars", audited_build_args(batch)[-1]]
        with wh.dbt_environment(), batch_environment(batch):
            summary = run_dbt(
                args, target="duckdb", target_path=tmp_path / "t", raise_on_failure=False
            )
        return {k.split(".")[2]: v for k, v in summary.statuses.items()}

    assert set(run_checks().values()) == {"pass"}
    con = duckdb.connect(str(db))
    try:
        audit = "marts__audit.fct_cost_and_usage"
        con.execute(
            f"delete from {audit} where x_provider = 'anthropic' "
            f"and cast(charge_period_start as date) = '{last - timedelta(days=2)}'"
        )
        # keep a quarter of OpenAI's rows on the last day
        con.execute(
            f"delete from {audit} where x_provider = 'openai' "
            f"and cast(charge_period_start as date) = '{last}' and x_cost_row_key not in ("
            f"select x_cost_row_key from {audit} where x_provider = 'openai' "
            f"and cast(charge_period_start as date) = '{last}' order by 1 "
            f"limit (select count(*) // 4 from {audit} where x_provider = 'openai' "
            f"and cast(charge_period_start as date) = '{last}'))"
        )
    finally:
        con.close()
    statuses = run_checks()
    assert statuses == {"assert_no_missing_days_in_batch": "fail", "assert_no_volume_drop": "fail"}
    # what the gate quarantines: the provider-days, read from the failing tests
    from tokenledger.quality.checks import dbt_failures

    failures = {f.check_name: f for f in dbt_failures(tmp_path / "t", wh)}
    missing = failures["assert_no_missing_days_in_batch"].rows
    assert [(r["provider"], r["charge_date"]) for r in missing] == [
        ("anthropic", last - timedelta(days=2))
    ]
    dropped = failures["assert_no_volume_drop"].rows
    assert [(r["provider"], r["charge_date"]) for r in dropped] == [("openai", last)]


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_publish_replaces_a_changed_table_that_a_published_view_reads(engine, request, tmp_path):
    """The FOCUS export view reads the fact: when the fact gains a column, publishing drops
    and recreates it (PostgreSQL refuses while a view depends on it) and the view comes back
    over the new table, all in one transaction."""
    wh = _pg_or_duck(engine, request, tmp_path)
    wh.ensure_exists()
    _execute(
        wh,
        "create schema if not exists marts",
        "create schema if not exists marts__audit",
        "drop view if exists marts.v",
        "drop table if exists marts.f",
        "drop view if exists marts__audit.v",
        "drop table if exists marts__audit.f",
        "create table marts.f (id varchar)",
        "insert into marts.f values ('old')",
        "create view marts.v as select id from marts.f",
        "create table marts__audit.f (id varchar, extra integer)",
        "insert into marts__audit.f values ('new', 1)",
        "create view marts__audit.v as select id, extra from marts__audit.f",
    )
    done = publish_audited_marts(wh, ["v", "f"])
    assert done == {"f": "created", "v": "view"}
    _, rows = wh.query("select id, extra from marts.v")
    assert rows == [("new", 1)]
