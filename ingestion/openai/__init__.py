"""dlt source for OpenAI's Organization Usage and Costs APIs (admin key).

Business purpose: land what OpenAI bills (costs, dollars) and what it metered (completion,
embedding and moderation tokens; images; speech characters; transcription seconds; vector-store
bytes; file-search, web-search and code-interpreter calls/sessions) per UTC day, project, API
key and model, raw, so the dbt layer can price,
reconcile and allocate it. Grain: one row per daily bucket × result (the API's group_by).
See README.md beside this file for endpoints, units and quirks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dlt
import openai
import pyarrow as pa
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from ingestion.common import (
    MERGE_HINTS,
    ResponseLike,
    TableSpec,
    TransportFailure,
    advance_state,
    day_start_unix,
    read_bucket_pages,
    register_secret,
    require_admin_key,
    resource_day_window,
    unix_to_day,
)

PROVIDER = "openai"
ADMIN_KEY_ENV = "OPENAI_ADMIN_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
ORGANIZATION_HEADER = "openai-organization"
REQUEST_TIMEOUT_S = 120.0

_STR, _INT = pa.string(), pa.int64()
_BUCKET = {"start_time": _INT, "end_time": _INT}


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI admin endpoint and how its results land."""

    resource: str
    path: str
    sdk_method: str
    group_by: tuple[str, ...]
    limit: int
    spec: TableSpec
    decimals_as_text: bool = False


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        resource="usage_completions",
        path="/organization/usage/completions",
        sdk_method="completions",
        group_by=("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
        limit=31,
        spec=TableSpec(
            columns={
                **_BUCKET,
                "project_id": _STR,
                "user_id": _STR,
                "api_key_id": _STR,
                "model": _STR,
                "batch": pa.bool_(),
                "service_tier": _STR,
                "input_tokens": _INT,
                "output_tokens": _INT,
                "input_cached_tokens": _INT,
                "input_cache_write_tokens": _INT,
                "input_audio_tokens": _INT,
                "output_audio_tokens": _INT,
                "num_model_requests": _INT,
            },
            grain=("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
        ),
    ),
    Endpoint(
        resource="usage_embeddings",
        path="/organization/usage/embeddings",
        sdk_method="embeddings",
        group_by=("project_id", "user_id", "api_key_id", "model"),
        limit=31,
        spec=TableSpec(
            columns={
                **_BUCKET,
                "project_id": _STR,
                "user_id": _STR,
                "api_key_id": _STR,
                "model": _STR,
                "input_tokens": _INT,
                "num_model_requests": _INT,
            },
            grain=("project_id", "user_id", "api_key_id", "model"),
        ),
    ),
    *(
        Endpoint(
            resource=f"usage_{name}",
            path=f"/organization/usage/{name}",
            sdk_method=name,
            group_by=tuple(dims),
            limit=31,
            spec=TableSpec(
                columns={**_BUCKET, **dict.fromkeys(dims, _STR), **dict.fromkeys(metrics, _INT)},
                grain=tuple(dims),
            ),
        )
        for name, dims, metrics in (
            (
                "images",
                ("project_id", "user_id", "api_key_id", "model", "size", "source"),
                ("images", "num_model_requests"),
            ),
            (
                "audio_speeches",
                ("project_id", "user_id", "api_key_id", "model"),
                ("characters", "num_model_requests"),
            ),
            (
                "audio_transcriptions",
                ("project_id", "user_id", "api_key_id", "model"),
                ("seconds", "num_model_requests"),
            ),
            (
                "moderations",
                ("project_id", "user_id", "api_key_id", "model"),
                ("input_tokens", "num_model_requests"),
            ),
            ("vector_stores", ("project_id",), ("usage_bytes",)),
            ("code_interpreter_sessions", ("project_id",), ("num_sessions",)),
            (
                "file_search_calls",
                ("project_id", "user_id", "api_key_id", "vector_store_id"),
                ("num_requests",),
            ),
            (
                "web_search_calls",
                ("project_id", "user_id", "api_key_id", "model", "context_level"),
                ("num_model_requests", "num_requests"),
            ),
        )
    ),
    Endpoint(
        resource="costs",
        path="/organization/costs",
        sdk_method="costs",
        group_by=("project_id", "line_item", "api_key_id"),
        limit=180,
        spec=TableSpec(
            columns={
                **_BUCKET,
                "amount__value": _STR,
                "amount__currency": _STR,
                "line_item": _STR,
                "project_id": _STR,
                "api_key_id": _STR,
                "quantity": pa.float64(),
                "quantity_unit": _STR,
            },
            grain=("project_id", "line_item", "api_key_id"),
        ),
        decimals_as_text=True,
    ),
)


