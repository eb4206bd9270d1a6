"""Run the provider sources into the warehouse: one dlt pipeline per configured provider.

Business purpose: one call that lands every configured provider's raw billing and usage tables
(`raw_<provider>` datasets) for a range of UTC days, for the CLI, the demo and the benchmark;
Dagster wraps the same sources through `configured_sources`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.destination import AnyDestination
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion.anthropic import ADMIN_KEY_ENV as ANTHROPIC_KEY_ENV
from ingestion.anthropic import anthropic_source
from ingestion.aws_bedrock import CUR_URI_ENV as AWS_BEDROCK_ENV
from ingestion.aws_bedrock import aws_bedrock_source
from ingestion.azure_openai import TOKEN_ENV as AZURE_OPENAI_TOKEN_ENV
from ingestion.azure_openai import azure_openai_source
from ingestion.common import MissingCredentials, ProviderAPIError, delete_superseded_rows
from ingestion.focus import EXPORTS_DIR_ENV as FOCUS_EXPORTS_ENV
from ingestion.focus import focus_source
from ingestion.gcp_vertex_ai import EXPORT_DIR_ENV as GCP_VERTEX_AI_EXPORT_ENV
from ingestion.gcp_vertex_ai import gcp_vertex_ai_source
from ingestion.openai import ADMIN_KEY_ENV as OPENAI_KEY_ENV
from ingestion.openai import openai_source
from ingestion.opencost import BASE_URL_ENV as OPENCOST_URL_ENV
from ingestion.opencost import opencost_source
from ingestion.telemetry import DIR_ENV as TELEMETRY_DIR_ENV
from ingestion.telemetry import telemetry_source

log = logging.getLogger("ingestion")

SourceFactory = Callable[..., DltSource]
ProgressCallback = Callable[[str, str, int], None]

PROVIDERS: dict[str, tuple[SourceFactory, str]] = {
    "openai": (openai_source, OPENAI_KEY_ENV),
    "anthropic": (anthropic_source, ANTHROPIC_KEY_ENV),
    "focus": (focus_source, FOCUS_EXPORTS_ENV),
    "gcp_vertex_ai": (gcp_vertex_ai_source, GCP_VERTEX_AI_EXPORT_ENV),
    "azure_openai": (azure_openai_source, AZURE_OPENAI_TOKEN_ENV),
    "opencost": (opencost_source, OPENCOST_URL_ENV),  # no key: configured by its URL
    "aws_bedrock": (aws_bedrock_source, AWS_BEDROCK_ENV),
    "telemetry": (telemetry_source, TELEMETRY_DIR_ENV),  # app LLM-call files (a folder)
}
"""Provider → (dlt source factory, the env var whose presence makes it configured)."""

PIPELINES_DIRNAME = ".dlt_pipelines"

DUCKDB_MEMORY_LIMIT_ENV = "TOKENLEDGER_DUCKDB_MEMORY_LIMIT"
DEFAULT_DUCKDB_MEMORY_LIMIT = "2GB"


def duckdb_settings() -> dict[str, Any]:
    """DuckDB settings of every process that writes the warehouse (dlt here, dbt through
    profiles.yml): bounded memory (DuckDB's default is 80 % of RAM; above the limit it spills to
    disk) and no insertion order to keep, so large inserts run in parallel."""
    return {
        "memory_limit": os.environ.get(DUCKDB_MEMORY_LIMIT_ENV) or DEFAULT_DUCKDB_MEMORY_LIMIT,
        "preserve_insertion_order": False,
    }


def duckdb_destination(path: Path | str) -> AnyDestination:
    """The dlt destination of a DuckDB warehouse file, with `duckdb_settings()`."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    return dlt.destinations.duckdb(
        credentials=DuckDbCredentials(str(path), global_config=duckdb_settings())
    )


def pipeline_name(provider: str) -> str:
    """dlt pipeline name of a provider (contract: `tokenledger_<provider>`)."""
    return f"tokenledger_{provider}"


def dataset_name(provider: str) -> str:
    """Warehouse schema of a provider's raw tables (contract: `raw_<provider>`)."""
    return f"raw_{provider}"


def configured_providers() -> list[str]:
    """Providers whose admin key env var is set, in a fixed order."""
    return [name for name, (_, key_env) in PROVIDERS.items() if os.environ.get(key_env)]


