"""Where tokenledger's files live: the dbt project, the warehouse file, run artefacts.

Everything is resolved when called, never at import time, so tests and the CLI can point
`TOKENLEDGER_DUCKDB` anywhere before they start.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
"""The repository root: holds dbt_project.yml and profiles.yml."""

DEFAULT_DUCKDB = "warehouse/tokenledger.duckdb"


def duckdb_path() -> Path:
    """The DuckDB warehouse file named by TOKENLEDGER_DUCKDB (relative to the working dir)."""
    return Path(os.environ.get("TOKENLEDGER_DUCKDB", DEFAULT_DUCKDB)).resolve()


def manifest_path() -> Path:
    """The dbt manifest that Dagster's dbt assets are built from (made by `tokenledger prepare`)."""
    return PROJECT_DIR / "target" / "manifest.json"