def _client(admin_key: str, base_url: str) -> openai.OpenAI:
    """The official SDK client: auth and base URL; retries are ours (one policy, incl.
    malformed pages), so the SDK's own are off."""
    return openai.OpenAI(
        admin_api_key=admin_key,
        base_url=base_url,
        max_retries=0,
        timeout=REQUEST_TIMEOUT_S,
    )


def _sender(call: Callable[..., Any], params: dict[str, Any]) -> Callable[[], ResponseLike]:
    """A no-argument request for the retry loop: the raw HTTP response, errors included."""

    def send() -> ResponseLike:
        try:
            return call(**params).http_response
        except openai.APIStatusError as exc:
            return exc.response
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise TransportFailure(type(exc).__name__) from None

    return send


def fetch_endpoint(
    client: openai.OpenAI, endpoint: Endpoint, first: date, last: date
) -> Iterator[pa.Table]:
    """Arrow tables, one per page, of `endpoint`'s daily buckets for UTC days [first, last].

    Uses the SDK's raw-response methods and parses the JSON body ourselves (decimals of the
    costs endpoint as text), following `next_page` until `has_more` is false.
    """
    call = getattr(client.admin.organization.usage.with_raw_response, endpoint.sdk_method)
    params: dict[str, Any] = {
        "start_time": day_start_unix(first),
        "end_time": day_start_unix(last + timedelta(days=1)),  # the API's end is exclusive
        "bucket_width": "1d",
        "limit": endpoint.limit,
        "group_by": list(endpoint.group_by),
    }

    yield from read_bucket_pages(
        lambda page_params: _sender(call, page_params),
        params,
        endpoint.spec,
        provider=PROVIDER,
        endpoint=endpoint.path,
        decimals_as_text=endpoint.decimals_as_text,
        bucket_fields=("start_time", "end_time"),
        bucket_day=unix_to_day,
        organization_header=ORGANIZATION_HEADER,
        day_range=(first, last),
    )


def _resource(
    endpoint: Endpoint,
    start: date | None,
    end: date | None,
    admin_key: str | None,
    base_url: str | None,
) -> DltResource:
    """The dlt resource of one endpoint; credentials, dates and state resolve when it runs."""

    def read_endpoint() -> Iterator[pa.Table]:
        key = require_admin_key(PROVIDER, admin_key, ADMIN_KEY_ENV)
        url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        state, first, last, today = resource_day_window(start, end)
        with _client(key, url) as client:
            yield from fetch_endpoint(client, endpoint, first, last)
        advance_state(state, last, today)

    return dlt.resource(read_endpoint, name=endpoint.resource, **MERGE_HINTS)


@dlt.source(name=PROVIDER, max_table_nesting=0)
def openai_source(
    start: date | None = None,
    end: date | None = None,
    admin_key: TSecretStrValue | None = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
) -> list[DltResource]:
    """OpenAI usage (every usage endpoint, see ENDPOINTS) and costs for UTC days [start, end].

    `start` None resumes from the last loaded day minus TOKENLEDGER_LOOKBACK_DAYS; `end` None
    means today (UTC). The admin key comes from `admin_key` (dlt secrets:
    `sources.openai.admin_key`) or `OPENAI_ADMIN_KEY`; the base URL from `base_url` or
    `OPENAI_BASE_URL`. Nothing is read from the environment until the resources run.
    """
    register_secret(admin_key)
    return [_resource(ep, start, end, admin_key, base_url) for ep in ENDPOINTS]
