"""PostgreSQL as the shared warehouse: the BI role's least privilege, the CLI and Dagster on PG.

One small simulated world is run through the real pipeline into this module's own database
(`pg_warehouse`, created and dropped around the module). The truth-to-the-cent check on
PostgreSQL is the postgres case of tests/test_end_to_end.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulator.server import serve
from simulator.world import World
from tokenledger.cli import main
from tokenledger.warehouse import BI_ROLE, grant_bi_read

pytestmark = pytest.mark.postgres

BI_PASSWORD = "bi-test-password"


def _run_world(warehouse) -> None:
    """The pipeline over the 3-day world into `warehouse` (a fresh simulator each time)."""
    from tokenledger.demo import sim_api_env
    from tokenledger.pipeline import run_pipeline

    world = World(seed=3, days=3)
    server = serve(world)
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in sim_api_env(server).items():
                mp.setenv(key, value)
            mp.setenv("TOKENLEDGER_BI_PASSWORD", BI_PASSWORD)
            last = world.start + timedelta(days=world.days - 1)
            run_pipeline(world.start, last, warehouse)
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def built(pg_warehouse):
    """The pipeline run once over a 3-day world into the module's PostgreSQL database."""
    _run_world(pg_warehouse)
    return pg_warehouse


def test_second_run_changes_no_table(built, warehouse_snapshot):
    """Re-running the same days on PostgreSQL lands nothing twice and changes no row."""
    before = warehouse_snapshot(built)
    assert any(t.startswith("raw_openai.") for t in before)
    assert any(t.startswith("marts.") for t in before)
    _run_world(built)
    assert warehouse_snapshot(built) == before


def _connect_as_bi(warehouse):
    """Log in as the BI role over TCP with its password, as Metabase would."""
    import psycopg2

    return psycopg2.connect(
        host=warehouse.pg.host,
        port=warehouse.pg.port,
        user=BI_ROLE,
        password=BI_PASSWORD,
        dbname=warehouse.pg.database,
        connect_timeout=5,
    )


def _denied(con, statement: str) -> bool:
    """True when `statement` fails with insufficient privilege (and nothing else)."""
    from psycopg2 import errors

    with con.cursor() as cur:
        try:
            cur.execute(statement)
        except errors.InsufficientPrivilege:
            con.rollback()
            return True
    con.rollback()
    return False


FORBIDDEN_READS = [
    "select count(*) from raw_openai.costs",
    "select count(*) from raw_anthropic.cost_report",
    "select count(*) from raw_openai._dlt_loads",
    "select count(*) from raw_anthropic._dlt_pipeline_state",
    "select count(*) from staging.stg_openai__costs",
    "select count(*) from intermediate.int_cost__unioned",
    "select count(*) from quarantine.quarantined_cost_rows",
    "select count(*) from seeds.token_type_map",
]
FORBIDDEN_WRITES = [
    "create table marts.bi_was_here (a int)",
    "create table public.bi_was_here (a int)",
    "create schema bi_was_here",
    "delete from marts.fct_cost_and_usage",
    "drop table marts.fct_cost_and_usage",
]


def test_bi_role_reads_marts_and_nothing_else(built):
    con = _connect_as_bi(built)
    try:
        with con.cursor() as cur:
            cur.execute(
                "select current_user, count(*), sum(billed_cost) from marts.fct_cost_and_usage"
            )
            user, rows, billed = cur.fetchone()
        con.rollback()
        assert user == BI_ROLE
        assert rows > 0 and billed > 0
        for statement in FORBIDDEN_READS + FORBIDDEN_WRITES:
            assert _denied(con, statement), f"{BI_ROLE} was allowed: {statement}"
    finally:
        con.close()

    admin = built.pg.connect()
    try:
        with admin.cursor() as cur:
            cur.execute(
                "select rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolpassword is not null "
                "from pg_authid where rolname = %s",
                [BI_ROLE],
            )
            assert cur.fetchone() == (True, False, False, False, True)
    finally:
        admin.close()


def test_bi_role_reads_tables_created_in_marts_later(built):
    """ALTER DEFAULT PRIVILEGES: a mart the next dbt build adds is readable without a re-grant."""
    admin = built.pg.connect()
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("drop table if exists marts.later_mart")
            cur.execute("create table marts.later_mart as select 1 as n")
        con = _connect_as_bi(built)
        try:
            with con.cursor() as cur:
                cur.execute("select n from marts.later_mart")
                assert cur.fetchone() == (1,)
        finally:
            con.close()
    finally:
        with admin.cursor() as cur:
            cur.execute("drop table if exists marts.later_mart")
        admin.close()


