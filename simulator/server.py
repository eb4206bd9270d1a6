"""One loopback HTTP server that serves a `World` as OpenAI's and Anthropic's admin usage/cost APIs.

OpenAI under `/v1/organization/...`, Anthropic under `/v1/organizations/...`, and a control
plane under `/_sim/...` (faults, restatements, bad records, ground truth). See
`simulator/README.md` for the contract and `docs/contracts.md` for the seams.

Bucket semantics: a day's usage sits at the instant the UTC day starts. A partial first bucket
that begins mid-day is therefore empty, and a partial last bucket that ends mid-day holds the
whole day.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from simulator import inference, opencost
from simulator.inference import PATHS as INFERENCE_PATHS
from simulator.world import DAY_SECONDS, Table, World

OPENAI_KEY_PREFIX = "sk-admin-"
ANTHROPIC_KEY_PREFIX = "sk-ant-admin"


class ApiError(Exception):
    """An error response in the addressed provider's error format."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.param = param
        self.headers = headers or {}


# ---------------------------------------------------------------------------------- endpoints
@dataclass(frozen=True)
class Endpoint:
    """How one API path projects a world table."""

    provider: str  # openai | anthropic
    table: str  # World attribute
    dims: tuple[str, ...]  # group_by-able fields (also the result's grouping fields)
    filters: dict[str, str]  # query param -> dimension column
    metrics: tuple[str, ...] = ()
    usage_limits: bool = True  # usage: 1d default 7 max 31; else cost limits
    extra: dict[str, Any] = field(default_factory=dict)


OA_COMPLETIONS = Endpoint(
    "openai",
    "openai_completions",
    ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
    {
        "project_ids": "project_id",
        "user_ids": "user_id",
        "api_key_ids": "api_key_id",
        "models": "model",
    },
    (
        "input_tokens",
        "output_tokens",
        "num_model_requests",
        "input_cached_tokens",
        "input_cache_write_tokens",
        "input_uncached_tokens",
        "input_audio_tokens",
        "output_audio_tokens",
    ),
    extra={"object": "organization.usage.completions.result"},
)
OA_EMBEDDINGS = Endpoint(
    "openai",
    "openai_embeddings",
    ("project_id", "user_id", "api_key_id", "model"),
    {
        "project_ids": "project_id",
        "user_ids": "user_id",
        "api_key_ids": "api_key_id",
        "models": "model",
    },
    ("input_tokens", "num_model_requests"),
    extra={"object": "organization.usage.embeddings.result"},
)
_OA_USAGE_FILTERS = {
    "project_ids": "project_id",
    "user_ids": "user_id",
    "api_key_ids": "api_key_id",
    "models": "model",
}
_OA_USAGE_DIMS = ("project_id", "user_id", "api_key_id", "model")


def _oa_usage(table: str, dims: tuple, filters: dict, metrics: tuple, obj: str) -> Endpoint:
    return Endpoint("openai", table, dims, filters, metrics, extra={"object": obj})


