"""Azure OpenAI as Azure Cost Management's Query API serves it (billed in EUR).

Two teams run Azure OpenAI accounts (`Microsoft.CognitiveServices/accounts`) in their own
subscriptions, each in two regions, under one billing account whose currency is **EUR**. Azure
meters tokens per model × direction × deployment type ("gpt-4o-0806 Inp glbl 1M Tokens"; exact
meter names are unconfirmed, see reference/provider_apis.md §5), with daily cost in the
billing currency as floats with many decimals.

`POST /{scope}/providers/Microsoft.CostManagement/query?api-version=...` (scope: the billing
account `providers/Microsoft.Billing/billingAccounts/{id}` or one `subscriptions/{id}`):
bearer auth, the request body echoed into a columnar answer (`columns` + positional `rows`,
`UsageDate` an integer yyyymmdd), ≤ 2 groupings and ≤ 2 aggregations, `nextLink` with a
`$skiptoken` that must be re-POSTed with the same body, 429 with the
`x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers (a client that retries before
the longest of them gets another 429), ARM error bodies.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import numpy as np
import pandas as pd

from simulator.world import World, register_truth

PROVIDER = "azure_openai"
BILLING_CURRENCY = "EUR"
TOKEN_PREFIX = "eyJ"  # an Entra ID access token is a JWT
SIM_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.c2ltdWxhdG9y.sim"
PAGE_ROWS = 1000
"""Rows per page before a `nextLink` (tests lower it to exercise pagination)."""
RESOURCE_TYPE = "microsoft.cognitiveservices/accounts"
RATE_LIMIT_PREFIX = "x-ms-ratelimit-microsoft.costmanagement-"

# model (as in the meter) -> {direction: EUR per 1M tokens}
MODELS = {
    "gpt-4o-0806": {"Inp": 2.29, "cchd Inp": 1.15, "Outp": 9.17},
    "gpt-4o-mini-0718": {"Inp": 0.14, "cchd Inp": 0.07, "Outp": 0.55},
}
DIRECTION_TOKEN_TYPE = {"Inp": "input", "cchd Inp": "cached_input", "Outp": "output"}
DIRECTION_SHARE = {"Inp": 1.0, "cchd Inp": 0.3, "Outp": 0.22}
# team -> ([(region, deployment type)], models, daily input tokens)
TEAMS = {
    "support": (
        [("swedencentral", "dzone"), ("eastus2", "glbl")],
        ("gpt-4o-0806", "gpt-4o-mini-0718"),
        60_000_000,
    ),
    "platform": (
        [("westeurope", "dzone"), ("eastus2", "glbl")],
        ("gpt-4o-mini-0718",),
        220_000_000,
    ),
}
DIMENSIONS = {
    "ResourceId": "resource_id",
    "ResourceLocation": "region",
    "Meter": "meter",
    "MeterSubCategory": "meter_subcategory",
    "MeterCategory": "meter_category",
    "SubscriptionId": "subscription_id",
    "ResourceGroupName": "resource_group",
    "ResourceGroup": "resource_group",
    "ResourceType": "resource_type",
    "ServiceName": "meter_category",
    "MeterId": "meter_id",
}
AGGREGATES = {"Cost": "cost_nano", "PreTaxCost": "cost_nano", "UsageQuantity": "quantity_micro"}


def meter_name(model: str, direction: str, deployment: str) -> str:
    """The meter an Azure OpenAI model's token direction bills under."""
    return f"{model} {direction} {deployment} 1M Tokens"


@dataclass
class AzureBilling:
    """The Azure billing account of one world: its usage rows and the query cursors served."""

    billing_account_id: str
    subscriptions: dict[str, str]  # team -> subscription id
    rows: pd.DataFrame
    lock: threading.RLock = field(default_factory=threading.RLock)
    blocked_until: float = 0.0
    early_retries: int = 0
    rate_limited: int = 0
    queries: int = 0


_BILLING: weakref.WeakKeyDictionary[World, AzureBilling] = weakref.WeakKeyDictionary()
_BUILD_LOCK = threading.Lock()


