"""The whole pipeline as one call: provider APIs → dlt raw tables → dbt build → marts.

This is what `tokenledger run` and `make demo` execute; Dagster runs the same dlt sources and
the same dbt project as assets (orchestration/).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tokenledger.dbt import DbtRunSummary, run_dbt
from tokenledger.warehouse import Warehouse


@dataclass
class PipelineResult:
    """Rows landed per raw table, dbt node statuses and wall time per stage (seconds)."""

    rows: dict[str, int] = field(default_factory=dict)
    dbt: DbtRunSummary | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)
    """Marts the quality gate published (model → refreshed/created/view)."""
    anomalies: Any = None
    """Spend anomaly episodes (pandas DataFrame) published to marts.fct_spend_anomalies."""
    alerts: list = field(default_factory=list)
    """AlertResult per incident and channel (empty when no alert channel is configured)."""
    governance: Any = None
    """GovernanceResult (budgets, limits, API keys), or None when governance failed."""
    governance_error: str | None = None
    """Why governance did not run (e.g. a seed row rejected); publishing is never blocked."""


def run_pipeline(
    start: date | None,
    end: date | None,
    warehouse: Warehouse | Path | None = None,
    *,
    on_rows: Callable[[str, str, int], None] | None = None,
    on_node: Callable[[str, str], None] | None = None,
) -> PipelineResult:
    """Ingest every configured provider for the UTC days [start, end] and rebuild the marts.

    `warehouse` defaults to the configured one (TOKENLEDGER_WAREHOUSE); a Path is a DuckDB file.
    Write–audit–publish (tokenledger.quality): dbt builds the marts into `marts__audit`, the
    blocking checks run, and only a batch that passed replaces `marts`. Raises when no
    provider is configured, when a provider keeps failing after retries, or
    `QualityGateFailed` (marts untouched, rows quarantined, alert sent) when a check fails.
    """
    from ingestion.pipeline import configured_providers, run_ingestion
    from tokenledger.alerts import send_anomaly_alerts
    from tokenledger.anomaly.warehouse import publish_anomalies
    from tokenledger.prices import check_price_overrides
    from tokenledger.quality import (
        Batch,
        audited_build_args,
        batch_environment,
        ensure_quarantine_table,
        judge_build,
        publish_batch,
        reject_batch,
    )
    from tokenledger.quality.expectations import (
        validate_raw_cost_reports,
        validate_staging_costs,
    )

    warehouse = Warehouse.resolve(warehouse)
    result = PipelineResult()
    warehouse.ensure_exists()
    # a malformed or unknown price override stops the run before anything lands, naming its line
    check_price_overrides(warehouse)
    t0 = time.perf_counter()
    ingested = run_ingestion(
        start,
        end,
        warehouse.ingestion_path(),
        progress=on_rows,
        destination=warehouse.dlt_destination(),
    )
    result.rows = dict(ingested["rows"])
    result.seconds["ingest"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    batch = Batch(start, end, tuple(configured_providers()))
    ensure_quarantine_table(warehouse)
    raw_failures = validate_raw_cost_reports(warehouse, batch)
    result.seconds["validate_raw"] = time.perf_counter() - t1
    target_path = warehouse.work_dir() / "dbt_target"
    with warehouse.dbt_environment(), batch_environment(batch):
        result.dbt = run_dbt(
            audited_build_args(batch),
            target=warehouse.dbt_target,
            target_path=target_path,
            on_node=on_node,
            raise_on_failure=False,
        )
    # the staging views exist only once dbt has built them: their suites run after the build
    staging_failures = validate_staging_costs(warehouse, batch)
    failures = judge_build(
        warehouse,
        target_path,
        result.dbt.success,
        result.dbt.failures,
        raw_failures + staging_failures,
    )
    if failures:
        raise reject_batch(warehouse, failures, batch)
    result.published = publish_batch(warehouse, target_path)
    result.seconds["transform"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    result.anomalies = publish_anomalies(warehouse)
    # one alert per incident through the channels of alerts.toml (none configured: no-op);
    # only new or ongoing incidents, so adopting tokenledger on old history sends no backlog
    result.alerts = send_anomaly_alerts(warehouse, result.anomalies, statuses=("new", "ongoing"))
    result.seconds["detect"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    result.governance, result.governance_error = _run_governance(warehouse)
    if result.governance is not None:
        result.alerts = [*result.alerts, *result.governance.alerts]
    result.seconds["governance"] = time.perf_counter() - t3
    warehouse.after_build()
    result.seconds["total"] = time.perf_counter() - t0
    return result


def _run_governance(warehouse: Warehouse) -> tuple[Any, str | None]:
    """Budgets, limits and API keys on the published marts; a failure (a rejected seed row)
    is reported, never raised: the marts are already published."""
    import logging

    from tokenledger.governance import SeedError, run_governance

    try:
        return run_governance(warehouse), None
    except SeedError as exc:
        logging.getLogger(__name__).error("governance skipped: %s", exc)
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - governance must never undo a publish
        logging.getLogger(__name__).exception("governance failed")
        return None, f"governance failed: {exc}"