OA_IMAGES = _oa_usage(
    "openai_images",
    (*_OA_USAGE_DIMS, "size", "source"),
    _OA_USAGE_FILTERS | {"sizes": "size", "sources": "source"},
    ("images", "num_model_requests"),
    "organization.usage.images.result",
)
OA_AUDIO_SPEECHES = _oa_usage(
    "openai_audio_speeches",
    _OA_USAGE_DIMS,
    _OA_USAGE_FILTERS,
    ("characters", "num_model_requests"),
    "organization.usage.audio_speeches.result",
)
OA_AUDIO_TRANSCRIPTIONS = _oa_usage(
    "openai_audio_transcriptions",
    _OA_USAGE_DIMS,
    _OA_USAGE_FILTERS,
    ("seconds", "num_model_requests"),
    "organization.usage.audio_transcriptions.result",
)
OA_MODERATIONS = _oa_usage(
    "openai_moderations",
    _OA_USAGE_DIMS,
    _OA_USAGE_FILTERS,
    ("input_tokens", "num_model_requests"),
    "organization.usage.moderations.result",
)
OA_VECTOR_STORES = _oa_usage(
    "openai_vector_stores",
    ("project_id",),
    {"project_ids": "project_id"},
    ("usage_bytes",),
    "organization.usage.vector_stores.result",
)
OA_CODE_INTERPRETER_SESSIONS = _oa_usage(
    "openai_code_interpreter_sessions",
    ("project_id",),
    {"project_ids": "project_id"},
    ("num_sessions",),
    "organization.usage.code_interpreter_sessions.result",
)
OA_FILE_SEARCH_CALLS = _oa_usage(  # the result object is named file_searches, not ..._calls
    "openai_file_search_calls",
    ("project_id", "user_id", "api_key_id", "vector_store_id"),
    {
        "project_ids": "project_id",
        "user_ids": "user_id",
        "api_key_ids": "api_key_id",
        "vector_store_ids": "vector_store_id",
    },
    ("num_requests",),
    "organization.usage.file_searches.result",
)
OA_WEB_SEARCH_CALLS = _oa_usage(  # the result object is named web_searches
    "openai_web_search_calls",
    (*_OA_USAGE_DIMS, "context_level"),
    _OA_USAGE_FILTERS | {"context_levels": "context_level"},
    ("num_model_requests", "num_requests"),
    "organization.usage.web_searches.result",
)
OA_COSTS = Endpoint(
    "openai",
    "openai_costs",
    ("project_id", "line_item", "api_key_id"),
    {"project_ids": "project_id", "api_key_ids": "api_key_id", "line_items": "line_item"},
    ("quantity", "nano"),
    usage_limits=False,
)
AN_USAGE = Endpoint(
    "anthropic",
    "anthropic_usage",
    ("api_key_id", "workspace_id", "model", "service_tier", "context_window"),
    {
        "api_key_ids": "api_key_id",
        "workspace_ids": "workspace_id",
        "models": "model",
        "service_tiers": "service_tier",
        "context_window": "context_window",
    },
    (
        "uncached_input_tokens",
        "cache_read_input_tokens",
        "cache_creation__ephemeral_5m_input_tokens",
        "cache_creation__ephemeral_1h_input_tokens",
        "output_tokens",
        "server_tool_use__web_search_requests",
    ),
)
AN_COSTS = Endpoint(
    "anthropic",
    "anthropic_costs",
    ("workspace_id", "description"),
    {"workspace_ids": "workspace_id"},
    ("nano",),
    usage_limits=False,
)
ROUTES = {
    "/v1/organization/usage/completions": OA_COMPLETIONS,
    "/v1/organization/usage/embeddings": OA_EMBEDDINGS,
    "/v1/organization/costs": OA_COSTS,
    "/v1/organization/usage/images": OA_IMAGES,
    "/v1/organization/usage/audio_speeches": OA_AUDIO_SPEECHES,
    "/v1/organization/usage/audio_transcriptions": OA_AUDIO_TRANSCRIPTIONS,
    "/v1/organization/usage/moderations": OA_MODERATIONS,
    "/v1/organization/usage/vector_stores": OA_VECTOR_STORES,
    "/v1/organization/usage/code_interpreter_sessions": OA_CODE_INTERPRETER_SESSIONS,
    "/v1/organization/usage/file_search_calls": OA_FILE_SEARCH_CALLS,
    "/v1/organization/usage/web_search_calls": OA_WEB_SEARCH_CALLS,
    "/v1/organizations/usage_report/messages": AN_USAGE,
    "/v1/organizations/cost_report": AN_COSTS,
}


# ---------------------------------------------------------------------------------- rendering
def _json_vocab(values: list) -> np.ndarray:
    return np.array([json.dumps(v) for v in values], dtype=object)


def _usd9(nano: int) -> str:
    """Nano-dollars as a USD decimal string with exactly 9 decimals."""
    sign = "-" if nano < 0 else ""
    q, r = divmod(abs(int(nano)), 1_000_000_000)
    return f"{sign}{q}.{r:09d}"