def billing_of(world: World) -> AzureBilling:
    """The (cached) Azure billing data of `world`."""
    with _BUILD_LOCK:
        billing = _BILLING.get(world)
        if billing is None:
            billing = _BILLING[world] = _build(world)
        return billing


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _build(world: World) -> AzureBilling:
    rng = np.random.default_rng(np.random.PCG64([world.seed, 0xA2E]))
    billing_account = f"{_uuid(rng)}:{_uuid(rng)}_2019-05-31"
    subscriptions = {team: _uuid(rng) for team in TEAMS}
    parts = []
    for team, (regions, models, base) in TEAMS.items():
        sub = subscriptions[team]
        rg = f"rg-{team}-ai"
        for r_index, (region, deployment) in enumerate(regions):
            account = f"aoai-{team}-{region}"
            resource_id = (
                f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                f"Microsoft.CognitiveServices/accounts/{account}"
            )
            for m_index, model in enumerate(models):
                daily = base / (1 + r_index) / (1 + 3 * m_index)
                noise = np.exp(rng.normal(0.0, 0.12, size=world.days))
                per_day = daily * world._season * np.exp(rng.normal(0.4, 0.2) * world._t) * noise
                for direction, price in MODELS[model].items():
                    tokens = per_day * DIRECTION_SHARE[direction]
                    tokens = tokens * np.exp(rng.normal(0, 0.1, size=world.days))
                    tokens = np.rint(tokens).astype(np.int64)
                    meter = meter_name(model, direction, deployment)
                    parts.append(
                        pd.DataFrame(
                            {
                                "day": np.arange(world.days),
                                "team": team,
                                "subscription_id": sub,
                                "resource_group": rg,
                                "resource_id": resource_id,
                                "resource_type": RESOURCE_TYPE,
                                "region": region,
                                "meter": meter,
                                "meter_id": str(uuid.uuid5(uuid.NAMESPACE_URL, meter)),
                                "meter_category": "Foundry Models",
                                "meter_subcategory": "Azure OpenAI",
                                "model": model,
                                "token_type": DIRECTION_TOKEN_TYPE[direction],
                                "tokens": tokens,
                                # UsageQuantity in "1M Tokens": micro-units are tokens
                                "quantity_micro": tokens,
                                # nano-EUR per token = EUR per 1M tokens × 1000
                                "cost_nano": tokens * int(round(price * 1000)),
                            }
                        )
                    )
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows["tokens"] > 0].sort_values(["day", "resource_id", "meter"], kind="stable")
    return AzureBilling(billing_account, subscriptions, rows.reset_index(drop=True))


def restate_day(world: World, date: dt.date, factor: float) -> None:
    """Azure revises a past day (cost data settles for up to ~72 h): every number × factor."""
    day = (date - world.start).days
    billing = billing_of(world)
    with billing.lock:
        f = billing.rows
        sel = f["day"] == day
        f.loc[sel, "tokens"] = np.rint(f.loc[sel, "tokens"] * factor).astype(np.int64)
        f.loc[sel, "quantity_micro"] = f.loc[sel, "tokens"]
        per_token = f.loc[sel, "meter"].map(
            lambda m: int(round(MODELS[m.split(" ")[0]][_direction(m)] * 1000))
        )
        f.loc[sel, "cost_nano"] = f.loc[sel, "tokens"] * per_token


def _direction(meter: str) -> str:
    parts = meter.split(" ")
    return " ".join(parts[1:-3])


def truth(world: World, first: int, last: int) -> pd.DataFrame:
    """Ground truth in EUR: Σ cost per UTC day × subscription × model × token type."""
    billing = billing_of(world)
    with billing.lock:
        f = billing.rows[(billing.rows["day"] >= first) & (billing.rows["day"] <= last)]
        g = f.groupby(["day", "subscription_id", "model", "token_type"], as_index=False)[
            "cost_nano"
        ].sum()
    return pd.DataFrame(
        {
            "provider": PROVIDER,
            "date": [world.date_of(d) for d in g["day"]],
            "sub_account_id": g["subscription_id"].to_numpy(dtype=object),
            "api_key_id": None,
            "model": g["model"].to_numpy(dtype=object),
            "token_type": g["token_type"].to_numpy(dtype=object),
            "service_tier": None,
            "billed_cost_nano": g["cost_nano"].to_numpy(dtype=np.int64),
            "billing_currency": BILLING_CURRENCY,
        }
    )


register_truth(PROVIDER, truth)


