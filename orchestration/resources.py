"""Dagster resources, in one place: the warehouse, dlt and dbt."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject
from dagster_dlt import DagsterDltResource

from tokenledger import paths
from tokenledger.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse every asset reads and writes: DuckDB or PostgreSQL (tokenledger.warehouse).

    Left empty, everything comes from the environment when a run starts (not at import time):
    TOKENLEDGER_WAREHOUSE picks the engine, TOKENLEDGER_DUCKDB / TOKENLEDGER_PG_* the place.
    A `duckdb_path` alone means DuckDB at that file.
    """

    engine: str | None = None
    duckdb_path: str | None = None
    pg_database: str | None = None

    def warehouse(self) -> Warehouse:
        """The resolved warehouse, created if missing, its dbt profile env vars exported (the
        dbt CLI resource runs dbt as a subprocess that inherits them)."""
        engine = self.engine or ("duckdb" if self.duckdb_path else None)
        wh = Warehouse.from_env(engine, duckdb_path=self.duckdb_path, pg_database=self.pg_database)
        wh.ensure_exists()
        wh.export_env()
        return wh

    def path(self) -> Path:
        """The work folder of the warehouse: the DuckDB file itself, or (PostgreSQL) the folder
        that holds dlt's state and dbt's artefacts."""
        wh = self.warehouse()
        return wh.duckdb_path if not wh.is_postgres else wh.work_dir()


def dbt_project() -> DbtProject:
    """The repository's dbt project; its manifest is prepared by `tokenledger prepare`."""
    project = DbtProject(project_dir=paths.PROJECT_DIR, profiles_dir=paths.PROJECT_DIR)
    project.prepare_if_dev()
    return project


def _dbt_executable() -> str:
    """dbt as Dagster's steps run it: `tokenledger-dbt` (dbt with the shared parse,
    tokenledger.dbt.cli_main) installed beside this Python, whether or not the venv is on PATH;
    plain dbt where it is missing (an install without the console scripts)."""
    for name in ("tokenledger-dbt", "dbt"):
        beside = Path(sys.executable).parent / name
        if beside.exists():
            return str(beside)
    return "dbt"


def default_resources(duckdb_path: str | None = None) -> dict[str, object]:
    """The resources every tokenledger asset needs."""
    return {
        "warehouse": WarehouseResource(duckdb_path=duckdb_path),
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=_dbt_executable()),
    }