def _aggregate(frame: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    if frame.empty:
        return frame[["day", *keys, *metrics]].iloc[0:0]
    return frame.groupby(["day", *keys], as_index=False, sort=True)[metrics].sum()


def render_days(
    world: World,
    ep: Endpoint,
    group_by: tuple[str, ...],
    filters: dict[str, list[int]],
    first: int,
    last: int,
    amount_as_string: bool,
) -> dict[int, str]:
    """JSON text of each day's `results` array body (without brackets), days first..last."""
    table: Table = getattr(world, ep.table)
    with world._lock:
        frame = table.day_rows(first, last)
        vocab_json = {c: _json_vocab(v) for c, v in table.vocab.items()}
    for col, codes in filters.items():
        frame = frame[frame[col].isin(codes)]
    keys = [d for d in ep.dims if d in group_by]
    if ep is OA_COSTS or ep is AN_COSTS:
        keys.append("has_amount")  # a record without amount never merges with good ones
    agg = _aggregate(frame, keys, list(ep.metrics))
    n = len(agg)
    out: dict[int, list[str]] = {d: [] for d in range(first, last + 1)}
    if n == 0:
        return {d: "" for d in out}
    day = agg["day"].to_numpy()
    cols: dict[str, Any] = {}
    for d in ep.dims:
        cols[d] = vocab_json[d][agg[d].to_numpy()] if d in keys else ["null"] * n
    if ep.provider == "openai" and "object" in ep.extra:  # every usage endpoint
        metrics = [agg[m].to_numpy().astype(str) for m in ep.metrics]
        head = '{"object":"' + ep.extra["object"] + '",'
        names = [*ep.metrics, *ep.dims]
        tmpl = head + ",".join(f'"{nm}":%s' for nm in names) + "}"
        rows = [tmpl % vals for vals in zip(*metrics, *(cols[d] for d in ep.dims), strict=True)]
    elif ep is OA_COSTS:
        has = agg["has_amount"].to_numpy().astype(bool)
        by_line = "line_item" in keys
        if by_line:  # quantity and its unit per line item (tokens, images, GiB-hours, ...)
            units = [world.openai_line_item_unit(li) for li in table.vocab["line_item"]]
            li_codes = agg["line_item"].to_numpy()
            unit_col = np.array([json.dumps(u) for u, _ in units], dtype=object)[li_codes]
            decimals = np.array([d_ for _, d_ in units], dtype=np.int64)[li_codes]
            qty = [
                str(qv) if dv == 0 else f"{qv // 10**dv}.{qv % 10**dv:0{dv}d}"
                for qv, dv in zip(
                    agg["quantity"].to_numpy().tolist(), decimals.tolist(), strict=True
                )
            ]
        else:
            qty = unit_col = ["null"] * n
        # position within the bucket picks the deterministic subset served as strings
        pos = np.arange(n) - np.searchsorted(day, day, side="left")
        as_str = np.full(n, True) if amount_as_string else (day + pos) % 11 == 3
        nano = agg["nano"].to_numpy()
        sign = np.where(nano < 0, "-", "")  # a negative line (injected) keeps its magnitude
        q, r = np.divmod(np.abs(nano), 1_000_000_000)
        amounts = [
            ""
            if not h
            else (
                f'"amount":{{"value":"{sg}{qq}.{rr:09d}","currency":"usd"}},'
                if s_
                else f'"amount":{{"value":{sg}{qq}.{f"{rr:09d}".rstrip("0") or "0"},'
                '"currency":"usd"},'
            )
            for h, s_, sg, qq, rr in zip(
                has.tolist(), as_str.tolist(), sign.tolist(), q.tolist(), r.tolist(), strict=True
            )
        ]
        tmpl = (
            '{"object":"organization.costs.result",%s"line_item":%s,"project_id":%s,'
            '"api_key_id":%s,"quantity":%s,"quantity_unit":%s}'
        )
        rows = [
            tmpl % vals
            for vals in zip(
                amounts,
                cols["line_item"],
                cols["project_id"],
                cols["api_key_id"],
                qty,
                unit_col,
                strict=True,
            )
        ]
    elif ep is AN_USAGE:
        m = [agg[c].to_numpy().astype(str) for c in ep.metrics]
        tmpl = (
            '{{"uncached_input_tokens":{},"cache_read_input_tokens":{},"cache_creation":'
            '{{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":{}}},'
            '"output_tokens":{},"server_tool_use":{{"web_search_requests":{}}},'
            '"api_key_id":{},"workspace_id":{},"model":{},"service_tier":{},'
            '"context_window":{}}}'
        )
        rows = [tmpl.format(*vals) for vals in zip(*m, *(cols[d] for d in ep.dims), strict=True)]
    else:  # AN_COSTS
        has = agg["has_amount"].to_numpy().astype(bool)
        if "description" in keys:
            parsed = []
            for desc in table.vocab["description"]:
                meta = world.anthropic_description_meta(desc) if desc else None
                parsed.append(
                    ",".join(
                        f'"{k}":{json.dumps(meta[k] if meta else None)}'
                        for k in (
                            "cost_type",
                            "model",
                            "service_tier",
                            "token_type",
                            "context_window",
                        )
                    )
                )
            parsed_col = np.array(parsed, dtype=object)[agg["description"].to_numpy()]
        else:
            nulls = (
                '"cost_type":null,"model":null,"service_tier":null,"token_type":null,'
                '"context_window":null'
            )
            parsed_col = [nulls] * n
        nano = agg["nano"].to_numpy()
        sign = np.where(nano < 0, "-", "")  # a negative line (injected) keeps its magnitude
        q, r = np.divmod(np.abs(nano), 10_000_000)
        amounts = [
            f'"amount":"{sg}{qq}{("." + f"{rr:07d}".rstrip("0")) if rr else ""}",' if h else ""
            for h, sg, qq, rr in zip(
                has.tolist(), sign.tolist(), q.tolist(), r.tolist(), strict=True
            )
        ]
        tmpl = '{%s"currency":"USD","workspace_id":%s,"description":%s,%s}'
        rows = [
            tmpl % vals
            for vals in zip(
                amounts, cols["workspace_id"], cols["description"], parsed_col, strict=True
            )
        ]
    for d, row in zip(day.tolist(), rows, strict=True):
        out[d].append(row)
    return {d: ",".join(v) for d, v in out.items()}


# ---------------------------------------------------------------------------------- state
@dataclass
class Faults:
    """Fault injection config (see docs/contracts.md `POST /_sim/faults`)."""

    rate_limit_every: int = 0
    retry_after: int | None = 1
    server_error_every: int = 0
    slow_ms: int = 0
    malformed_every: int = 0
    amount_as_string: bool = False

    @classmethod
    def from_json(cls, body: dict) -> Faults:
        """Parse a faults body; unknown keys are a client error."""
        known = set(cls.__dataclass_fields__)
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        return cls(**body)


class SimState:
    """Everything the request handlers share: the world, faults, counters, render cache."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.faults = Faults()
        self.lock = threading.Lock()
        self.requests = 0
        self.cache: dict[tuple, dict[int, str]] = {}
        self.cache_version = world.version

    def next_request(self) -> int:
        """Count a provider request (fault schedules are per server)."""
        with self.lock:
            self.requests += 1
            return self.requests

    def fragments(
        self,
        ep: Endpoint,
        group_by: tuple[str, ...],
        filters: dict[str, list[int]],
        first: int,
        last: int,
        amount_as_string: bool,
    ) -> dict[int, str]:
        """Per-day rendered results for days first..last (cached per query shape)."""
        w = self.world
        first, last = max(first, 0), min(last, w.days - 1)
        if last < first:
            return {}
        key = (
            ep.table,
            group_by,
            tuple(sorted((k, tuple(v)) for k, v in filters.items())),
            amount_as_string,
        )
        with self.lock:
            if self.cache_version != w.version:
                self.cache.clear()
                self.cache_version = w.version
            per_day = self.cache.get(key)
            if per_day is None:
                if len(self.cache) > 256:
                    self.cache.clear()
                per_day = self.cache[key] = {}
            missing = [d for d in range(first, last + 1) if d not in per_day]
            version = w.version
        if missing:
            rendered = render_days(
                w, ep, group_by, filters, missing[0], missing[-1], amount_as_string
            )
            with self.lock:
                if self.cache_version == version:
                    per_day.update(rendered)
                else:
                    return rendered | {d: per_day[d] for d in per_day if first <= d <= last}
        return {d: per_day[d] for d in range(first, last + 1)}


# ---------------------------------------------------------------------------------- handler
def _page_token(value: str) -> str:
    return "page_" + base64.urlsafe_b64encode(value.encode()).decode()


def _page_value(token: str) -> str:
    if not token.startswith("page_"):
        raise ValueError("bad page token")
    return base64.urlsafe_b64decode(token[5:].encode()).decode()


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rfc3339(value: str, param: str) -> int:
    try:
        ts = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(
            400, "invalid_request_error", f"{param}: invalid RFC 3339 datetime {value!r}"
        ) from exc
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return int(ts.timestamp())


def _params(query: str) -> dict[str, list[str]]:
    """Query params with array keys in either encoding (`a=x&a=y` or `a[]=x`) merged."""
    out: dict[str, list[str]] = {}
    for k, vals in parse_qs(query, keep_blank_values=True).items():
        name = k[:-2] if k.endswith("[]") else k
        out.setdefault(name, []).extend(vals)
    return out


def _one(params: dict[str, list[str]], name: str) -> str | None:
    vals = params.get(name)
    return vals[-1] if vals else None


def _int(params: dict[str, list[str]], name: str) -> int | None:
    raw = _one(params, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(
            400, "invalid_request_error", f"Invalid value for '{name}': {raw!r}", name
        ) from exc


class Handler(BaseHTTPRequestHandler):
    """Routes provider API calls and control-plane calls."""

    protocol_version = "HTTP/1.1"
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: tests and the demo do not want an access log."""

    # ---------------------------------------------------------------- plumbing
    def _send(
        self,
        status: int,
        body: str | bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _provider_headers(self, provider: str) -> dict[str, str]:
        state = self.server.state
        rid = uuid.uuid4().hex[:24]
        if provider == "openai":
            return {
                "openai-organization": state.world.openai_org_id,
                "x-request-id": f"req_{rid}",
                "openai-version": "2020-10-01",
            }
        return {
            "anthropic-organization-id": state.world.anthropic_org_id,
            "request-id": f"req_{rid}",
        }

    def _error(self, provider: str, err: ApiError) -> None:
        headers = self._provider_headers(provider) | err.headers
        if provider == "openai":
            code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(err.status)
            body = {
                "error": {
                    "message": err.message,
                    "type": err.kind,
                    "param": err.param,
                    "code": code,
                }
            }
        else:
            body = {
                "type": "error",
                "error": {"type": err.kind, "message": err.message},
                "request_id": headers["request-id"],
            }
        self._send(err.status, json.dumps(body), headers)

    def _read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    # ---------------------------------------------------------------- verbs
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        """Provider APIs and control-plane reads."""
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path.startswith("/_sim/"):
            return self._control_get(path, _params(url.query))
        if path in opencost.ALLOCATION_PATHS:  # OpenCost (simulator/opencost.py)
            return opencost.serve_allocation(self, _params(url.query))
        ep = ROUTES.get(path)
        if ep is None:
            provider = "anthropic" if path.startswith("/v1/organizations") else "openai"
            return self._error(
                provider,
                ApiError(
                    404,
                    "not_found_error" if provider == "anthropic" else "invalid_request_error",
                    f"Unknown path {path}",
                ),
            )
        try:
            self._check_auth(ep.provider)
            n = self._apply_faults(ep.provider)
            body = self._serve(ep, _params(url.query))
        except ApiError as err:
            return self._error(ep.provider, err)
        except Exception as exc:  # a simulator bug must still answer, not hang the client
            kind = "server_error" if ep.provider == "openai" else "api_error"
            return self._error(ep.provider, ApiError(500, kind, f"simulator error: {exc!r}"))
        f = self.server.state.faults
        if f.malformed_every and n % f.malformed_every == 0:
            body = body[: max(1, len(body) // 2)]
        self._send(200, body, self._provider_headers(ep.provider))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        """Control-plane writes (and AWS JSON 1.1 APIs, addressed by `X-Amz-Target`)."""
        if self.headers.get("X-Amz-Target", "").startswith("AWSInsightsIndexService."):
            from simulator import aws_bedrock

            return aws_bedrock.handle_cost_explorer(self)
        path = urlsplit(self.path).path.rstrip("/")
        if path.endswith("/providers/Microsoft.CostManagement/query"):
            from simulator import azure_openai

            return azure_openai.handle_query(self)
        state = self.server.state
        try:
            body = self._read_json()
            if body.get("provider") == opencost.PROVIDER:  # simulator/opencost.py
                return self._send(200, json.dumps(opencost.control(state.world, path, body)))
            if path in INFERENCE_PATHS:  # the apps' own calls (tokenledger.telemetry tests)
                status, answer = inference.handle(path, body, self.headers)
                return self._send(status, json.dumps(answer), self._provider_headers(
                    "anthropic" if path == "/v1/messages" else "openai"))
            if path == "/_sim/faults":
                faults = Faults.from_json(body)
                with state.lock:
                    state.faults = faults
                    state.requests = 0
                return self._send(200, json.dumps({"ok": True, "faults": faults.__dict__}))
            if path == "/_sim/restate":
                state.world.restate(
                    body["provider"],
                    dt.date.fromisoformat(body["date"]),
                    float(body.get("factor", 1.25)),
                )
                return self._send(200, json.dumps({"ok": True}))
            if path == "/_sim/inject":
                state.world.inject(
                    body["kind"],
                    body["provider"],
                    dt.date.fromisoformat(body["date"]),
                    body.get("label"),
                )
                return self._send(200, json.dumps({"ok": True}))
        except (KeyError, ValueError, TypeError) as exc:
            return self._send(400, json.dumps({"ok": False, "error": str(exc)}))
        self._send(404, json.dumps({"ok": False, "error": f"unknown path {path}"}))

    # ---------------------------------------------------------------- control plane
    def _control_get(self, path: str, params: dict[str, list[str]]) -> None:
        world = self.server.state.world
        if path == "/_sim/health":
            return self._send(200, '{"ok": true}')
        if path == "/_sim/truth":
            try:
                provider = _one(params, "provider") or None
                start = _one(params, "start")
                end = _one(params, "end")
                f = world.truth_billed_cost_frame(
                    provider,
                    dt.date.fromisoformat(start) if start else None,
                    dt.date.fromisoformat(end) if end else None,
                )
            except ValueError as exc:
                return self._send(400, json.dumps({"ok": False, "error": str(exc)}))
            rows = [
                {
                    "provider": r.provider,
                    "date": r.date.isoformat(),
                    "sub_account_id": r.sub_account_id,
                    "api_key_id": r.api_key_id,
                    "model": r.model,
                    "token_type": r.token_type,
                    "service_tier": r.service_tier,
                    "billed_cost": _usd9(r.billed_cost_nano),
                }
                for r in f.itertuples(index=False)
            ]
            return self._send(200, json.dumps(rows))
        if path == "/_sim/incidents":
            rows = [
                {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in i.__dict__.items()}
                for i in world.incidents()
            ]
            return self._send(200, json.dumps(rows))
        if path == "/_sim/world":
            info = {
                "seed": world.seed,
                "days": world.days,
                "start": world.start.isoformat(),
                "end": world.end.isoformat(),
                "scale": world.scale,
                "openai_organization": world.openai_org_id,
                "anthropic_organization_id": world.anthropic_org_id,
                "api_keys": [
                    {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
                    for r in world.api_keys()
                ],
            }
            return self._send(200, json.dumps(info))
        self._send(404, json.dumps({"ok": False, "error": f"unknown path {path}"}))

    # ---------------------------------------------------------------- provider APIs
    def _check_auth(self, provider: str) -> None:
        if provider == "openai":
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            if not token.startswith(OPENAI_KEY_PREFIX):
                raise ApiError(
                    401,
                    "invalid_request_error",
                    "Incorrect API key provided. This endpoint requires an "
                    "organization admin key (sk-admin-...).",
                )
            return
        key = self.headers.get("x-api-key", "")
        if not key.startswith(ANTHROPIC_KEY_PREFIX):
            raise ApiError(401, "authentication_error", "invalid x-api-key")
        if not self.headers.get("anthropic-version"):
            raise ApiError(400, "invalid_request_error", "anthropic-version: header is required")

    def _apply_faults(self, provider: str) -> int:
        state = self.server.state
        n = state.next_request()
        f = state.faults
        if f.slow_ms:
            time.sleep(f.slow_ms / 1000)
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            headers = {} if f.retry_after is None else {"Retry-After": str(f.retry_after)}
            kind = "requests" if provider == "openai" else "rate_limit_error"
            raise ApiError(
                429, kind, "Rate limit reached for admin requests (simulated).", headers=headers
            )
        if f.server_error_every and n % f.server_error_every == 0:
            kind = "server_error" if provider == "openai" else "api_error"
            raise ApiError(
                500, kind, "The server had an error processing your request (simulated)."
            )
        return n

    def _serve(self, ep: Endpoint, params: dict[str, list[str]]) -> str:
        if ep.provider == "openai":
            return self._serve_openai(ep, params)
        return self._serve_anthropic(ep, params)

    def _group_and_filters(
        self, ep: Endpoint, params: dict[str, list[str]]
    ) -> tuple[tuple[str, ...], dict[str, list[int]]]:
        group_by = tuple(params.get("group_by", []))
        for g in group_by:
            if g not in ep.dims:
                raise ApiError(
                    400,
                    "invalid_request_error",
                    f"Invalid value for 'group_by': {g!r}. Supported: {', '.join(ep.dims)}",
                    "group_by",
                )
        table: Table = getattr(self.server.state.world, ep.table)
        filters: dict[str, list[int]] = {}
        for param, col in ep.filters.items():
            if param in params:
                codes = [table.lookup(col, v) for v in params[param]]
                filters[col] = sorted({c for c in codes if c is not None})
        if ep is OA_COMPLETIONS and "batch" in params:
            raw = _one(params, "batch")
            if raw not in ("true", "false", "True", "False"):
                raise ApiError(
                    400, "invalid_request_error", f"Invalid value for 'batch': {raw!r}", "batch"
                )
            filters["batch"] = [2 if raw.lower() == "true" else 1]
        return group_by, filters

    def _limit(self, ep: Endpoint, params: dict[str, list[str]]) -> int:
        limit = _int(params, "limit")
        hi = 31 if ep.usage_limits or ep.provider == "anthropic" else 180
        if limit is None:
            return 7
        if not 1 <= limit <= hi:
            raise ApiError(
                400,
                "invalid_request_error",
                f"Invalid value for 'limit': must be between 1 and {hi} for bucket_width 1d.",
                "limit",
            )
        return limit

    def _serve_openai(self, ep: Endpoint, params: dict[str, list[str]]) -> str:
        world = self.server.state.world
        start = _int(params, "start_time")
        if start is None:
            raise ApiError(
                400,
                "invalid_request_error",
                "Missing required parameter: 'start_time'.",
                "start_time",
            )
        end = _int(params, "end_time")
        end = world.end_epoch if end is None else end
        width = _one(params, "bucket_width") or "1d"
        allowed = ("1m", "1h", "1d") if ep.usage_limits else ("1d",)
        if width not in allowed:
            raise ApiError(
                400,
                "invalid_request_error",
                f"Invalid value for 'bucket_width': {width!r}. Supported values: "
                f"{', '.join(allowed)}.",
                "bucket_width",
            )
        if width != "1d":
            raise ApiError(
                400,
                "invalid_request_error",
                f"bucket_width {width!r} is not supported by the simulator; use '1d'.",
                "bucket_width",
            )
        limit = self._limit(ep, params)
        group_by, filters = self._group_and_filters(ep, params)
        cursor = start
        page = _one(params, "page")
        if page:
            try:
                cursor = int(_page_value(page))
            except ValueError as exc:
                raise ApiError(
                    400, "invalid_request_error", "Invalid page cursor.", "page"
                ) from exc
        buckets = []
        while cursor < end and len(buckets) < limit:
            b_end = min((cursor // DAY_SECONDS + 1) * DAY_SECONDS, end)
            buckets.append((cursor, b_end))
            cursor = b_end
        has_more = cursor < end
        days = [
            ((bs - world.start_epoch) // DAY_SECONDS) if bs % DAY_SECONDS == 0 else None
            for bs, _ in buckets
        ]
        real = [d for d in days if d is not None]
        state = self.server.state
        frags = (
            state.fragments(
                ep, group_by, filters, min(real), max(real), state.faults.amount_as_string
            )
            if real
            else {}
        )
        parts = [
            f'{{"object":"bucket","start_time":{bs},"end_time":{be},"results":['
            f"{frags.get(d, '') if d is not None else ''}]}}"
            for (bs, be), d in zip(buckets, days, strict=True)
        ]
        next_page = json.dumps(_page_token(str(cursor))) if has_more else "null"
        return (
            '{"object":"page","data":['
            + ",".join(parts)
            + '],"has_more":'
            + ("true" if has_more else "false")
            + ',"next_page":'
            + next_page
            + "}"
        )

    def _serve_anthropic(self, ep: Endpoint, params: dict[str, list[str]]) -> str:
        world = self.server.state.world
        raw_start = _one(params, "starting_at")
        if not raw_start:
            raise ApiError(400, "invalid_request_error", "starting_at: field required")
        start = _parse_rfc3339(raw_start, "starting_at") // DAY_SECONDS * DAY_SECONDS
        raw_end = _one(params, "ending_at")
        end = (
            world.end_epoch
            if not raw_end
            else _parse_rfc3339(raw_end, "ending_at") // DAY_SECONDS * DAY_SECONDS
        )
        if raw_end and _parse_rfc3339(raw_end, "ending_at") < _parse_rfc3339(
            raw_start, "starting_at"
        ):
            raise ApiError(400, "invalid_request_error", "ending_at must be after starting_at")
        width = _one(params, "bucket_width") or "1d"
        if width != "1d":
            allowed = "1m, 1h, 1d" if ep is AN_USAGE else "1d"
            raise ApiError(
                400,
                "invalid_request_error",
                f"bucket_width: {width!r} is not supported here (allowed: {allowed};"
                " the simulator serves 1d only)",
            )
        limit = self._limit(ep, params)
        group_by, filters = self._group_and_filters(ep, params)
        cursor = start
        page = _one(params, "page")
        if page:
            try:
                cursor = _parse_rfc3339(_page_value(page), "page")
            except (ValueError, ApiError) as exc:
                raise ApiError(400, "invalid_request_error", "page: invalid cursor") from exc
        buckets = []
        while cursor < end and len(buckets) < limit:
            buckets.append((cursor, cursor + DAY_SECONDS))
            cursor += DAY_SECONDS
        has_more = cursor < end
        state = self.server.state
        days = [(bs - world.start_epoch) // DAY_SECONDS for bs, _ in buckets]
        frags = state.fragments(ep, group_by, filters, days[0], days[-1], False) if days else {}
        parts = [
            f'{{"starting_at":"{_iso(bs)}","ending_at":"{_iso(be)}","results":['
            f"{frags.get(d, '')}]}}"
            for (bs, be), d in zip(buckets, days, strict=True)
        ]
        next_page = json.dumps(_page_token(_iso(cursor))) if has_more else "null"
        return (
            '{"data":['
            + ",".join(parts)
            + '],"has_more":'
            + ("true" if has_more else "false")
            + ',"next_page":'
            + next_page
            + "}"
        )


class SimHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the shared simulator state."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SimState) -> None:
        super().__init__(address, Handler)
        self.state = state


class RunningServer:
    """A simulator serving in a background thread; `.url`, `.port`, `.shutdown()`."""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        self.world = world
        self.state = SimState(world)
        self.httpd = SimHTTPServer((host, port), self.state)
        self.host = host
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def control(self, path: str, body: dict) -> None:
        """POST a control-plane request (`/_sim/faults`, `/_sim/restate`, `/_sim/inject`)."""
        import urllib.request

        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).read()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve(world: World, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `world` on loopback in a background thread (port 0 = a free port)."""
    return RunningServer(world, host, port)


def run_server(
    seed: int,
    days: int,
    port: int,
    start: dt.date | str | None = None,
    scale: int = 1,
    truth_dir: str | Path | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Build a world, optionally write its truth CSVs, and serve it until interrupted (CLI)."""
    if isinstance(start, str):
        start = dt.date.fromisoformat(start)
    world = World(seed=seed, days=days, start=start, scale=scale)
    if truth_dir:
        for path in world.write_truth(truth_dir):
            print(f"truth: {path}", flush=True)
    server = serve(world, host, port)
    print(
        f"simulator serving {world.start} .. {world.end} (seed {seed}, scale {scale}) "
        f"at {server.url}",
        flush=True,
    )
    print(f"  OPENAI_BASE_URL={server.url}/v1  ANTHROPIC_BASE_URL={server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
