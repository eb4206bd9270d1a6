"""Dagster resources, in one place: the warehouse, dlt and dbt."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject
from dagster_dlt import DagsterDltResource

from tokenledger import paths


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file every asset reads and writes.

    Left empty, the path comes from TOKENLEDGER_DUCKDB when a run starts (not at import time).
    """

    duckdb_path: str | None = None

    def path(self) -> Path:
        """The resolved warehouse file; also exported to TOKENLEDGER_DUCKDB for dbt's profile."""
        import os

        resolved = Path(self.duckdb_path).resolve() if self.duckdb_path else paths.duckdb_path()
        resolved.parent.mkdir(parents=True, exist_ok=True)
        os.environ["TOKENLEDGER_DUCKDB"] = str(resolved)
        return resolved


def dbt_project() -> DbtProject:
    """The repository's dbt project; its manifest is prepared by `tokenledger prepare`."""
    project = DbtProject(project_dir=paths.PROJECT_DIR, profiles_dir=paths.PROJECT_DIR)
    project.prepare_if_dev()
    return project


def _dbt_executable() -> str:
    """The dbt installed beside this Python (the venv's), whether or not the venv is on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def default_resources(duckdb_path: str | None = None) -> dict[str, object]:
    """The resources every tokenledger asset needs."""
    return {
        "warehouse": WarehouseResource(duckdb_path=duckdb_path),
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=_dbt_executable()),
    }
