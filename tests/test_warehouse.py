"""Warehouse selection by configuration (tokenledger/warehouse.py): one switch, both engines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tokenledger.warehouse import Warehouse


def test_duckdb_is_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("TOKENLEDGER_WAREHOUSE", raising=False)
    monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(tmp_path / "w.duckdb"))
    wh = Warehouse.from_env()
    assert wh.engine == "duckdb" and wh.dbt_target == "duckdb"
    assert wh.duckdb_path == (tmp_path / "w.duckdb").resolve()
    assert wh.work_dir() == tmp_path.resolve()
    assert wh.dbt_env()["TOKENLEDGER_DUCKDB"] == str(wh.duckdb_path)
    assert type(wh.dlt_destination()).__name__ == "duckdb"


def test_postgres_settings_come_from_the_pg_env_vars(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKENLEDGER_WAREHOUSE", "PostgreS")
    monkeypatch.setenv("TOKENLEDGER_PG_HOST", "db.internal")
    monkeypatch.setenv("TOKENLEDGER_PG_PORT", "6543")
    monkeypatch.setenv("TOKENLEDGER_PG_USER", "loader")
    monkeypatch.setenv("TOKENLEDGER_PG_PASSWORD", "s3cret")
    monkeypatch.setenv("TOKENLEDGER_PG_DATABASE", "costs")
    monkeypatch.setenv("TOKENLEDGER_PG_WORKDIR", str(tmp_path))
    wh = Warehouse.from_env()
    assert wh.engine == "postgres" and wh.dbt_target == "postgres"
    assert (wh.pg.host, wh.pg.port, wh.pg.user, wh.pg.database) == (
        "db.internal",
        6543,
        "loader",
        "costs",
    )
    # where it is, for people and logs: never the password
    assert wh.describe() == "postgresql://loader@db.internal:6543/costs"
    assert "s3cret" not in repr(wh)
    assert wh.work_dir() == tmp_path.resolve() / "db.internal_6543_costs"
    assert wh.dbt_env()["TOKENLEDGER_DBT_TARGET"] == "postgres"
    assert type(wh.dlt_destination()).__name__ == "postgres"
    # an explicit engine wins over the environment; a path means a DuckDB file
    assert Warehouse.from_env("duckdb").engine == "duckdb"
    assert Warehouse.resolve(Path("x.duckdb")).engine == "duckdb"


def test_unknown_engine_is_refused(monkeypatch):
    monkeypatch.setenv("TOKENLEDGER_WAREHOUSE", "snowflake")
    with pytest.raises(ValueError, match="TOKENLEDGER_WAREHOUSE"):
        Warehouse.from_env()


def test_dbt_environment_is_restored_after_a_run(monkeypatch, tmp_path):
    monkeypatch.delenv("TOKENLEDGER_DBT_TARGET", raising=False)
    monkeypatch.setenv("TOKENLEDGER_PG_DATABASE", "before")
    wh = Warehouse.from_env("postgres", pg_database="during")
    with wh.dbt_environment():
        assert os.environ["TOKENLEDGER_DBT_TARGET"] == "postgres"
        assert os.environ["TOKENLEDGER_PG_DATABASE"] == "during"
    assert "TOKENLEDGER_DBT_TARGET" not in os.environ
    assert os.environ["TOKENLEDGER_PG_DATABASE"] == "before"


def test_missing_duckdb_file_is_a_clear_error(monkeypatch, tmp_path, capsys):
    from tokenledger.cli import main

    monkeypatch.delenv("TOKENLEDGER_WAREHOUSE", raising=False)
    monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(tmp_path / "none.duckdb"))
    assert main(["summary"]) == 1
    assert "no warehouse at" in capsys.readouterr().err


def test_a_new_duckdb_warehouse_is_readable_by_duckdb_1_4_bi_drivers(tmp_path):
    """Metabase's and DBeaver's DuckDB drivers bundle DuckDB 1.4: a new warehouse file is
    written in that storage format, and keeps it when tables are written later."""
    import duckdb

    from tokenledger.warehouse import DUCKDB_STORAGE_VERSION

    wh = Warehouse(engine="duckdb", duckdb_path=tmp_path / "w.duckdb")
    wh.ensure_exists()
    con = duckdb.connect(str(wh.duckdb_path))
    con.execute("create schema marts")
    con.execute("create table marts.t as select 1 as a")
    version = con.execute(
        "select tags['storage_version'] from duckdb_databases() where database_name = 'w'"
    ).fetchone()[0]
    con.close()
    assert version.startswith(DUCKDB_STORAGE_VERSION)
