"""dlt source for Azure OpenAI cost through Azure Cost Management's Query API.

Business purpose: land what Azure bills for Azure OpenAI (daily cost in the billing account's
currency, e.g. EUR, and usage quantity) per UTC day × Azure OpenAI account (ARM resource id) ×
meter (model × direction × deployment type), raw, so the dbt layer can conform, convert and
reconcile it. Grain: one row per Query API row (UsageDate × ResourceId × Meter).
See README.md beside this file for endpoints, units, quirks and credentials.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dlt
import httpx
import pyarrow as pa
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from ingestion.common import (
    BILLING_ACCOUNT,
    BUCKET_DATE,
    DEFAULT_RETRY_POLICY,
    MERGE_HINTS,
    RETRYABLE_STATUS,
    ROW_KEY,
    MissingCredentials,
    ProviderAPIError,
    RetryPolicy,
    _error_detail,
    advance_state,
    log,
    register_secret,
    resource_day_window,
    retry_after_seconds,
    row_keys,
    to_arrow_array,
)

PROVIDER = "azure_openai"
TOKEN_ENV = "AZURE_COST_ACCESS_TOKEN"
SCOPE_ENV = "AZURE_COST_SCOPE"
BASE_URL_ENV = "AZURE_MANAGEMENT_URL"
DEFAULT_BASE_URL = "https://management.azure.com"
API_VERSION = "2023-11-01"
RESOURCE_TYPE = "microsoft.cognitiveservices/accounts"
MAX_DAYS_PER_QUERY = 31  # Daily granularity: about a month per query (Microsoft tooling)
REQUEST_TIMEOUT_S = 120.0
RATE_LIMIT_RETRY_HEADERS = tuple(
    f"x-ms-ratelimit-microsoft.costmanagement-{kind}-retry-after"
    for kind in ("qpu", "entity", "tenant", "client")
)

_STR, _INT = pa.string(), pa.int64()


@dataclass(frozen=True)
class QuerySpec:
    """One Query API request shape and the raw table it lands in."""

    resource: str
    aggregation: dict[str, dict[str, str]]
    grouping: tuple[str, ...]
    columns: dict[str, pa.DataType]  # landed column (snake_case) -> Arrow type


# Query API column name -> landed column name (dlt would snake_case them anyway; we say so)
COLUMN_NAMES = {
    "Cost": "cost",
    "PreTaxCost": "pre_tax_cost",
    "UsageQuantity": "usage_quantity",
    "UsageDate": "usage_date",
    "ResourceId": "resource_id",
    "ResourceLocation": "resource_location",
    "Meter": "meter",
    "Currency": "currency",
}

QUERIES: tuple[QuerySpec, ...] = (
    QuerySpec(
        resource="cost_by_meter",
        aggregation={
            "totalCost": {"name": "Cost", "function": "Sum"},
            "totalQuantity": {"name": "UsageQuantity", "function": "Sum"},
        },
        grouping=("ResourceId", "Meter"),
        columns={
            "cost": _STR,
            "usage_quantity": _STR,
            "usage_date": _INT,
            "resource_id": _STR,
            "meter": _STR,
            "currency": _STR,
        },
    ),
    # ≤ 2 groupings per query: the region of each account comes from a second query
    QuerySpec(
        resource="resource_locations",
        aggregation={"totalQuantity": {"name": "UsageQuantity", "function": "Sum"}},
        grouping=("ResourceId", "ResourceLocation"),
        columns={
            "usage_quantity": _STR,
            "usage_date": _INT,
            "resource_id": _STR,
            "resource_location": _STR,
            "currency": _STR,
        },
    ),
)


def query_body(spec: QuerySpec, first: date, last: date) -> dict[str, Any]:
    """The Query API body for UTC days [first, last]: daily actual cost of Azure OpenAI
    accounts, grouped by the spec's two dimensions."""
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {"from": f"{first}T00:00:00Z", "to": f"{last}T23:59:59Z"},
        "dataset": {
            "granularity": "Daily",
            "aggregation": spec.aggregation,
            "grouping": [{"type": "Dimension", "name": name} for name in spec.grouping],
            "filter": {
                "dimensions": {"name": "ResourceType", "operator": "In", "values": [RESOURCE_TYPE]}
            },
        },
    }


