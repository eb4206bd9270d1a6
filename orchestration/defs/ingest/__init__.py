"""Ingestion assets: one dlt multi-asset per provider, one asset per dlt resource (raw table)."""

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from ingestion.anthropic import anthropic_source
from ingestion.aws_bedrock import aws_bedrock_source
from ingestion.azure_openai import azure_openai_source
from ingestion.common import delete_superseded_rows
from ingestion.focus import focus_source
from ingestion.gcp_vertex_ai import gcp_vertex_ai_source
from ingestion.openai import openai_source
from ingestion.opencost import opencost_source
from ingestion.pipeline import PIPELINES_DIRNAME, PROVIDERS, configured_providers, make_pipeline
from ingestion.telemetry import telemetry_source
from orchestration.partitions import DAILY, SINGLE_RUN, days_to_fetch
from orchestration.resources import WarehouseResource
from tokenledger.warehouse import Warehouse


class RawTableTranslator(DagsterDltTranslator):
    """Asset key of a dlt resource = ["raw_<provider>", <resource>], the dbt source's key too."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        provider = data.resource.source_name
        return spec.replace_attributes(
            key=dg.AssetKey([f"raw_{provider}", data.resource.name]),
            deps=[],
            group_name="ingest",
            kinds={"dlt", "duckdb", provider},
        )


def _spec_pipeline(provider: str) -> dlt.Pipeline:
    """A destination-typed pipeline object for the asset specs only; runs build their own
    against the warehouse resource's file."""
    return make_pipeline(provider, "duckdb", Path(tempfile.gettempdir()) / "tokenledger_specs")


def _run_pipeline(provider: str, warehouse: Warehouse) -> dlt.Pipeline:
    """The same pipeline `tokenledger run` uses: same name, dataset, state folder, warehouse."""
    return make_pipeline(
        provider, warehouse.dlt_destination(), warehouse.work_dir() / PIPELINES_DIRNAME
    )


def provider_assets(provider: str, source_factory: Callable) -> dg.AssetsDefinition:
    """The dlt multi-asset of one provider: each run fetches its partition days + lookback."""

    @dlt_assets(
        dlt_source=source_factory(),
        dlt_pipeline=_spec_pipeline(provider),
        name=f"ingest_{provider}",
        dagster_dlt_translator=RawTableTranslator(),
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
    )
    def _assets(
        context: dg.AssetExecutionContext,
        dlt: DagsterDltResource,
        warehouse: WarehouseResource,
    ) -> Iterable:
        if provider not in configured_providers():
            # an organisation uses some providers only: one it has not configured (its env var
            # is unset, see ingestion.pipeline.PROVIDERS) lands nothing and fails nothing
            _, env_var = PROVIDERS[provider]
            context.log.warning(f"{provider} is not configured ({env_var} unset): nothing fetched")
            for key in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, metadata={"fetched": "not configured"})
            return
        first, last = days_to_fetch(context)
        context.log.info(f"fetching {provider} usage and cost for {first} .. {last} (UTC)")
        pipeline = _run_pipeline(provider, warehouse.warehouse())
        yield from dlt.run(
            context=context, dlt_source=source_factory(start=first, end=last), dlt_pipeline=pipeline
        )
        delete_superseded_rows(pipeline)  # single-write tables: drop the rows a re-read replaced

    return _assets


openai_raw = provider_assets("openai", openai_source)
anthropic_raw = provider_assets("anthropic", anthropic_source)
focus_raw = provider_assets("focus", focus_source)  # FOCUS exports: whole billing periods
opencost_raw = provider_assets("opencost", opencost_source)
aws_bedrock_raw = provider_assets("aws_bedrock", aws_bedrock_source)
gcp_vertex_ai_raw = provider_assets("gcp_vertex_ai", gcp_vertex_ai_source)
azure_openai_raw = provider_assets("azure_openai", azure_openai_source)
telemetry_raw = provider_assets("telemetry", telemetry_source)  # app LLM-call files

defs = dg.Definitions(
    assets=[
        openai_raw,
        anthropic_raw,
        focus_raw,
        opencost_raw,
        aws_bedrock_raw,
        gcp_vertex_ai_raw,
        azure_openai_raw,
        telemetry_raw,
    ]
)
