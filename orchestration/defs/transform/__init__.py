"""Transformation assets: every dbt model and seed, with dbt tests as asset checks."""

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.partitions import DAILY, SINGLE_RUN
from orchestration.resources import WarehouseResource, dbt_project


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
    """Rebuild the models (they re-derive every day from raw) and run their tests as checks."""
    wh = warehouse.warehouse()  # exports the env vars dbt's profile reads (engine, place)
    yield from dbt.cli(["build"], context=context).stream()
    wh.after_build()  # PostgreSQL: the BI role may read marts, and nothing else


defs = dg.Definitions(assets=[dbt_models])
