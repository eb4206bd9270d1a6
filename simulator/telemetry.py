"""The world's apps as LLM call telemetry: the usage streams split into one event per call.

Business purpose: provider bills stop at project / workspace / API key; apps know the feature,
prompt template, conversation and end user of every call. This module projects the world's
OpenAI (chat + embeddings) and Anthropic usage streams — exactly what the usage endpoints
serve — into calls of its applications, so that per call token counts sum to the served
usage of every covered stream, and writes them in the three formats tokenledger ingests
(plain JSONL events, OpenTelemetry GenAI spans as OTLP JSON, LiteLLM spend logs).

Not covered, as in real life: the leaked key (no app of ours makes those calls) and Anthropic
Console/Workbench usage (no API key). Knobs: `calls_per_stream_day` (volume; the benchmark
turns it up), `untagged_fraction` (calls reported without team/feature/template) and
`missing_fraction` (calls never reported at all).

Ground truth (`truth_cost_frame`): true cost of every call = its tokens × the world's prices
(the same integer pico-dollar prices the cost endpoints are computed from), summed per day ×
provider × team × application × feature × prompt template, with flags for untagged and missing.
Anthropic calls of the long-context stream carry > 200k input tokens (priced as long
context); every other Anthropic call stays at or below 200k, as the real API prices them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from simulator.ownership import EVEN_EMBEDDING_TEAMS, FIXED_EMBEDDING_SPLIT, SANDBOX_TEAMS
from simulator.world import (
    ANTHROPIC_PRICES,
    CONTEXT_WINDOWS,
    OPENAI_EMBEDDING_MODEL,
    OPENAI_MODELS,
    WEB_SEARCH_USD_PER_1000,
    World,
    _pico,
)

TOKEN_COLUMNS = (
    "input_tokens",  # uncached input
    "cached_input_tokens",
    "cache_write_tokens",  # OpenAI (no TTL)
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "web_search_requests",
)
LONG_CONTEXT_INPUT_TOKENS = 200_000
"""An Anthropic call with more input tokens than this is priced as long context (200k-1M)."""
FORMATS = ("jsonl", "otlp", "litellm")
DEMO_UNTAGGED_FRACTION = 0.05
"""The demo world's apps leave 5 % of their calls untagged ..."""
DEMO_MISSING_FRACTION = 0.02
"""... and never report 2 % of them."""


@dataclass(frozen=True)
class Feature:
    """A feature of an app: who owns it and the prompt template it calls with."""

    team: str
    feature: str
    weight: float = 1.0


@dataclass(frozen=True)
class AppSpec:
    """An application: its name, the telemetry format it reports in and its features."""

    application: str
    source_format: str
    features: tuple[Feature, ...]


def _f(team: str, *features: str) -> tuple[Feature, ...]:
    return tuple(Feature(team, f) for f in features)


APPS: dict[str, AppSpec] = {
    "search-ranking": AppSpec(
        "search-ranking", "jsonl", _f("search", "query-rewrite", "result-summary")
    ),
    "search-ranking/batch": AppSpec(
        "catalog-enrichment", "jsonl", _f("search", "catalog-enrichment")
    ),
    "search-embeddings": AppSpec(
        "embedding-index",
        "otlp",
        tuple(Feature(t, f"{t}-doc-embedding", float(p)) for t, p in FIXED_EMBEDDING_SPLIT),
    ),
    "support-assistant": AppSpec(
        "support-assistant", "litellm", _f("support", "reply-draft", "ticket-triage")
    ),
    "support-assistant/embeddings": AppSpec(
        "knowledge-base",
        "litellm",
        tuple(Feature(t, f"{t}-kb-lookup") for t in EVEN_EMBEDDING_TEAMS),
    ),
    "growth-copy": AppSpec("growth-copy", "jsonl", _f("growth", "ad-copy", "email-subject")),
    "platform-gateway": AppSpec(
        "platform-gateway", "otlp", _f("platform", "gateway-chat", "code-review")
    ),
    "platform-gateway/agent": AppSpec("agent-runner", "otlp", _f("platform", "agent-step")),
    "research-evals": AppSpec("research-evals", "jsonl", _f("research", "eval-grader")),
    "research-evals/batch": AppSpec("nightly-evals", "jsonl", _f("research", "nightly-evals")),
    "default": AppSpec(
        "claude-sandbox", "otlp", tuple(Feature(t, f"{t}-sandbox") for t in SANDBOX_TEAMS)
    ),
    "support-claude": AppSpec(
        "support-claude", "litellm", _f("support", "reply-draft", "thread-summary")
    ),
    "research-agents": AppSpec("research-agents", "otlp", _f("research", "deep-research")),
    "research-agents/long": AppSpec(
        "research-agents", "otlp", _f("research", "long-context-research")
    ),
    "research-agents/batch": AppSpec(
        "literature-batch", "otlp", _f("research", "literature-batch")
    ),
    "search-rerank": AppSpec("search-rerank", "jsonl", _f("search", "rerank")),
    "search-rerank/batch": AppSpec("search-rerank", "jsonl", _f("search", "rerank-backfill")),
    "growth-content": AppSpec(
        "growth-content", "jsonl", _f("growth", "blog-draft", "landing-page")
    ),
    "growth-content/long": AppSpec("growth-content", "jsonl", _f("growth", "long-doc-rewrite")),
}


