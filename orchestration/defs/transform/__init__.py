"""Transformation assets: every dbt model and seed, with dbt tests as asset checks.

The marts are built into the audit schema and published by `quality/published_marts` once
every blocking check passed (write–audit–publish, orchestration/defs/quality).
"""

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.partitions import DAILY, SINGLE_RUN
from orchestration.resources import WarehouseResource, dbt_project
from tokenledger.quality import audited_build_args, batch_environment, judge_build, reject_batch


class TokenledgerDbtTranslator(DagsterDbtTranslator):
    """Groups dbt assets by layer (staging, intermediate, marts, seeds); source keys stay
    [source, table] so they equal the dlt assets' keys and lineage connects."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "transform"


PROJECT = dbt_project()


@dbt_assets(
    manifest=PROJECT.manifest_path,
    project=PROJECT,
    dagster_dbt_translator=TokenledgerDbtTranslator(),
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    name="dbt_models",
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterable:
    """Rebuild the models (they re-derive every day from raw), the marts into the audit
    schema, and run their tests as checks; a failing blocking test quarantines its rows,
    alerts and fails the step, so the marts are not published."""
    from orchestration.defs.quality import batch_for_run

    wh = warehouse.warehouse()  # exports the env vars dbt's profile reads (engine, place)
    batch = batch_for_run(context)
    with batch_environment(batch):  # the dbt subprocess inherits the batch's days
        invocation = dbt.cli(audited_build_args(batch), context=context, raise_on_error=False)
        yield from invocation.stream()
    failures = judge_build(wh, invocation.target_path, invocation.is_successful())
    if failures:
        raise dg.Failure(description=str(reject_batch(wh, failures, batch)))


defs = dg.Definitions(assets=[dbt_models])