def test_regrant_is_idempotent_and_takes_back_extra_privileges(built, monkeypatch):
    """Someone granted the BI role more than marts; the next post-build grant revokes it."""
    admin = built.pg.connect()
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"grant usage on schema raw_openai to {BI_ROLE}")
            cur.execute(f"grant select on raw_openai.costs to {BI_ROLE}")
            cur.execute(f"grant usage, create on schema staging to {BI_ROLE}")
            cur.execute(f"grant insert, delete on marts.fct_cost_and_usage to {BI_ROLE}")
            cur.execute(f"grant pg_read_all_data to {BI_ROLE}")
    finally:
        admin.close()
    con = _connect_as_bi(built)
    try:
        assert not _denied(con, "select count(*) from raw_openai.costs")
        assert not _denied(con, "set role pg_read_all_data")
    finally:
        con.close()

    monkeypatch.setenv("TOKENLEDGER_BI_PASSWORD", BI_PASSWORD)
    grant_bi_read(built.pg)
    grant_bi_read(built.pg)
    con = _connect_as_bi(built)
    try:
        assert _denied(con, "select count(*) from raw_openai.costs")
        assert _denied(con, "create table staging.bi_was_here (a int)")
        assert _denied(con, "delete from marts.fct_cost_and_usage")
        assert _denied(con, "set role pg_read_all_data")
        assert _denied(con, "select count(*) from quarantine.quarantined_cost_rows")
        assert not _denied(con, "select count(*) from marts.fct_cost_and_usage")
    finally:
        con.close()


def test_summary_and_sql_commands_read_postgres(built, monkeypatch, capsys):
    monkeypatch.setenv("TOKENLEDGER_PG_DATABASE", built.pg.database)
    monkeypatch.setenv("TOKENLEDGER_DUCKDB", "/nonexistent/never.duckdb")
    assert main(["summary", "--warehouse", "postgres"]) == 0
    out = capsys.readouterr().out
    assert "Spend" in out and "Anthropic" in out and "OpenAI" in out

    monkeypatch.setenv("TOKENLEDGER_WAREHOUSE", "postgres")
    assert (
        main(
            [
                "sql",
                "select x_provider, count(*) as n from marts.fct_cost_and_usage "
                "group by 1 order by 1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "anthropic" in out and "openai" in out


def test_missing_postgres_database_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("TOKENLEDGER_WAREHOUSE", "postgres")
    monkeypatch.setenv("TOKENLEDGER_PG_DATABASE", "tokenledger_test_does_not_exist")
    assert main(["summary"]) == 1
    err = capsys.readouterr().err
    assert "tokenledger_test_does_not_exist" in err and "tokenledger run" in err


def test_dagster_partition_run_lands_in_postgres(pg_warehouse, provider_env, monkeypatch, tmp_path):
    """TOKENLEDGER_WAREHOUSE=postgres: the Dagster job's dlt and dbt assets write PostgreSQL."""
    import dataclasses

    import dagster as dg

    from orchestration.definitions import build_definitions
    from tokenledger.demo import compare_to_the_cent, fact_cost_by_provider_day
    from tokenledger.warehouse import Warehouse, drop_database

    # a database of its own: the module's one holds another world
    pg = dataclasses.replace(pg_warehouse.pg, database=pg_warehouse.pg.database + "_dagster")
    warehouse = Warehouse(engine="postgres", pg=pg)
    drop_database(pg)
    world = World(seed=5, days=6)
    server = serve(world)
    try:
        provider_env(server)
        for key, value in warehouse.dbt_env().items():  # restored after the test
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("TOKENLEDGER_WAREHOUSE", "postgres")
        monkeypatch.setenv("TOKENLEDGER_PG_WORKDIR", str(tmp_path))
        defs = build_definitions()
        day = world.start + timedelta(days=world.days - 1)
        result = defs.resolve_job_def("daily_cost_pipeline").execute_in_process(
            partition_key=str(day), instance=dg.DagsterInstance.ephemeral()
        )
        assert result.success
        truth: dict = {}
        for row in world.truth_billed_cost():
            if str(day - timedelta(days=3)) <= str(row["date"]) <= str(day):
                key = (row["provider"], str(row["date"]))
                truth[key] = truth.get(key, 0) + row["billed_cost"]
        assert truth
        assert compare_to_the_cent(fact_cost_by_provider_day(warehouse), truth) == []
        assert (tmp_path / f"{pg.host}_{pg.port}_{pg.database}" / ".dlt_pipelines").is_dir()
    finally:
        server.shutdown()
        drop_database(pg)
