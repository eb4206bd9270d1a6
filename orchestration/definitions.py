"""All of tokenledger in Dagster: `dagster dev -m orchestration.definitions`.

Loads the defs/ folder (one module per domain), applies the daily job and schedule once, and
binds the resources. The dbt manifest must exist first: `tokenledger prepare` (or `make setup`).
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs import detect, ingest, quality, transform
from orchestration.resources import default_resources

daily_job = dg.define_asset_job(
    name="daily_cost_pipeline",
    selection=dg.AssetSelection.all(),
    description="Fetch every configured provider for the day (+ lookback) and rebuild the marts.",
)

daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job, hour_of_day=3, minute_of_hour=0, name="daily_cost_pipeline_schedule"
)


def build_definitions(duckdb_path: str | None = None) -> dg.Definitions:
    """The whole code location; tests pass their own warehouse path."""
    return dg.Definitions.merge(
        ingest.defs,
        transform.defs,
        quality.build_defs(transform.dbt_models),
        detect.defs,
        dg.Definitions(
            jobs=[daily_job],
            schedules=[daily_schedule],
            resources=default_resources(duckdb_path),
            executor=dg.in_process_executor,
        ),
    )


defs = build_definitions()