def query_windows(first: date, last: date, days: int = MAX_DAYS_PER_QUERY):
    """[first, last] cut into consecutive windows of at most `days` days."""
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=days - 1))
        yield start, end
        start = end + timedelta(days=1)


def azure_retry_after(headers: httpx.Headers | dict[str, str]) -> float | None:
    """Seconds to wait after a throttled call: the LONGEST of Azure Cost Management's
    `x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers, else `Retry-After`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    waits = []
    for name in RATE_LIMIT_RETRY_HEADERS:
        value = lowered.get(name)
        if value is None:
            continue
        try:
            waits.append(float(value))
        except ValueError:
            continue
    if waits:
        return max(waits)
    return retry_after_seconds(lowered)


def post_query(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    *,
    policy: RetryPolicy | None = None,
) -> dict[str, Any]:
    """POST one Query API page and return its JSON, retrying 429/5xx/timeouts/garbled bodies
    with `policy` (ingestion.common); Azure's throttling headers say how long to wait."""
    policy = policy or DEFAULT_RETRY_POLICY
    endpoint = "Microsoft.CostManagement/query"
    status: int | str = "no response"
    detail = ""
    for attempt in range(1, policy.max_attempts + 1):
        wait_hint: float | None = None
        try:
            response = client.post(url, json=body)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            status, detail = "timeout/connection error", type(exc).__name__
        else:
            status = response.status_code
            if status == 204:  # no cost in the period: an empty answer, not an error
                return {"properties": {"columns": [], "rows": [], "nextLink": None}}
            if 200 <= status < 300:
                try:
                    payload = json.loads(response.content, parse_float=str)
                    properties = payload["properties"]
                    if isinstance(properties.get("rows"), list) and isinstance(
                        properties.get("columns"), list
                    ):
                        return payload
                    status, detail = f"HTTP {status} with unexpected body", "no columns/rows"
                except (ValueError, KeyError, TypeError) as exc:
                    status, detail = f"HTTP {status} with malformed JSON", str(exc)[:200]
            else:
                detail = _error_detail(response.content)
                if status not in RETRYABLE_STATUS:
                    raise ProviderAPIError(PROVIDER, endpoint, f"HTTP {status}", attempt, detail)
                wait_hint = azure_retry_after(response.headers)
                status = f"HTTP {status}"
        if attempt == policy.max_attempts:
            break
        wait = policy.delay(attempt, wait_hint)
        log.warning(
            "%s %s: %s (attempt %d/%d), retrying in %.1fs",
            PROVIDER,
            endpoint,
            status,
            attempt,
            policy.max_attempts,
            wait,
        )
        policy.sleep(wait)
    raise ProviderAPIError(PROVIDER, endpoint, status, policy.max_attempts, detail)


def rows_to_arrow(
    payload: dict[str, Any], spec: QuerySpec, billing_account_id: str
) -> pa.Table | None:
    """One page's columnar rows as an Arrow table, columns found by name (never position);
    with `_row_key` (UsageDate + the groupings + currency), `_bucket_date`, `_billing_account_id`.
    Numbers stay the text Azure sent (JSON parsed with numbers as text)."""
    columns = [c["name"] for c in payload["properties"]["columns"]]
    rows = payload["properties"]["rows"]
    if not rows:
        return None
    index = {name: i for i, name in enumerate(columns)}
    missing = [c for c in ("UsageDate", "Currency", *spec.grouping) if c not in index]
    if missing:
        raise ProviderAPIError(PROVIDER, "query", "unexpected columns", 1, f"missing {missing}")
    arrays: dict[str, pa.Array] = {}
    for name, i in index.items():
        landed = COLUMN_NAMES.get(name, name.lower())
        values = [row[i] if i < len(row) else None for row in rows]
        array = to_arrow_array(values, spec.columns.get(landed), landed)
        if array is not None:
            arrays[landed] = array
    n = len(rows)
    for landed, type_ in spec.columns.items():
        if landed not in arrays:
            arrays[landed] = pa.nulls(n, type=type_)
    usage_dates = arrays["usage_date"].to_pylist()
    days = [
        date(int(str(d)[:4]), int(str(d)[4:6]), int(str(d)[6:8])) if d is not None else None
        for d in usage_dates
    ]
    grain = [arrays["usage_date"]] + [arrays[COLUMN_NAMES[g]] for g in spec.grouping]
    grain.append(arrays["currency"])
    fields = [pa.field(name, array.type) for name, array in arrays.items()]
    fields += [
        pa.field(ROW_KEY, pa.string(), nullable=False),
        pa.field(BUCKET_DATE, pa.date32()),
        pa.field(BILLING_ACCOUNT, pa.string()),
    ]
    data = list(arrays.values()) + [
        row_keys(grain),
        pa.array(days, type=pa.date32()),
        pa.array([billing_account_id] * n, type=pa.string()),
    ]
    return pa.Table.from_arrays(data, schema=pa.schema(fields))