def configured_sources(start: date | None = None, end: date | None = None) -> dict[str, DltSource]:
    """`{provider: dlt source}` for the configured providers over UTC days [start, end].

    Building a source reads no credentials and makes no request: that happens when it runs.
    """
    return {name: PROVIDERS[name][0](start=start, end=end) for name in configured_providers()}


def make_pipeline(
    provider: str, destination: AnyDestination, pipelines_dir: Path | str
) -> dlt.Pipeline:
    """The dlt pipeline of one provider (name, dataset and working dir per the contract).

    Every row carries dlt's `_dlt_load_id`, Arrow items too (dlt adds it to Arrow tables only
    when asked; it is a constant dictionary column, free): a whole delivery is told from the
    one it replaces by its load id (ingestion.common.single_write)."""
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    return dlt.pipeline(
        pipeline_name=pipeline_name(provider),
        destination=destination,
        dataset_name=dataset_name(provider),
        pipelines_dir=str(pipelines_dir),
    )


def _count_rows(
    provider: str, resource: str, counts: dict[str, int], progress: ProgressCallback | None
) -> Callable[[pa.Table], pa.Table]:
    """A map step that tallies the rows extracted per table and reports them."""
    key = f"{dataset_name(provider)}.{resource}"
    counts.setdefault(key, 0)

    def count(table: pa.Table) -> pa.Table:
        counts[key] += table.num_rows
        if progress is not None:
            progress(provider, resource, counts[key])
        return table

    return count


def _root_cause(exc: BaseException) -> BaseException:
    """The provider error inside dlt's step wrapper, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ProviderAPIError | MissingCredentials):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return exc


def run_ingestion(
    start: date | None,
    end: date | None,
    duckdb_path: Path | str,
    providers: list[str] | None = None,
    progress: ProgressCallback | None = None,
    destination: AnyDestination | None = None,
) -> dict[str, Any]:
    """Land the raw tables of each provider for the UTC days [start, end] (both included).

    `providers` defaults to the configured ones (admin key env var set); `destination` defaults
    to the DuckDB file `duckdb_path` (pass e.g. `dlt.destinations.postgres(...)` instead).
    dlt's working state lives in `<dir of duckdb_path>/.dlt_pipelines`. `progress(provider,
    resource, rows_so_far)` is called after every page.

    Returns `{"rows": {"raw_<provider>.<table>": rows}, "seconds": {<provider>: s, "total": s},
    "providers": {<provider>: {"load_ids": [...], "steps": {step: s}}}}`. Raises
    `ProviderAPIError` / `MissingCredentials` when a provider fails (after the others ran).
    """
    selected = list(providers) if providers is not None else configured_providers()
    unknown = [p for p in selected if p not in PROVIDERS]
    if unknown:
        raise ValueError(f"unknown provider(s) {unknown}; known: {sorted(PROVIDERS)}")
    if not selected:
        keys = ", ".join(key_env for _, key_env in PROVIDERS.values())
        raise MissingCredentials(f"no provider configured: set at least one of {keys}")
    duckdb_path = Path(duckdb_path)
    if destination is None:
        duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        destination = duckdb_destination(duckdb_path)
    pipelines_dir = duckdb_path.parent / PIPELINES_DIRNAME
    # no phoning home from a cost pipeline (and no internet in tests); a user can opt back in
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    result: dict[str, Any] = {"rows": {}, "seconds": {}, "providers": {}}
    failures: list[BaseException] = []
    t_all = time.perf_counter()
    for provider in selected:
        factory, _ = PROVIDERS[provider]
        source = factory(start=start, end=end)
        for name, resource in source.selected_resources.items():
            resource.add_map(_count_rows(provider, name, result["rows"], progress))
        pipeline = make_pipeline(provider, destination, pipelines_dir)
        t0 = time.perf_counter()
        try:
            load_info = pipeline.run(source)
        except PipelineStepFailed as exc:
            cause = _root_cause(exc)
            log.error("%s ingestion failed: %s", provider, cause)
            failures.append(cause)
            continue
        finally:
            result["seconds"][provider] = time.perf_counter() - t0
        steps = {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in pipeline.last_trace.steps
            if step.finished_at is not None
        }
        t_delete = time.perf_counter()
        superseded = delete_superseded_rows(pipeline)
        if superseded:
            steps["delete superseded"] = time.perf_counter() - t_delete
        result["providers"][provider] = {
            "load_ids": list(load_info.loads_ids),
            "steps": steps,
            "superseded_rows_deleted": superseded,
        }
    result["seconds"]["total"] = time.perf_counter() - t_all
    if failures:
        raise failures[0]
    return result