# ------------------------------------------------------------------------------ the Query API
class QueryError(Exception):
    """An ARM-style error response."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def _number(nano: int, scale: int) -> str:
    """An integer amount of 10^-scale units as JSON number text (many decimals, as Azure)."""
    sign = "-" if nano < 0 else ""
    q, r = divmod(abs(int(nano)), 10**scale)
    return f"{sign}{q}.{r:0{scale}d}"


def _parse_time(value: Any, name: str) -> dt.date:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()
    except ValueError as exc:
        raise QueryError(400, "BadRequest", f"Invalid {name}: {value!r}") from exc


def _scope_filter(world: World, scope: str) -> str | None:
    """The subscription a scope restricts to (None = the whole billing account)."""
    billing = billing_of(world)
    parts = scope.strip("/").split("/")
    if len(parts) == 2 and parts[0].lower() == "subscriptions":
        if parts[1] not in billing.subscriptions.values():
            raise QueryError(404, "SubscriptionNotFound", f"Subscription {parts[1]} not found.")
        return parts[1]
    if len(parts) == 4 and [p.lower() for p in parts[:3]] == [
        "providers",
        "microsoft.billing",
        "billingaccounts",
    ]:
        if parts[3] != billing.billing_account_id:
            raise QueryError(
                404, "BillingAccountNotFound", f"Billing account {parts[3]} not found."
            )
        return None
    raise QueryError(400, "BadRequest", f"Unsupported scope {scope!r} in the simulator.")


def run_query(world: World, scope: str, body: dict) -> tuple[list[dict], list[list[str]]]:
    """Columns and rows (cells as JSON text) of a Query API request body."""
    if body.get("type") not in ("Usage", "ActualCost", "AmortizedCost"):
        raise QueryError(400, "BadRequest", f"Invalid query type {body.get('type')!r}.")
    if body.get("timeframe") != "Custom":
        raise QueryError(400, "BadRequest", "The simulator serves timeframe 'Custom' only.")
    period = body.get("timePeriod") or {}
    if "from" not in period or "to" not in period:
        raise QueryError(400, "BadRequest", "timePeriod.from and timePeriod.to are required.")
    first = _parse_time(period["from"], "timePeriod.from")
    last = _parse_time(period["to"], "timePeriod.to")
    if last < first:
        raise QueryError(400, "BadRequest", "timePeriod.to must not be before timePeriod.from.")
    dataset = body.get("dataset") or {}
    granularity = dataset.get("granularity", "None")
    if granularity not in ("Daily", "None"):
        raise QueryError(400, "BadRequest", f"Granularity {granularity!r} is not supported here.")
    aggregation = dataset.get("aggregation") or {}
    grouping = dataset.get("grouping") or []
    if len(aggregation) > 2:
        raise QueryError(400, "BadRequest", "A query can have at most 2 aggregations.")
    if len(grouping) > 2:
        raise QueryError(400, "BadRequest", "A query can have at most 2 group by clauses.")
    aggs = []
    for alias, spec in aggregation.items():
        if spec.get("function") != "Sum" or spec.get("name") not in AGGREGATES:
            raise QueryError(400, "BadRequest", f"Invalid aggregation {alias!r}: {spec!r}.")
        # the answer's column is named for the aggregated column, not the alias
        aggs.append((spec["name"], AGGREGATES[spec["name"]]))
    groups = []
    for g in grouping:
        if g.get("type") != "Dimension" or g.get("name") not in DIMENSIONS:
            raise QueryError(400, "BadRequest", f"Invalid grouping {g!r}.")
        groups.append((g["name"], DIMENSIONS[g["name"]]))

    billing = billing_of(world)
    subscription = _scope_filter(world, scope)
    lo, hi = (first - world.start).days, (last - world.start).days
    with billing.lock:
        f = billing.rows[(billing.rows["day"] >= lo) & (billing.rows["day"] <= hi)]
        if subscription is not None:
            f = f[f["subscription_id"] == subscription]
        flt = (dataset.get("filter") or {}).get("dimensions")
        if flt:
            col = DIMENSIONS.get(flt.get("name"))
            if col is None or flt.get("operator") != "In":
                raise QueryError(400, "BadRequest", f"Invalid filter {flt!r}.")
            values = {str(v).lower() for v in flt.get("values", [])}
            f = f[f[col].str.lower().isin(values)]
        keys = (["day"] if granularity == "Daily" else []) + [c for _, c in groups]
        metrics = sorted({c for _, c in aggs})
        if keys:
            g = f.groupby(keys, as_index=False, sort=True)[metrics].sum()
        else:
            g = f[metrics].sum().to_frame().T
    columns = [{"name": alias, "type": "Number"} for alias, _ in aggs]
    if granularity == "Daily":
        columns.append({"name": "UsageDate", "type": "Number"})
    columns += [{"name": name, "type": "String"} for name, _ in groups]
    columns.append({"name": "Currency", "type": "String"})
    dates = [int(world.date_of(d).strftime("%Y%m%d")) for d in range(world.days)]
    rows = []
    for rec in g.to_dict("records"):
        cells = []
        for _, col in aggs:
            cells.append(_number(rec[col], 9 if col == "cost_nano" else 6))
        if granularity == "Daily":
            cells.append(str(dates[int(rec["day"])]))
        cells += [json.dumps(rec[col]) for _, col in groups]
        cells.append(json.dumps(BILLING_CURRENCY))
        rows.append(cells)
    return columns, rows


def _body_digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _skiptoken(offset: int, body: dict) -> str:
    return quote(base64.b64encode(f"{offset}:{_body_digest(body)}".encode()).decode(), safe="")


def _rate_limit_headers(wait: int) -> dict[str, str]:
    """Azure's throttling headers: three retry-afters (wait for the longest) and QPU counts."""
    return {
        f"{RATE_LIMIT_PREFIX}qpu-retry-after": str(max(wait // 2, 0)),
        f"{RATE_LIMIT_PREFIX}entity-retry-after": str(wait),
        f"{RATE_LIMIT_PREFIX}tenant-retry-after": str(max(wait - 1, 0)),
        f"{RATE_LIMIT_PREFIX}qpu-consumed": "12",
        f"{RATE_LIMIT_PREFIX}qpu-remaining": "0",
        "x-ms-request-id": str(uuid.uuid4()),
    }


def handle_query(handler: Any) -> None:
    """Serve one Query API call; a simulator bug still answers (500), never hangs a client."""
    try:
        _handle_query(handler)
    except Exception as exc:  # noqa: BLE001
        handler._send(
            500, json.dumps({"error": {"code": "InternalServerError", "message": repr(exc)}})
        )


def _handle_query(handler: Any) -> None:
    """Serve one `POST .../providers/Microsoft.CostManagement/query` on the simulator server
    (`handler` is its BaseHTTPRequestHandler; faults come from the server's fault config)."""
    state = handler.server.state
    world: World = state.world
    url = urlsplit(handler.path)
    path = url.path.rstrip("/")
    params = parse_qs(url.query, keep_blank_values=True)
    scope = path[: -len("/providers/Microsoft.CostManagement/query")].strip("/")
    billing = billing_of(world)

    def send(status: int, payload: dict, headers: dict | None = None) -> None:
        request_id = {"x-ms-request-id": str(uuid.uuid4())}
        handler._send(status, json.dumps(payload), request_id | (headers or {}))

    def error(err: QueryError) -> None:
        send(err.status, {"error": {"code": err.code, "message": err.message}}, err.headers)

    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    try:
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("Bearer " + TOKEN_PREFIX):
            raise QueryError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or invalid.",
            )
        if not params.get("api-version"):
            raise QueryError(
                400, "MissingApiVersionParameter", "The api-version query parameter is required."
            )
        with billing.lock:
            now = time.monotonic()
            billing.queries += 1
            if now < billing.blocked_until:
                billing.early_retries += 1
                wait = int(billing.blocked_until - now) + 1
                raise QueryError(
                    429, "429", "Too many requests. Please retry.", _rate_limit_headers(wait)
                )
        n = state.next_request()
        f = state.faults
        if f.slow_ms:
            time.sleep(f.slow_ms / 1000)
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            wait = int(f.retry_after or 1)
            with billing.lock:
                billing.rate_limited += 1
                billing.blocked_until = time.monotonic() + wait
            raise QueryError(
                429, "429", "Too many requests. Please retry.", _rate_limit_headers(wait)
            )
        if f.server_error_every and n % f.server_error_every == 0:
            raise QueryError(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable (simulated).",
                {"Retry-After": "1"},
            )
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            raise QueryError(400, "BadRequest", f"Invalid JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise QueryError(400, "BadRequest", "The request body must be a query definition.")
        columns, rows = run_query(world, scope, body)
        offset = 0
        token = (params.get("$skiptoken") or [None])[0]
        if token:
            try:
                raw_offset, digest = base64.b64decode(token).decode().split(":")
                offset = int(raw_offset)
            except (ValueError, UnicodeDecodeError) as exc:
                raise QueryError(400, "BadRequest", "Invalid $skiptoken.") from exc
            if digest != _body_digest(body):
                raise QueryError(
                    400, "BadRequest", "The $skiptoken does not belong to this query body."
                )
    except QueryError as err:
        return error(err)
    if not rows:  # Azure answers a query without cost with 204 No Content
        handler.send_response(204)
        handler.send_header("x-ms-request-id", str(uuid.uuid4()))
        handler.end_headers()
        return
    page = rows[offset : offset + PAGE_ROWS]
    next_link = None
    if offset + PAGE_ROWS < len(rows):
        host = handler.headers.get("Host", "127.0.0.1")
        api_version = params["api-version"][0]
        next_link = (
            f"http://{host}/{scope}/providers/Microsoft.CostManagement/query"
            f"?api-version={api_version}&$skiptoken={_skiptoken(offset + PAGE_ROWS, body)}"
        )
    query_id = str(uuid.uuid4())
    rows_text = ",".join("[" + ",".join(r) + "]" for r in page)
    payload = (
        f'{{"id":"{scope}/providers/Microsoft.CostManagement/query/{query_id}",'
        f'"name":"{query_id}","type":"microsoft.costmanagement/Query","location":null,'
        f'"sku":null,"eTag":null,"properties":{{"nextLink":{json.dumps(next_link)},'
        f'"columns":{json.dumps(columns)},"rows":[{rows_text}]}}}}'
    )
    if f.malformed_every and n % f.malformed_every == 0:
        payload = payload[: max(1, len(payload) // 2)]
    handler._send(200, payload, {"x-ms-request-id": str(uuid.uuid4())})