def billing_account_of(scope: str) -> str:
    """The billing account (or subscription) id a scope names: its last path segment."""
    return scope.strip("/").split("/")[-1]


def fetch_query(
    client: httpx.Client,
    scope: str,
    spec: QuerySpec,
    first: date,
    last: date,
    policy: RetryPolicy | None = None,
) -> Iterator[pa.Table]:
    """Arrow tables, one per page, of one query over UTC days [first, last]: windows of at
    most a month, each followed through `nextLink` with a re-POST of the same body."""
    url = f"/{scope.strip('/')}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}"
    account = billing_account_of(scope)
    for window_first, window_last in query_windows(first, last):
        body = query_body(spec, window_first, window_last)
        next_url: str | None = url
        seen: set[str] = set()
        while next_url:
            payload = post_query(client, next_url, body, policy=policy)
            table = rows_to_arrow(payload, spec, account)
            if table is not None:
                yield table
            next_url = payload["properties"].get("nextLink") or None
            if next_url in seen:
                raise ProviderAPIError(PROVIDER, "query", "a repeated nextLink", 1, "loop")
            if next_url:
                seen.add(next_url)


def _client(token: str, base_url: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=REQUEST_TIMEOUT_S,
    )


def _require(value: str | None, env: str, what: str) -> str:
    value = value or os.environ.get(env)
    if not value:
        raise MissingCredentials(f"{PROVIDER}: no {what}; set {env}")
    return value


def _resource(
    spec: QuerySpec,
    start: date | None,
    end: date | None,
    access_token: str | None,
    scope: str | None,
    base_url: str | None,
    policy: RetryPolicy | None,
) -> DltResource:
    def read_query() -> Iterator[pa.Table]:
        token = _require(access_token, TOKEN_ENV, "access token")
        register_secret(token)
        the_scope = _require(scope, SCOPE_ENV, "scope")
        url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        state, first, last, today = resource_day_window(start, end)
        with _client(token, url) as client:
            yield from fetch_query(client, the_scope, spec, first, last, policy)
        advance_state(state, last, today)

    return dlt.resource(read_query, name=spec.resource, **MERGE_HINTS)


@dlt.source(name=PROVIDER, max_table_nesting=0)
def azure_openai_source(
    start: date | None = None,
    end: date | None = None,
    access_token: TSecretStrValue | None = dlt.secrets.value,
    scope: str | None = dlt.config.value,
    base_url: str | None = dlt.config.value,
    policy: RetryPolicy | None = None,
) -> list[DltResource]:
    """Azure OpenAI daily cost (billing currency) and account regions for UTC days
    [start, end] from the Cost Management Query API.

    `start` None resumes from the last loaded day minus TOKENLEDGER_LOOKBACK_DAYS (Azure
    settles cost for ~72 h); `end` None means today. Token from `access_token` or
    AZURE_COST_ACCESS_TOKEN, scope from `scope` or AZURE_COST_SCOPE, base URL from `base_url`
    or AZURE_MANAGEMENT_URL. Nothing is read from the environment until the resources run.
    """
    register_secret(access_token)
    return [_resource(spec, start, end, access_token, scope, base_url, policy) for spec in QUERIES]
