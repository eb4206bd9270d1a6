"""dlt source for OpenCost's Allocation API (`GET /allocation`): Kubernetes cost per pod.

Business purpose: land what a GPU / Kubernetes cluster costs per UTC day, cluster, namespace
and pod — GPU, CPU and RAM hours and their cost — plus the cluster's `__idle__` capacity cost,
raw, so self-hosted inference and training sit in the same cost table as the API bills and
idle cost stays visible until it is shared by a stated rule (dbt). Grain: one row per daily
allocation set × allocation (the `aggregate` key). See README.md beside this file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import dlt
import httpx
import pyarrow as pa
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from ingestion.common import (
    MERGE_HINTS,
    Page,
    ProviderAPIError,
    ResponseLike,
    TableSpec,
    TransportFailure,
    advance_state,
    buckets_to_arrow,
    day_start_rfc3339,
    fetch_json_page,
    register_secret,
    resource_day_window,
    rfc3339_to_day,
)

log = logging.getLogger("ingestion")

PROVIDER = "opencost"
BASE_URL_ENV = "OPENCOST_BASE_URL"
USERNAME_ENV = "OPENCOST_USERNAME"
PASSWORD_ENV = "OPENCOST_PASSWORD"
BEARER_TOKEN_ENV = "OPENCOST_BEARER_TOKEN"
DEFAULT_PORT_FORWARD_URL = "http://localhost:9003"
"""Where `kubectl -n opencost port-forward service/opencost 9003` puts the API (docs only)."""
ALLOCATION_PATH = "/allocation"
AGGREGATE = "cluster,namespace,pod"
WINDOW_DAYS = 7
"""Days per request (one daily set each, `step=1d`): OpenCost answers big windows slowly."""
REQUEST_TIMEOUT = httpx.Timeout(300.0, connect=10.0)

NESTED_AS_JSON = ("labels", "namespaceLabels", "annotations", "services")
"""Properties kept as one JSON text column each (sorted keys), not a column per label."""
RESULT_AS_JSON = ("pvs", "rawAllocationOnly", "proportionalAssetResourceCosts",
                  "sharedCostBreakdown", "lbAllocations")  # fmt: skip

_STR = _F = pa.string()  # decimals land as text, exactly as served
SPEC = TableSpec(
    columns={
        "window_start": _STR,
        "window_end": _STR,
        "name": _STR,
        "start": _STR,
        "end": _STR,
        "minutes": _F,
        "properties__cluster": _STR,
        "properties__node": _STR,
        "properties__namespace": _STR,
        "properties__pod": _STR,
        "properties__controller": _STR,
        "properties__controllerKind": _STR,
        "properties__container": _STR,
        "properties__providerID": _STR,
        "properties__labels": _STR,
        "properties__namespaceLabels": _STR,
        **{
            f: _F
            for f in (
                "cpuCores",
                "cpuCoreHours",
                "cpuCost",
                "cpuCostAdjustment",
                "gpuCount",
                "gpuHours",
                "gpuCost",
                "gpuCostAdjustment",
                "ramBytes",
                "ramByteHours",
                "ramCost",
                "ramCostAdjustment",
                "pvByteHours",
                "pvCost",
                "pvCostAdjustment",
                "networkCost",
                "networkCostAdjustment",
                "loadBalancerCost",
                "loadBalancerCostAdjustment",
                "sharedCost",
                "externalCost",
                "totalCost",
            )
        },
    },  # fmt: skip
    grain=("name",),
)


def _auth_headers(
    username: str | None, password: str | None, bearer_token: str | None
) -> tuple[dict[str, str], httpx.Auth | None]:
    """No auth (OpenCost's default), HTTP basic, or a bearer token for an auth proxy."""
    if bearer_token:
        register_secret(bearer_token)
        return {"Authorization": f"Bearer {bearer_token}"}, None
    if username and password:
        register_secret(password)
        return {}, httpx.BasicAuth(username, password)
    return {}, None


def _client(base_url: str, headers: Mapping[str, str], auth: httpx.Auth | None) -> httpx.Client:
    """An HTTP client for the OpenCost API; retries are the common policy's."""
    return httpx.Client(
        base_url=base_url.rstrip("/"), headers=dict(headers), auth=auth, timeout=REQUEST_TIMEOUT
    )


def _sender(client: httpx.Client, params: dict[str, Any]) -> Callable[[], ResponseLike]:
    """A no-argument GET for the retry loop: the HTTP response, error statuses included."""

    def send() -> ResponseLike:
        try:
            return client.get(ALLOCATION_PATH, params=params)
        except httpx.TransportError as exc:
            raise TransportFailure(type(exc).__name__) from None

    return send


def allocation_params(first: date, last: date) -> dict[str, str]:
    """Query of one request: UTC days [first, last] as daily sets, idle kept separate."""
    return {
        "window": f"{day_start_rfc3339(first)},{day_start_rfc3339(last + timedelta(days=1))}",
        "step": "1d",
        "accumulate": "false",
        "aggregate": AGGREGATE,
        "idle": "true",
        "shareIdle": "false",
        "idleByNode": "false",
    }


def _flat_allocation(allocation: Mapping[str, Any]) -> dict[str, Any]:
    """An allocation with labels/annotations and nested breakdowns as JSON text."""
    row = {k: v for k, v in allocation.items() if k != "window"}
    props = dict(row.get("properties") or {})
    for key in NESTED_AS_JSON:
        if key in props:
            props[key] = json.dumps(props[key], sort_keys=True) if props[key] else None
    row["properties"] = props
    for key in RESULT_AS_JSON:
        if key in row and row[key] is not None:
            row[key] = json.dumps(row[key], sort_keys=True)
    return row


def sets_to_buckets(data: list[Any]) -> list[dict[str, Any]]:
    """The `data` list (one set per step: name → allocation) as buckets of results.

    A set's window is its allocations' `window` (all equal within a set); an allocation's own
    `start`/`end` is when it ran within that window. Null or empty sets are skipped.
    """
    buckets = []
    for allocation_set in data:
        if not allocation_set:
            continue
        if not isinstance(allocation_set, dict):
            raise ValueError(f"allocation set is not an object: {str(allocation_set)[:80]}")
        results = []
        window: dict[str, Any] = {}
        for name, allocation in allocation_set.items():
            if not isinstance(allocation, dict):
                raise ValueError(f"allocation {name!r} is not an object")
            window = allocation.get("window") or window
            results.append({"name": name, **_flat_allocation(allocation)})
        buckets.append(
            {
                "window_start": window.get("start"),
                "window_end": window.get("end"),
                "results": results,
            }
        )
    return buckets


def fetch_allocations(client: httpx.Client, first: date, last: date) -> Iterator[pa.Table]:
    """Arrow tables, one per request of ≤ WINDOW_DAYS days, of the daily allocation sets of
    UTC days [first, last]."""
    day = first
    while day <= last:
        chunk_last = min(day + timedelta(days=WINDOW_DAYS - 1), last)
        page: Page = fetch_json_page(
            _sender(client, allocation_params(day, chunk_last)),
            provider=PROVIDER,
            endpoint=ALLOCATION_PATH,
            parse_float=str,
        )
        try:
            buckets = sets_to_buckets(page.body["data"])
        except ValueError as exc:
            raise ProviderAPIError(
                PROVIDER, ALLOCATION_PATH, "malformed body", 1, str(exc)
            ) from None
        table = buckets_to_arrow(
            buckets,
            SPEC,
            bucket_fields=("window_start", "window_end"),
            bucket_day=rfc3339_to_day,
            billing_account_id=None,
            day_range=(day, chunk_last),
        )
        if table is not None:
            yield table
        day = chunk_last + timedelta(days=1)


@dlt.source(name=PROVIDER, max_table_nesting=0)
def opencost_source(
    start: date | None = None,
    end: date | None = None,
    base_url: str | None = dlt.config.value,
    username: str | None = dlt.config.value,
    password: TSecretStrValue | None = dlt.secrets.value,
    bearer_token: TSecretStrValue | None = dlt.secrets.value,
) -> DltResource:
    """OpenCost allocations (per cluster, namespace and pod, idle separate) for UTC days
    [start, end].

    `start` None resumes from the last loaded day minus TOKENLEDGER_LOOKBACK_DAYS; `end` None
    means today (UTC). The URL comes from `base_url` or `OPENCOST_BASE_URL` (e.g.
    http://localhost:9003 after `kubectl -n opencost port-forward service/opencost 9003`);
    unset, the resource reads nothing (the provider is not configured). Auth is none unless
    `OPENCOST_BEARER_TOKEN` or `OPENCOST_USERNAME` + `OPENCOST_PASSWORD` are set.
    """
    register_secret(password)
    register_secret(bearer_token)

    def allocations() -> Iterator[pa.Table]:
        url = base_url or os.environ.get(BASE_URL_ENV)
        if not url:  # not configured (e.g. a Dagster run of every provider): nothing to read
            log.warning("opencost: %s is not set; no allocations read", BASE_URL_ENV)
            return
        headers, auth = _auth_headers(
            username or os.environ.get(USERNAME_ENV),
            password or os.environ.get(PASSWORD_ENV),
            bearer_token or os.environ.get(BEARER_TOKEN_ENV),
        )
        state, first, last, today = resource_day_window(start, end)
        with _client(url, headers, auth) as client:
            yield from fetch_allocations(client, first, last)
        advance_state(state, last, today)

    return dlt.resource(allocations, name="allocations", **MERGE_HINTS)
