"""The provider simulator: a deterministic world served as OpenAI's and Anthropic's admin APIs.

What the ingestion relies on: the official SDK parses every response, pagination and both array
encodings work, quirks (empty and partial buckets, string amounts, cents strings, null default
workspace) are present, errors look like the providers' errors, and the ground truth equals
exactly what the cost endpoints serve, also after a restatement or an injected bad record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal

import httpx
import openai
import pytest

from simulator.server import serve
from simulator.world import World

START = dt.date(2025, 3, 3)  # a Monday
DAYS = 40
OPENAI_KEY = "sk-admin-sim"
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-admin01-sim", "anthropic-version": "2023-06-01"}
COMPLETIONS_GB = ["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"]
DAY = 86400


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=7, days=DAYS, start=START)


@pytest.fixture(scope="module")
def server(world):
    srv = serve(world)
    yield srv
    srv.shutdown()


@pytest.fixture()
def fresh():
    """A private world and server for tests that restate, inject or set faults."""
    w = World(seed=3, days=10, start=START)
    srv = serve(w)
    yield w, srv
    srv.shutdown()


def _client(server, key: str = OPENAI_KEY) -> openai.OpenAI:
    return openai.OpenAI(admin_api_key=key, base_url=server.url + "/v1", max_retries=0)


def _get(server, path: str, params, headers=None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {OPENAI_KEY}"} if headers is None else headers
    return httpx.get(server.url + path, params=params, headers=headers, timeout=30)


def _openai_pages(server, path: str, params: dict) -> list[dict]:
    """All buckets of an OpenAI endpoint, following next_page, amounts parsed as Decimal."""
    buckets, page = [], None
    while True:
        query = dict(params) | ({"page": page} if page else {})
        body = json.loads(_get(server, path, query).text, parse_float=Decimal)
        buckets += body["data"]
        if not body["has_more"]:
            assert body["next_page"] is None
            return buckets
        page = body["next_page"]


def _anthropic_pages(server, path: str, params: dict) -> list[dict]:
    buckets, page = [], None
    while True:
        query = dict(params) | ({"page": page} if page else {})
        resp = _get(server, path, query, ANTHROPIC_HEADERS)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        buckets += body["data"]
        if not body["has_more"]:
            return buckets
        page = body["next_page"]


def _served_openai_cost(server, world) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    params = {"start_time": world.start_epoch, "end_time": world.end_epoch, "limit": 180,
              "group_by[]": ["project_id", "line_item", "api_key_id"]}
    for b in _openai_pages(server, "/v1/organization/costs", params):
        day = dt.datetime.fromtimestamp(b["start_time"], dt.UTC).date().isoformat()
        for r in b["results"]:
            if "amount" in r:
                out[day] += Decimal(str(r["amount"]["value"]))
    return dict(out)


def _served_anthropic_cost(server, world) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    params = {"starting_at": f"{world.start}T00:00:00Z", "ending_at": f"{world.end}T00:00:00Z",
              "limit": 31, "group_by[]": ["workspace_id", "description"]}
    for b in _anthropic_pages(server, "/v1/organizations/cost_report", params):
        for r in b["results"]:
            if "amount" in r:
                out[b["starting_at"][:10]] += Decimal(r["amount"]) / 100
    return dict(out)


def _truth_by_day(rows, provider: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["provider"] == provider:
            out[str(r["date"])] += Decimal(str(r["billed_cost"]))
    return dict(out)


# ------------------------------------------------------------------------------ the world
def test_same_arguments_same_world_different_seed_different_world():
    a, b = World(11, 20, start=START), World(11, 20, start=START)
    assert a.truth_billed_cost() == b.truth_billed_cost()
    assert a.openai_completions.frame.equals(b.openai_completions.frame)
    assert a.anthropic_usage.frame.equals(b.anthropic_usage.frame)
    assert a.incidents() == b.incidents()
    assert World(12, 20, start=START).truth_billed_cost() != a.truth_billed_cost()
    assert World(11, 20).start == dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)


def test_world_has_rhythm_incidents_and_scale(world):
    kinds = {i.kind for i in world.incidents()}
    assert kinds == {"runaway_agent_loop", "leaked_key", "cache_misconfiguration",
                     "batch_backfill", "new_model_launch", "outage"}
    spend = _truth_by_day(world.truth_billed_cost(), "openai")
    weekdays = [v for d, v in spend.items() if dt.date.fromisoformat(d).weekday() < 5]
    weekends = [v for d, v in spend.items() if dt.date.fromisoformat(d).weekday() >= 5]
    assert sum(weekends) / len(weekends) < Decimal("0.8") * sum(weekdays) / len(weekdays)
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    key_cost = defaultdict(Decimal)
    for r in world.truth_billed_cost(provider="openai"):
        if r["api_key_id"] == runaway.api_key_id:
            key_cost[r["date"]] += r["billed_cost"]
    before = runaway.start_date - dt.timedelta(days=7)  # same weekday, a week earlier
    assert key_cost[runaway.start_date] > 8 * key_cost[before]
    leaked = next(i for i in world.incidents() if i.kind == "leaked_key")
    owners = {k["api_key_id"]: k for k in world.api_keys()}
    assert owners[leaked.api_key_id]["owner_email"] is None
    big = World(7, DAYS, start=START, scale=3)
    assert len(big.openai_costs.frame) > 2.5 * len(world.openai_costs.frame)


# ------------------------------------------------------------------------------ OpenAI
def test_openai_sdk_parses_every_endpoint_and_paginates(server, world):
    client = _client(server)
    usage = client.admin.organization.usage
    seen = []
    page = usage.completions(start_time=world.start_epoch, end_time=world.end_epoch,
                             group_by=COMPLETIONS_GB, limit=15)
    while True:
        seen += page.data
        if not page.has_more:
            break
        page = usage.completions(start_time=world.start_epoch, end_time=world.end_epoch,
                                 group_by=COMPLETIONS_GB, limit=15, page=page.next_page)
    assert [b.start_time for b in seen] == [world.start_epoch + i * DAY for i in range(DAYS)]
    first = seen[0].results[0]
    assert first.object == "organization.usage.completions.result"
    assert first.project_id.startswith("proj_") and first.api_key_id.startswith("key_")
    assert first.input_tokens == (first.input_cached_tokens + first.input_cache_write_tokens
                                  + first.input_uncached_tokens)
    assert {r.batch for b in seen for r in b.results} == {True, False}
    assert "gpt-4.1-2025-04-14" in {r.model for b in seen[-3:] for r in b.results}
    assert "gpt-4.1-2025-04-14" not in {r.model for r in seen[0].results}

    emb = usage.embeddings(start_time=world.start_epoch, group_by=["project_id", "model"],
                           limit=31)
    assert emb.has_more and len(emb.data) == 31
    assert {r.model for r in emb.data[0].results} == {"text-embedding-3-small"}

    costs = usage.costs(start_time=world.start_epoch, end_time=world.end_epoch,
                        group_by=["project_id", "line_item", "api_key_id"], limit=180)
    assert not costs.has_more and costs.next_page is None and len(costs.data) == DAYS
    lines = [r for b in costs.data for r in b.results]
    assert all(r.quantity > 0 for r in lines)
    # token lines in tokens; images, audio, storage in their own units; tool calls unit-less
    assert {r.quantity_unit for r in lines} == {
        "tokens", "images", "characters", "duration_minutes", "gibibyte_hours", None}
    assert all(r.quantity_unit == "tokens" for r in lines if r.line_item.startswith("gpt-"))
    assert {r.line_item.rsplit(", ", 1)[-1] for r in lines} == {
        "input", "cached input", "cache write", "output", "images", "characters",
        "audio transcription", "vector store storage", "file search tool calls",
        "web search tool calls", "code interpreter sessions"}
    # the real API sometimes sends amount.value as a string; the SDK must still parse it
    raw = costs.model_dump()["data"]
    assert all(isinstance(r["amount"]["value"], float) for b in raw for r in b["results"])
    total = sum(Decimal(str(r.amount.value)) for r in lines)
    truth = sum(r["billed_cost"] for r in world.truth_billed_cost(provider="openai"))
    assert abs(total - truth) < Decimal("0.000001") * len(lines)


def test_array_encodings_and_aggregation_agree(server, world):
    path = "/v1/organization/usage/completions"
    base = {"start_time": world.start_epoch, "limit": 10}
    repeated = _get(server, path, base | {"group_by": ["project_id", "model"]})
    brackets = _get(server, path, base | {"group_by[]": ["project_id", "model"]})
    assert repeated.status_code == 200 and repeated.text == brackets.text
    by_model = json.loads(repeated.text)["data"][4]["results"]
    assert all(r["api_key_id"] is None and r["user_id"] is None for r in by_model)
    assert len({(r["project_id"], r["model"]) for r in by_model}) == len(by_model)
    ungrouped = json.loads(_get(server, path, base).text)["data"][4]["results"]
    assert len(ungrouped) == 1 and ungrouped[0]["model"] is None
    for field in ("input_tokens", "output_tokens", "num_model_requests"):
        assert ungrouped[0][field] == sum(r[field] for r in by_model)
    one = by_model[0]
    filtered = _get(server, path, base | {"group_by": ["project_id", "model"],
                                          "project_ids[]": one["project_id"],
                                          "models": one["model"]})
    assert json.loads(filtered.text)["data"][4]["results"] == [one]


def test_empty_and_partial_buckets(server, world):
    client = _client(server)
    before = world.start_epoch - 3 * DAY
    page = client.admin.organization.usage.completions(start_time=before, limit=5)
    assert [b.start_time for b in page.data] == [before + i * DAY for i in range(5)]
    assert [len(b.results) for b in page.data] == [0, 0, 0, 1, 1]
    mid = world.start_epoch + 5 * DAY + 3600
    page = client.admin.organization.usage.costs(start_time=mid, end_time=mid + 2 * DAY)
    first, second, last = page.data
    assert (first.start_time, first.end_time) == (mid, world.start_epoch + 6 * DAY)
    assert first.results == []  # a day's usage sits at its start, before a mid-day start_time
    assert second.results and last.end_time == mid + 2 * DAY and last.results


def test_openai_errors(server, world):
    with pytest.raises(openai.AuthenticationError) as exc:
        _client(server, "sk-proj-not-an-admin").admin.organization.usage.costs(
            start_time=world.start_epoch)
    assert exc.value.status_code == 401
    assert exc.value.body["type"] == "invalid_request_error"
    resp = _get(server, "/v1/organization/costs", {"start_time": world.start_epoch})
    assert resp.headers["openai-organization"] == world.openai_org_id
    for path, limit in (("/v1/organization/usage/completions", 32),
                        ("/v1/organization/costs", 181), ("/v1/organization/costs", 0)):
        resp = _get(server, path, {"start_time": world.start_epoch, "limit": limit})
        assert resp.status_code == 400
        assert resp.json()["error"]["param"] == "limit"
    assert _get(server, "/v1/organization/costs",
                {"start_time": world.start_epoch, "limit": 180}).status_code == 200
    resp = _get(server, "/v1/organization/usage/completions",
                {"start_time": world.start_epoch, "bucket_width": "1h"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "bucket_width"
    assert _get(server, "/v1/organization/costs", {}).status_code == 400
    with pytest.raises(openai.BadRequestError):
        _client(server).admin.organization.usage.costs(start_time=world.start_epoch,
                                                       group_by=["model"])


# ------------------------------------------------------------------------------ Anthropic
def test_anthropic_usage_and_cost_report(server, world):
    usage = _anthropic_pages(server, "/v1/organizations/usage_report/messages", {
        "starting_at": f"{world.start}T13:45:00Z", "limit": 9,
        "group_by[]": ["api_key_id", "workspace_id", "model", "service_tier", "context_window"]})
    assert len(usage) == DAYS and usage[0]["starting_at"] == f"{world.start}T00:00:00Z"
    rows = [r for b in usage for r in b["results"]]
    assert {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"} == set(
        rows[0]["cache_creation"])
    assert any(r["workspace_id"] is None for r in rows)  # the default workspace
    assert any(r["api_key_id"] is None for r in rows)  # Console usage has no key
    assert {r["service_tier"] for r in rows} == {"standard", "batch", "priority"}
    assert {r["context_window"] for r in rows} == {"0-200k", "200k-1M"}
    assert any(r["server_tool_use"]["web_search_requests"] > 0 for r in rows)

    resp = _get(server, "/v1/organizations/cost_report", {
        "starting_at": f"{world.start}T00:00:00Z", "group_by[]": ["workspace_id", "description"]},
        ANTHROPIC_HEADERS)
    assert resp.headers["anthropic-organization-id"] == world.anthropic_org_id
    assert resp.headers["request-id"].startswith("req_")
    body = resp.json()
    assert len(body["data"]) == 7 and body["has_more"]
    lines = [r for b in body["data"] for r in b["results"]]
    assert all(isinstance(r["amount"], str) and r["currency"] == "USD" for r in lines)
    sonnet = next(r for r in lines if r["description"] == "Claude Sonnet 4 Usage - Input Tokens")
    assert (sonnet["cost_type"], sonnet["model"], sonnet["service_tier"], sonnet["token_type"],
            sonnet["context_window"]) == ("tokens", "claude-sonnet-4-20250514", "standard",
                                          "uncached_input_tokens", "0-200k")
    web = next(r for r in lines if r["cost_type"] == "web_search")
    assert web["model"] is None and web["token_type"] is None
    # amounts are cents with at most 7 decimals
    assert all(len(r["amount"].partition(".")[2]) <= 7 for r in lines)
    by_ws = _get(server, "/v1/organizations/cost_report", {
        "starting_at": f"{world.start}T00:00:00Z", "limit": 1, "group_by[]": "workspace_id"},
        ANTHROPIC_HEADERS).json()["data"][0]["results"]
    assert all(r["description"] is None and r["token_type"] is None for r in by_ws)
    first_day = [r for r in body["data"][0]["results"]]
    assert sum(Decimal(r["amount"]) for r in by_ws) == sum(Decimal(r["amount"])
                                                           for r in first_day)


def test_anthropic_errors(server, world):
    path = "/v1/organizations/cost_report"
    params = {"starting_at": f"{world.start}T00:00:00Z"}
    resp = _get(server, path, params, {"x-api-key": "sk-ant-api03-user",
                                       "anthropic-version": "2023-06-01"})
    assert resp.status_code == 401
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert body["request_id"] == resp.headers["request-id"]
    assert _get(server, path, params | {"limit": 32}, ANTHROPIC_HEADERS).status_code == 400
    assert _get(server, path, {"starting_at": "yesterday"}, ANTHROPIC_HEADERS).status_code == 400
    resp = _get(server, path, params, {"x-api-key": "sk-ant-admin01-sim"})
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"


# ------------------------------------------------------------------------------ truth
def test_truth_equals_served_cost_per_provider_and_day(server, world):
    truth = world.truth_billed_cost()
    assert isinstance(truth[0]["billed_cost"], Decimal)
    assert {r["token_type"] for r in truth} >= {"input", "cached_input", "cache_write", "output",
                                                 "cache_write_5m", "cache_write_1h",
                                                 "web_search"}
    assert _served_openai_cost(server, world) == _truth_by_day(truth, "openai")
    assert _served_anthropic_cost(server, world) == _truth_by_day(truth, "anthropic")
    over_http = httpx.get(server.url + "/_sim/truth", params={"provider": "anthropic"}).json()
    assert _truth_by_day(over_http, "anthropic") == _truth_by_day(truth, "anthropic")


def test_restatement_changes_served_numbers_and_truth(fresh):
    world, server = fresh
    day = str(world.start + dt.timedelta(days=4))
    before = {p: _truth_by_day(world.truth_billed_cost(), p) for p in ("openai", "anthropic")}
    served_before = _served_openai_cost(server, world)  # warms the server's page cache
    for provider in ("openai", "anthropic"):
        resp = httpx.post(server.url + "/_sim/restate",
                          json={"provider": provider, "date": day, "factor": 1.25})
        assert resp.status_code == 200
    after = {p: _truth_by_day(world.truth_billed_cost(), p) for p in ("openai", "anthropic")}
    for p in ("openai", "anthropic"):
        ratio = after[p][day] / before[p][day]
        assert Decimal("1.2499") < ratio < Decimal("1.2501")
        assert {d: v for d, v in after[p].items() if d != day} == {
            d: v for d, v in before[p].items() if d != day}
    served = _served_openai_cost(server, world)
    assert served != served_before and served == after["openai"]
    assert _served_anthropic_cost(server, world) == after["anthropic"]


def test_injected_bad_records(fresh):
    world, server = fresh
    day = str(world.start + dt.timedelta(days=2))
    for kind in ("unknown_token_type", "missing_field"):
        for provider in ("openai", "anthropic"):
            resp = httpx.post(server.url + "/_sim/inject",
                              json={"kind": kind, "provider": provider, "date": day})
            assert resp.status_code == 200
    truth = world.truth_billed_cost(start=dt.date.fromisoformat(day))
    unknown = [r for r in truth if r["token_type"] == "unknown"]
    assert {r["provider"] for r in unknown} == {"openai", "anthropic"}
    assert all(r["billed_cost"] > 0 for r in unknown)
    assert _served_openai_cost(server, world) == _truth_by_day(world.truth_billed_cost(),
                                                               "openai")
    assert _served_anthropic_cost(server, world) == _truth_by_day(world.truth_billed_cost(),
                                                                  "anthropic")
    buckets = _openai_pages(server, "/v1/organization/costs", {
        "start_time": world.start_epoch + 2 * DAY, "limit": 1, "end_time":
        world.start_epoch + 3 * DAY, "group_by": ["project_id", "line_item", "api_key_id"]})
    lines = buckets[0]["results"]
    assert any(r["line_item"] == "gpt-4o-2024-08-06, mystery tokens" for r in lines)
    assert sum("amount" not in r for r in lines) == 1
    cost = _get(server, "/v1/organizations/cost_report", {
        "starting_at": day, "limit": 1, "group_by[]": ["workspace_id", "description"]},
        ANTHROPIC_HEADERS).json()["data"][0]["results"]
    assert any(r["token_type"] == "quantum_tokens" for r in cost)
    assert sum("amount" not in r for r in cost) == 1


# ------------------------------------------------------------------------------ faults
def test_faults_rate_limit_server_error_malformed_and_string_amounts(fresh):
    world, server = fresh
    path, params = "/v1/organization/costs", {"start_time": world.start_epoch}
    httpx.post(server.url + "/_sim/faults", json={"rate_limit_every": 2, "retry_after": 3})
    assert _get(server, path, params).status_code == 200
    resp = _get(server, path, params)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"
    resp = _get(server, "/v1/organizations/cost_report", {"starting_at": str(world.start)},
                ANTHROPIC_HEADERS)
    assert resp.status_code == 200
    resp = _get(server, "/v1/organizations/cost_report", {"starting_at": str(world.start)},
                ANTHROPIC_HEADERS)
    assert resp.status_code == 429 and resp.json()["error"]["type"] == "rate_limit_error"
    assert resp.headers["retry-after"] == "3"

    httpx.post(server.url + "/_sim/faults", json={"server_error_every": 1})
    resp = _get(server, path, params)
    assert resp.status_code == 500 and resp.json()["error"]["type"] == "server_error"

    httpx.post(server.url + "/_sim/faults", json={"malformed_every": 2})
    assert _get(server, path, params).json()["object"] == "page"
    with pytest.raises(json.JSONDecodeError):
        json.loads(_get(server, path, params).text)

    httpx.post(server.url + "/_sim/faults", json={"amount_as_string": True})
    raw = _get(server, path, params | {"group_by": "line_item"}).json()["data"]
    assert all(isinstance(r["amount"]["value"], str) for b in raw for r in b["results"])
    page = _client(server).admin.organization.usage.costs(start_time=world.start_epoch,
                                                          group_by=["line_item"])
    parsed = [r.amount.value for b in page.data for r in b.results]
    assert parsed == [float(r["amount"]["value"]) for b in raw for r in b["results"]]

    httpx.post(server.url + "/_sim/faults", json={})
    assert all(_get(server, path, params).status_code == 200 for _ in range(4))
    assert httpx.post(server.url + "/_sim/faults", json={"nope": 1}).status_code == 400


def test_anthropic_window_snapping(server, world):
    path = "/v1/organizations/usage_report/messages"
    day = world.start + dt.timedelta(days=3)
    same_day = _get(server, path, {"starting_at": f"{day}T05:00:00Z",
                                   "ending_at": f"{day}T18:00:00Z"}, ANTHROPIC_HEADERS).json()
    assert same_day == {"data": [], "has_more": False, "next_page": None}
    two = _get(server, path, {"starting_at": f"{day}T05:00:00+00:00",
                              "ending_at": f"{day + dt.timedelta(days=2)}T18:00:00Z"},
               ANTHROPIC_HEADERS).json()["data"]
    assert [b["starting_at"] for b in two] == [f"{day}T00:00:00Z",
                                               f"{day + dt.timedelta(days=1)}T00:00:00Z"]
    backwards = _get(server, path, {"starting_at": f"{day}T05:00:00Z",
                                    "ending_at": f"{day}T04:00:00Z"}, ANTHROPIC_HEADERS)
    assert backwards.status_code == 400