def _template_id(feature: str) -> str:
    return f"tpl-{feature}"


class TelemetrySim:
    """One event per LLM call of the world's apps (see the module docstring).

    `calls` is an Arrow table of every call (reported or not) with its true tags, the tags it
    reports (`team`, `feature`, ... null when untagged), `is_missing` / `is_untagged` flags,
    tokens by type and its true cost in pico-dollars (`cost_pico`).
    """

    def __init__(
        self,
        world: World,
        *,
        calls_per_stream_day: int = 12,
        untagged_fraction: float = 0.0,
        missing_fraction: float = 0.0,
        seed: int | None = None,
        days: tuple[int, int] | None = None,
    ) -> None:
        """`days` = (first, last) day offsets (inclusive) to project only part of the world
        (the benchmark writes a large world in chunks); default the whole world."""
        self.world = world
        self.days = days
        self.calls_per_stream_day = int(calls_per_stream_day)
        self.untagged_fraction = float(untagged_fraction)
        self.missing_fraction = float(missing_fraction)
        self.seed = world.seed if seed is None else int(seed)
        self.calls = self._build_calls()

    # ------------------------------------------------------------------ streams
    def _streams(self) -> pd.DataFrame:
        """Covered usage streams: one row per (day, key, model, tier, context) as served."""
        w = self.world
        parts = []
        keys = {k["api_key_id"]: k for k in w._oa_keys}
        runaway = w._oa_incident_refs["runaway_key"]["api_key_id"]
        t = w.openai_completions
        f = t.frame
        key_ids = t.decoded("api_key_id", f["api_key_id"].to_numpy())
        models = t.decoded("model", f["model"].to_numpy())
        batch = t.decoded("batch", f["batch"].to_numpy())
        model_idx = {m: i for i, m in enumerate(OPENAI_MODELS)}
        rows = []
        for i, (kid, m, b) in enumerate(zip(key_ids, models, batch, strict=True)):
            key = keys.get(kid)
            if key is None or key["is_leaked"]:
                continue
            tpl = key["project"]["template"]
            spec = tpl
            if b:
                spec = f"{tpl}/batch"
            elif kid == runaway:
                spec = "platform-gateway/agent"
            rows.append((i, spec, key["sub_account_id"], kid, model_idx[m], bool(b)))
        if rows:
            idx = np.array([r[0] for r in rows])
            day = f["day"].to_numpy()[idx]
            mi = np.array([r[4] for r in rows])
            is_batch = np.array([r[5] for r in rows])
            price = w._oa_price[mi, :, day]  # [n, 4] pico per token: input, cached, write, output
            price = np.where(is_batch[:, None], price // 2, price)
            out = f["output_tokens"].to_numpy()[idx]
            reasoning_share = np.where(
                np.array([OPENAI_MODELS[m].startswith("o3") for m in mi]), 0.6, 0.0
            )
            parts.append(
                pd.DataFrame(
                    {
                        "provider": "openai",
                        "day": day,
                        "spec": [r[1] for r in rows],
                        "sub_account_id": [r[2] for r in rows],
                        "api_key_id": [r[3] for r in rows],
                        "model": [OPENAI_MODELS[m] for m in mi],
                        "service_tier": np.where(is_batch, "batch", "default"),
                        "context_window": None,
                        "input_tokens": f["input_uncached_tokens"].to_numpy()[idx],
                        "cached_input_tokens": f["input_cached_tokens"].to_numpy()[idx],
                        "cache_write_tokens": f["input_cache_write_tokens"].to_numpy()[idx],
                        "cache_write_5m_tokens": 0,
                        "cache_write_1h_tokens": 0,
                        "output_tokens": out,
                        "reasoning_tokens": np.rint(out * reasoning_share).astype(np.int64),
                        "web_search_requests": 0,
                        "p_input": price[:, 0],
                        "p_cached": price[:, 1],
                        "p_write": price[:, 2],
                        "p_write_5m": 0,
                        "p_write_1h": 0,
                        "p_output": price[:, 3],
                        "operation": "chat",
                    }
                )
            )
        # embeddings
        t = w.openai_embeddings
        f = t.frame
        key_ids = t.decoded("api_key_id", f["api_key_id"].to_numpy())
        keep = np.array([kid in keys and not keys[kid]["is_leaked"] for kid in key_ids], dtype=bool)
        if keep.any():
            day = f["day"].to_numpy()[keep]
            e_price = w._oa_price[model_idx[OPENAI_EMBEDDING_MODEL], 0, day]
            kids = key_ids[keep]
            specs = [
                "search-embeddings"
                if keys[k]["project"]["template"] == "search-embeddings"
                else f"{keys[k]['project']['template']}/embeddings"
                for k in kids
            ]
            parts.append(
                pd.DataFrame(
                    {
                        "provider": "openai",
                        "day": day,
                        "spec": specs,
                        "sub_account_id": [keys[k]["sub_account_id"] for k in kids],
                        "api_key_id": kids,
                        "model": OPENAI_EMBEDDING_MODEL,
                        "service_tier": "default",
                        "context_window": None,
                        "input_tokens": f["input_tokens"].to_numpy()[keep],
                        "cached_input_tokens": 0,
                        "cache_write_tokens": 0,
                        "cache_write_5m_tokens": 0,
                        "cache_write_1h_tokens": 0,
                        "output_tokens": 0,
                        "reasoning_tokens": 0,
                        "web_search_requests": 0,
                        "p_input": e_price,
                        "p_cached": 0,
                        "p_write": 0,
                        "p_write_5m": 0,
                        "p_write_1h": 0,
                        "p_output": 0,
                        "operation": "embeddings",
                    }
                )
            )
        # Anthropic: keyed usage only (Console usage has no key and no app)
        t = w.anthropic_usage
        f = t.frame
        f = f[f["api_key_id"] > 0]
        akeys = {k["api_key_id"]: k for k in w._an_keys}
        kids = t.decoded("api_key_id", f["api_key_id"].to_numpy())
        models = t.decoded("model", f["model"].to_numpy())
        tiers = t.decoded("service_tier", f["service_tier"].to_numpy())
        ctxs = t.decoded("context_window", f["context_window"].to_numpy())
        specs = []
        prices = np.zeros((len(f), 5), dtype=np.int64)
        for i, (kid, m, tier, ctx) in enumerate(zip(kids, models, tiers, ctxs, strict=True)):
            tpl = akeys[kid]["workspace"]["template"]
            spec = tpl
            if tier == "batch":
                spec = f"{tpl}/batch"
            elif ctx == CONTEXT_WINDOWS[1]:
                spec = f"{tpl}/long"
            specs.append(spec)
            # Priority Tier calls are metered but not on the cost report (world.py): the bill
            # charges them nothing, so neither does the truth of what each feature was billed
            prices[i] = (
                0
                if tier == "priority"
                else [
                    _pico(p) // (2 if tier == "batch" else 1)
                    for p in ANTHROPIC_PRICES[(m, ctx)]
                ]
            )
        parts.append(
            pd.DataFrame(
                {
                    "provider": "anthropic",
                    "day": f["day"].to_numpy(),
                    "spec": specs,
                    "sub_account_id": [akeys[k]["sub_account_id"] for k in kids],
                    "api_key_id": kids,
                    "model": models,
                    "service_tier": tiers,
                    "context_window": ctxs,
                    "input_tokens": f["uncached_input_tokens"].to_numpy(),
                    "cached_input_tokens": f["cache_read_input_tokens"].to_numpy(),
                    "cache_write_tokens": 0,
                    "cache_write_5m_tokens": f[
                        "cache_creation__ephemeral_5m_input_tokens"
                    ].to_numpy(),
                    "cache_write_1h_tokens": f[
                        "cache_creation__ephemeral_1h_input_tokens"
                    ].to_numpy(),
                    "output_tokens": f["output_tokens"].to_numpy(),
                    "reasoning_tokens": 0,
                    "web_search_requests": f["server_tool_use__web_search_requests"].to_numpy(),
                    "p_input": prices[:, 0],
                    "p_cached": prices[:, 1],
                    "p_write": 0,
                    "p_write_5m": prices[:, 2],
                    "p_write_1h": prices[:, 3],
                    "p_output": prices[:, 4],
                    "operation": "chat",
                }
            )
        )
        streams = pd.concat(parts, ignore_index=True)
        for c in (*TOKEN_COLUMNS, "reasoning_tokens"):
            streams[c] = streams[c].astype(np.int64)
        return streams

    # ------------------------------------------------------------------ calls
    def _build_calls(self) -> pa.Table:
        w = self.world
        first = 0 if self.days is None else self.days[0]
        rng = np.random.default_rng([self.seed, 4_0004, first])
        s = self._streams()
        if self.days is not None:
            s = s[(s["day"] >= self.days[0]) & (s["day"] <= self.days[1])].reset_index(drop=True)
        n_s = len(s)
        total_in = (
            s["input_tokens"]
            + s["cached_input_tokens"]
            + s["cache_write_5m_tokens"]
            + s["cache_write_1h_tokens"]
        ).to_numpy()
        base = np.maximum(1, np.rint(self.calls_per_stream_day * rng.uniform(0.6, 1.4, n_s)))
        is_an = (s["provider"] == "anthropic").to_numpy()
        is_long = (s["context_window"] == CONTEXT_WINDOWS[1]).to_numpy()
        # Anthropic calls stay at or below 200k input (the context limit of most models, and
        # above it Sonnet is priced as long context); long-context calls carry well above 200k
        short_min = np.ceil(total_in / 140_000)
        n = np.where(is_an & ~is_long, np.maximum(base, short_min), base)
        n = np.where(is_long, np.maximum(1, total_in // 400_000), n).astype(np.int64)
        stream = np.repeat(np.arange(n_s), n)
        starts = np.concatenate([[0], np.cumsum(n)[:-1]])
        rank = np.arange(len(stream)) - starts[stream]
        weights = rng.uniform(0.7, 1.3, len(stream))
        wsum = np.add.reduceat(weights, starts)
        share = weights / wsum[stream]
        tokens = {}
        for c in (*TOKEN_COLUMNS, "reasoning_tokens"):
            tot = s[c].to_numpy()
            x = np.floor(tot[stream] * share).astype(np.int64)
            rem = tot - np.add.reduceat(x, starts)
            x = x + (rank < rem[stream])
            tokens[c] = x
        # reasoning never above output (both split with the same share; fix rounding)
        tokens["reasoning_tokens"] = np.minimum(tokens["reasoning_tokens"], tokens["output_tokens"])

        # features: each call picks one of its app's features
        specs = s["spec"].to_numpy()[stream]
        n_calls = len(stream)
        team = np.empty(n_calls, dtype=object)
        feature = np.empty(n_calls, dtype=object)
        application = np.empty(n_calls, dtype=object)
        source_format = np.empty(n_calls, dtype=object)
        for name in np.unique(specs):
            app = APPS[name]
            sel = np.nonzero(specs == name)[0]
            p = np.array([x.weight for x in app.features], dtype=float)
            pick = rng.choice(len(app.features), size=len(sel), p=p / p.sum())
            team[sel] = np.array([x.team for x in app.features], dtype=object)[pick]
            feature[sel] = np.array([x.feature for x in app.features], dtype=object)[pick]
            application[sel] = app.application
            source_format[sel] = app.source_format
        template_id = np.array([_template_id(x) for x in feature], dtype=object)
        day = s["day"].to_numpy()[stream]
        version = np.where(day >= w.days // 2, "v2", "v1")
        untagged = rng.random(n_calls) < self.untagged_fraction
        missing = rng.random(n_calls) < self.missing_fraction
        seconds = rng.integers(0, 86_400 - 120, n_calls)
        latency = np.rint(
            np.clip(
                rng.lognormal(np.log(900), 0.6, n_calls) * (1 + tokens["output_tokens"] / 4000),
                40,
                110_000,
            )
        ).astype(np.int64)
        status = np.where(rng.random(n_calls) < 0.01, "error", "ok")
        conv = np.char.add(
            np.char.add(f"conv-{first}-", stream.astype(str)),
            np.char.add("-", (rank // 4).astype(str)),
        )
        end_user = np.char.add(
            np.char.add("user-", np.array([a[:6] for a in application], dtype=str)),
            np.char.add("-", rng.integers(0, 300, n_calls).astype(str)),
        )
        cost_pico = (
            tokens["input_tokens"] * s["p_input"].to_numpy()[stream]
            + tokens["cached_input_tokens"] * s["p_cached"].to_numpy()[stream]
            + tokens["cache_write_tokens"] * s["p_write"].to_numpy()[stream]
            + tokens["cache_write_5m_tokens"] * s["p_write_5m"].to_numpy()[stream]
            + tokens["cache_write_1h_tokens"] * s["p_write_1h"].to_numpy()[stream]
            + tokens["output_tokens"] * s["p_output"].to_numpy()[stream]
            + tokens["web_search_requests"] * _pico(WEB_SEARCH_USD_PER_1000 * 1000)
        )
        occurred = (
            np.datetime64(w.start.isoformat(), "s")
            + day.astype("timedelta64[D]")
            + seconds.astype("timedelta64[s]")
        )
        prefix = f"evt-{self.seed:x}-" if self.days is None else f"evt-{self.seed:x}-{first}-"
        event_id = np.char.add(prefix, np.char.zfill(np.arange(n_calls).astype(str), 10))

        def obj(col: str) -> np.ndarray:
            values = s[col].astype(object)
            return values.where(values.notna(), None).to_numpy()[stream]

        def tag(values: np.ndarray) -> pa.Array:
            return pa.array(values, type=pa.string(), mask=untagged)

        cols = {
            "event_id": pa.array(event_id, pa.string()),
            "source_format": pa.array(source_format, pa.string()),
            "provider": pa.array(obj("provider"), pa.string()),
            "operation": pa.array(obj("operation"), pa.string()),
            "api_key_id": pa.array(obj("api_key_id"), pa.string()),
            "sub_account_id": pa.array(obj("sub_account_id"), pa.string()),
            "model": pa.array(obj("model"), pa.string()),
            "service_tier": pa.array(obj("service_tier"), pa.string()),
            "context_window": pa.array(obj("context_window"), pa.string()),
            "application": pa.array(application, pa.string()),
            "true_team": pa.array(team, pa.string()),
            "true_feature": pa.array(feature, pa.string()),
            "true_prompt_template_id": pa.array(template_id, pa.string()),
            "team": tag(team),
            "feature": tag(feature),
            "prompt_template_id": tag(template_id),
            "prompt_template_version": tag(version),
            "conversation_id": pa.array(conv, pa.string()),
            "end_user_id": pa.array(end_user, pa.string()),
            "status": pa.array(status, pa.string()),
            "latency_ms": pa.array(latency, pa.int64()),
            **{c: pa.array(tokens[c], pa.int64()) for c in (*TOKEN_COLUMNS, "reasoning_tokens")},
            "occurred_at": pa.array(occurred, pa.timestamp("s", tz="UTC")),
            "event_date": pa.array(
                np.datetime64(w.start.isoformat(), "D") + day.astype("timedelta64[D]"), pa.date32()
            ),
            "is_untagged": pa.array(untagged),
            "is_missing": pa.array(missing),
            "cost_pico": pa.array(cost_pico.astype(np.int64), pa.int64()),
        }
        return pa.table(cols)

    # ------------------------------------------------------------------ truth
    def truth_cost_frame(self) -> pd.DataFrame:
        """True cost of every call (tokens × the world's prices) per day × provider × team ×
        application × feature × prompt template × untagged × missing, `cost_nano` exact to
        0.001 nano-dollar before rounding (pico sums rounded half up)."""
        t = self.calls.select(
            [
                "event_date",
                "provider",
                "true_team",
                "application",
                "true_feature",
                "true_prompt_template_id",
                "is_untagged",
                "is_missing",
                "cost_pico",
            ]
        ).to_pandas()
        g = t.groupby(
            [
                "event_date",
                "provider",
                "true_team",
                "application",
                "true_feature",
                "true_prompt_template_id",
                "is_untagged",
                "is_missing",
            ],
            as_index=False,
        )["cost_pico"].sum()
        g = g.rename(
            columns={
                "event_date": "date",
                "true_team": "team",
                "true_feature": "feature",
                "true_prompt_template_id": "prompt_template_id",
            }
        )
        return g

    def reported(self) -> pa.Table:
        """The calls apps report (missing ones removed)."""
        return self.calls.filter(pc.invert(self.calls["is_missing"]))

    # ------------------------------------------------------------------ files
    def write(self, directory: str | Path, *, days_per_file: int = 1) -> list[Path]:
        """Write the reported calls under `directory/<format>/<application>/<day>.jsonl`."""
        from simulator.telemetry_formats import write_calls

        return write_calls(self.reported(), Path(directory), days_per_file=days_per_file)


def day_range(world: World) -> tuple[dt.date, dt.date]:
    """First and last UTC day the world covers."""
    return world.start, world.date_of(world.days - 1)
