"""dlt source for Anthropic's Admin API usage and cost reports (admin key).

Business purpose: land what Anthropic bills (cost report, **cents** as decimal text) and what it
metered (messages usage by token kind) per UTC day, workspace, API key and model, raw, so the
dbt layer can price, reconcile and allocate it. Grain: one row per daily bucket × result (the
API's group_by). See README.md beside this file for endpoints, units and quirks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dlt
import httpx
import pyarrow as pa
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from ingestion.common import (
    MERGE_HINTS,
    ResponseLike,
    TableSpec,
    TransportFailure,
    advance_state,
    day_start_rfc3339,
    read_bucket_pages,
    register_secret,
    require_admin_key,
    resource_day_window,
    rfc3339_to_day,
)

PROVIDER = "anthropic"
ADMIN_KEY_ENV = "ANTHROPIC_ADMIN_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
ORGANIZATION_HEADER = "anthropic-organization-id"
REQUEST_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

_STR, _INT = pa.string(), pa.int64()
_BUCKET = {"starting_at": _STR, "ending_at": _STR}


@dataclass(frozen=True)
class Endpoint:
    """One Anthropic admin endpoint and how its results land."""

    resource: str
    path: str
    group_by: tuple[str, ...]
    spec: TableSpec
    limit: int = 31
    decimals_as_text: bool = False


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        resource="usage_messages",
        path="/v1/organizations/usage_report/messages",
        group_by=("api_key_id", "workspace_id", "model", "service_tier", "context_window"),
        spec=TableSpec(
            columns={
                **_BUCKET,
                "uncached_input_tokens": _INT,
                "cache_read_input_tokens": _INT,
                "cache_creation__ephemeral_5m_input_tokens": _INT,
                "cache_creation__ephemeral_1h_input_tokens": _INT,
                "output_tokens": _INT,
                "server_tool_use__web_search_requests": _INT,
                "api_key_id": _STR,
                "workspace_id": _STR,
                "model": _STR,
                "service_tier": _STR,
                "context_window": _STR,
            },
            grain=("api_key_id", "workspace_id", "model", "service_tier", "context_window"),
        ),
    ),
    Endpoint(
        resource="cost_report",
        path="/v1/organizations/cost_report",
        group_by=("workspace_id", "description"),
        spec=TableSpec(
            columns={
                **_BUCKET,
                "amount": _STR,
                "currency": _STR,
                "workspace_id": _STR,
                "description": _STR,
                "cost_type": _STR,
                "model": _STR,
                "service_tier": _STR,
                "token_type": _STR,
                "context_window": _STR,
            },
            # description is the grouped field; the parsed fields repeat it, and keep the key
            # distinct should the API ever split one description by them
            grain=(
                "workspace_id",
                "description",
                "cost_type",
                "model",
                "service_tier",
                "token_type",
                "context_window",
            ),
        ),
        decimals_as_text=True,
    ),
)


def _client(admin_key: str, base_url: str) -> httpx.Client:
    """An HTTP client with the admin-API headers; retries are the common policy's."""
    return httpx.Client(
        base_url=base_url,
        headers={"x-api-key": admin_key, "anthropic-version": API_VERSION},
        timeout=REQUEST_TIMEOUT,
    )


def _sender(client: httpx.Client, path: str, params: dict[str, Any]) -> Callable[[], ResponseLike]:
    """A no-argument GET for the retry loop: the HTTP response, error statuses included."""

    def send() -> ResponseLike:
        try:
            return client.get(path, params=params)
        except httpx.TransportError as exc:
            raise TransportFailure(type(exc).__name__) from None

    return send


def fetch_endpoint(
    client: httpx.Client, endpoint: Endpoint, first: date, last: date
) -> Iterator[pa.Table]:
    """Arrow tables, one per page, of `endpoint`'s daily buckets for UTC days [first, last],
    following `next_page` until `has_more` is false. Array params use brackets (`group_by[]`).
    """
    params: dict[str, Any] = {
        "starting_at": day_start_rfc3339(first),
        "ending_at": day_start_rfc3339(last + timedelta(days=1)),  # buckets ending by then
        "bucket_width": "1d",
        "limit": endpoint.limit,
        "group_by[]": list(endpoint.group_by),
    }

    yield from read_bucket_pages(
        lambda page_params: _sender(client, endpoint.path, page_params),
        params,
        endpoint.spec,
        provider=PROVIDER,
        endpoint=endpoint.path,
        decimals_as_text=endpoint.decimals_as_text,
        bucket_fields=("starting_at", "ending_at"),
        bucket_day=rfc3339_to_day,
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
def anthropic_source(
    start: date | None = None,
    end: date | None = None,
    admin_key: TSecretStrValue | None = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
) -> list[DltResource]:
    """Anthropic messages usage and cost report for the UTC days [start, end].

    `start` None resumes from the last loaded day minus TOKENLEDGER_LOOKBACK_DAYS; `end` None
    means today (UTC). The admin key comes from `admin_key` (dlt secrets:
    `sources.anthropic.admin_key`) or `ANTHROPIC_ADMIN_KEY`; the base URL from `base_url` or
    `ANTHROPIC_BASE_URL` (default https://api.anthropic.com). Nothing is read from the
    environment until the resources run.
    """
    register_secret(admin_key)
    return [_resource(ep, start, end, admin_key, base_url) for ep in ENDPOINTS]
