"""The quality gate in Dagster (tokenledger.quality): write–audit–publish for the marts.

- Blocking asset checks on the raw cost reports and on the staging cost models run the Great
  Expectations suites (tokenledger.quality.expectations).
- The dbt assets build the marts into `marts__audit` (orchestration/defs/transform); dbt's
  tests of severity error are blocking asset checks there (dagster-dbt marks them so).
- `quality/published_marts` copies the audited marts into `marts` in one transaction. It sits
  downstream of every marts model, so a failing blocking check anywhere upstream stops it and
  the UI shows which check failed. Spend anomalies read the published marts, after it.

A failing check quarantines the offending rows (quarantine.quarantined_batch_rows) and raises
the alert, exactly as `tokenledger run` does.
"""

from datetime import timedelta

import dagster as dg

from orchestration.partitions import DAILY, SINGLE_RUN, lookback_days
from orchestration.resources import WarehouseResource
from tokenledger.quality import (
    AUDIT_SCHEMA,
    PUBLISHED_SCHEMA,
    Batch,
    ensure_quarantine_table,
    publish_audited_marts,
    reject_batch,
)
from tokenledger.quality.expectations import (
    RAW_COST_TABLES,
    STAGING_COST_MODELS,
    validate_raw_cost_reports,
    validate_staging_costs,
)

PUBLISH_KEY = dg.AssetKey(["quality", "published_marts"])


def batch_for_run(context) -> Batch:
    """The batch of a partitioned run: its days plus the lookback, for the configured
    providers (an unpartitioned run checks every day)."""
    from ingestion.pipeline import configured_providers

    providers = tuple(configured_providers())
    if not (context.has_partition_key or context.has_partition_key_range):
        return Batch(None, None, providers)
    window = context.partition_time_window
    first = window.start.date() - timedelta(days=lookback_days())
    return Batch(first, window.end.date() - timedelta(days=1), providers)


def _suite_check(table, name: str, validate, what: str) -> dg.AssetChecksDefinition:
    """A blocking asset check on `table` (a raw table or staging model) running its Great
    Expectations suite through `validate(warehouse, batch, (table,))`."""

    @dg.asset_check(
        asset=dg.AssetKey([table.schema, table.table]),
        name=name,
        blocking=True,
        description=(
            f"Great Expectations suite on the batch's rows of {table.relation}: {what}. "
            "Blocking: a failure stops the build, quarantines the rows and alerts."
        ),
    )
    def _check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        wh = warehouse.warehouse()
        batch = batch_for_run(context)
        ensure_quarantine_table(wh)
        failures = [f for f in validate(wh, batch, (table,)) if f.relation == table.relation]
        if failures:
            error = reject_batch(wh, failures, batch)
            context.log.error(str(error))
        return dg.AssetCheckResult(
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "failed_expectations": [f.check_name for f in failures],
                "offending_rows": sum(f.failing_rows for f in failures),
            },
        )

    return _check


def _raw_check(table) -> dg.AssetChecksDefinition:
    return _suite_check(
        table,
        "raw_cost_report_expectations",
        validate_raw_cost_reports,
        "required columns, _row_key unique, amounts parseable, bucket days inside the batch",
    )


def _staging_check(model) -> dg.AssetChecksDefinition:
    return _suite_check(
        model,
        "staging_cost_expectations",
        validate_staging_costs,
        "rows not quarantined have a billed cost, a known currency, a conformed token type "
        "and a charge day inside the batch",
    )


raw_checks = [_raw_check(table) for table in RAW_COST_TABLES]
staging_checks = [_staging_check(model) for model in STAGING_COST_MODELS]


def marts_models(dbt_assets: dg.AssetsDefinition) -> list[dg.AssetKey]:
    """The dbt assets that are marts (built into the audit schema, then published)."""
    return sorted(
        (k for k in dbt_assets.keys if k.path[0] == PUBLISHED_SCHEMA), key=lambda k: k.path
    )


def build_publish_asset(dbt_assets: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """`quality/published_marts`, downstream of every marts model of `dbt_assets`."""
    marts = marts_models(dbt_assets)

    @dg.asset(
        key=PUBLISH_KEY,
        deps=marts,
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        group_name="quality",
        kinds={"python"},
        description=(
            "Publishes the audited marts (marts__audit) into marts — what BI reads — in one "
            "transaction, once every blocking check upstream passed."
        ),
    )
    def published_marts(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.warehouse()
        names = [k.path[-1] for k in marts]
        done = publish_audited_marts(wh, names, AUDIT_SCHEMA, PUBLISHED_SCHEMA)
        wh.after_build()  # PostgreSQL: the BI role may read marts, and nothing else
        context.log.info(f"published {', '.join(f'{k} ({v})' for k, v in done.items())}")
        return dg.MaterializeResult(metadata={"published": sorted(done)})

    return published_marts


def build_defs(dbt_assets: dg.AssetsDefinition) -> dg.Definitions:
    """The quality gate's checks and the publish asset."""
    return dg.Definitions(
        assets=[build_publish_asset(dbt_assets)], asset_checks=raw_checks + staging_checks
    )
