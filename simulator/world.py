"""The simulated organisation whose AI spend every provider API projects.

One seeded, deterministic world: teams own OpenAI projects and Anthropic workspaces, which hold
API keys that spend tokens on models day by day, with weekly and monthly rhythms, growth, a
price change and injected incidents. The HTTP server (`simulator.server`) only reads the tables
built here, so what it serves and the ground truth (`World.truth_billed_cost`) cannot disagree.

Money is integer nano-dollars (1e-9 USD) everywhere: that is the quantum of an OpenAI cost line
(1e-9 USD) and of an Anthropic one (1e-7 cents), so every sum is exact.
"""

from __future__ import annotations

import csv
import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

TEAMS = ("search", "support", "growth", "platform", "research")

# --- models and prices (USD per million tokens; batch tier is 50 %) -------------------------
OPENAI_CHAT_MODELS = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "o3-mini-2025-01-31",
    "gpt-4.1-2025-04-14",
)
OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
OPENAI_MODELS = OPENAI_CHAT_MODELS + (OPENAI_EMBEDDING_MODEL,)
# OpenAI cost line kinds, in `line_item` order "<model>, <kind>"
OPENAI_KINDS = ("input", "cached input", "cache write", "output")
OPENAI_KIND_TOKEN_TYPE = {
    "input": "input",
    "cached input": "cached_input",
    "cache write": "cache_write",
    "output": "output",
    "input audio": "input_audio",
    "output audio": "output_audio",
}
OPENAI_PRICES = {  # kind -> USD / 1M tokens
    "gpt-4o-2024-08-06": (2.50, 1.25, 3.125, 10.00),
    "gpt-4o-mini-2024-07-18": (0.15, 0.075, 0.1875, 0.60),
    "o3-mini-2025-01-31": (1.10, 0.55, 1.375, 4.40),
    "gpt-4.1-2025-04-14": (2.00, 0.50, 2.50, 8.00),
    "text-embedding-3-small": (0.02, 0.0, 0.0, 0.0),
}
# the one mid-history price change: gpt-4o gets cheaper
PRICE_CHANGE_MODEL = "gpt-4o-2024-08-06"
PRICE_CHANGE_NEW = (2.00, 1.00, 2.50, 8.00)

ANTHROPIC_MODELS = (
    "claude-sonnet-4-20250514",
    "claude-3-5-haiku-20241022",
    "claude-opus-4-1-20250805",
)
ANTHROPIC_DISPLAY = {
    "claude-sonnet-4-20250514": "Claude Sonnet 4",
    "claude-3-5-haiku-20241022": "Claude Haiku 3.5",
    "claude-opus-4-1-20250805": "Claude Opus 4.1",
}
ANTHROPIC_TOKEN_TYPES = (
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "output_tokens",
)
ANTHROPIC_TOKEN_TYPE_LABEL = {
    "uncached_input_tokens": "Input Tokens",
    "cache_read_input_tokens": "Cache Read Input Tokens",
    "cache_creation.ephemeral_5m_input_tokens": "Cache Write Input Tokens (5m)",
    "cache_creation.ephemeral_1h_input_tokens": "Cache Write Input Tokens (1h)",
    "output_tokens": "Output Tokens",
}
ANTHROPIC_TOKEN_TYPE_CONFORMED = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cached_input",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "output_tokens": "output",
}
ANTHROPIC_PRICES = {  # (context_window) -> token type order above, USD / 1M tokens
    ("claude-sonnet-4-20250514", "0-200k"): (3.00, 0.30, 3.75, 6.00, 15.00),
    ("claude-sonnet-4-20250514", "200k-1M"): (6.00, 0.60, 7.50, 12.00, 22.50),
    ("claude-3-5-haiku-20241022", "0-200k"): (0.80, 0.08, 1.00, 1.60, 4.00),
    ("claude-opus-4-1-20250805", "0-200k"): (15.00, 1.50, 18.75, 30.00, 75.00),
}
WEB_SEARCH_USD_PER_1000 = 10.0
CONTEXT_WINDOWS = ("0-200k", "200k-1M")
ANTHROPIC_TIERS = ("standard", "batch", "priority")  # priority: usage report only, not billed there
CODE_EXECUTION_USD_PER_HOUR = 0.05

# --- OpenAI services beyond completions/embeddings (usage endpoint, cost line item) ----------
# service -> (usage table, [(model, line item, USD per unit, unit served, decimals of quantity)])
# Prices are the simulator's (list-like, rounded); tool-call lines carry no model and no
# `quantity_unit` (the API's unit enum has nothing for calls or sessions).
OPENAI_IMAGE_MODELS = {  # model -> (size, source, USD per image)
    "dall-e-3": ("1024x1024", "image.generation", 0.040),
    "dall-e-2": ("512x512", "image.edit", 0.018),
}
OPENAI_TTS_MODEL, OPENAI_TTS_USD_PER_1M_CHARS = "tts-1", 15.0
OPENAI_TRANSCRIBE_MODEL, OPENAI_TRANSCRIBE_USD_PER_MINUTE = "whisper-1", 0.006
OPENAI_MODERATION_MODEL = "omni-moderation-latest"  # free: usage only, no cost line
OPENAI_VECTOR_STORE_USD_PER_GIB_DAY = 0.10
OPENAI_FILE_SEARCH_USD_PER_1000 = 2.50
OPENAI_WEB_SEARCH_USD_PER_1000 = 10.0
OPENAI_WEB_SEARCH_MODEL = "gpt-4o-2024-08-06"
OPENAI_CODE_INTERPRETER_USD_PER_SESSION = 0.03
GIB = 1 << 30
# line item -> (model, conformed token_type, quantity_unit served, decimals of the quantity)
OPENAI_SERVICE_LINES = {
    "dall-e-3, images": ("dall-e-3", "image", "images", 0),
    "dall-e-2, images": ("dall-e-2", "image", "images", 0),
    "tts-1, characters": ("tts-1", "characters", "characters", 0),
    "whisper-1, audio transcription": ("whisper-1", "audio_seconds", "duration_minutes", 6),
    "vector store storage": (None, "vector_store_gb_day", "gibibyte_hours", 6),
    "file search tool calls": (None, "file_search_call", None, 0),
    "web search tool calls": (None, "web_search", None, 0),
    "code interpreter sessions": (None, "code_interpreter_session", None, 0),
}

NANO = Decimal("0.000000001")

EXTRA_TRUTH: dict[str, Callable[[World, int, int], pd.DataFrame]] = {}
"""Providers projected from the world by their own module (`simulator/<provider>.py`) register
`name -> truth(world, first_day, last_day)` here (`register_truth`). The function returns a
frame with the truth grain's columns (`provider, date, sub_account_id, api_key_id, model,
token_type, service_tier, billed_cost_nano`) plus optionally `billing_currency` (default USD;
amounts are in the billing currency, integer 1e-9 units). Modules register on import; the
bottom of this file imports them so every `World` knows every provider."""


CORE_PROVIDERS = ("openai", "anthropic")


def all_providers() -> tuple[str, ...]:
    """Every provider the simulator can project: OpenAI, Anthropic and the registered ones."""
    return CORE_PROVIDERS + tuple(EXTRA_TRUTH)


def register_truth(provider: str, truth: Callable[[World, int, int], pd.DataFrame]) -> None:
    """Make `World.truth_billed_cost(provider=...)` include another provider's truth."""
    EXTRA_TRUTH[provider] = truth


DAY_SECONDS = 86400
_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
_LOWER = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))


def _pico(usd_per_million: float) -> int:
    """Price per token in pico-dollars (USD / 1M tokens × 1e6), exact for cent-ish prices."""
    return int(round(usd_per_million * 1_000_000))


def nano_to_decimal(nano: int) -> Decimal:
    """Integer nano-dollars as a Decimal USD amount with 9 decimals."""
    return Decimal(int(nano)).scaleb(-9).quantize(NANO)


@dataclass(frozen=True)
class Incident:
    """An injected, known-cause spend event that detection should find (dates inclusive)."""

    incident_id: str
    kind: str
    provider: str
    start_date: dt.date
    end_date: dt.date
    sub_account_id: str | None
    api_key_id: str | None
    model: str | None
    team: str | None
    description: str


class Table:
    """A served dataset: one row per finest API grain and day, dimensions as integer codes.

    `frame` holds `day` (0-based offset from `World.start`), dimension code columns (index into
    `vocab[col]`, where code 0 means null) and integer metric columns; rows are sorted by day so
    `offsets[d]:offsets[d + 1]` are day d's rows.
    """

    def __init__(self, frame: pd.DataFrame, vocab: dict[str, list], days: int) -> None:
        self.vocab = vocab
        self.days = days
        self._index = {c: {v: i for i, v in enumerate(vals)} for c, vals in vocab.items()}
        self.set_frame(frame)

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Replace the rows (kept sorted by day, stable) and recompute day offsets."""
        frame = frame.sort_values("day", kind="stable").reset_index(drop=True)
        self.frame = frame
        self.offsets = np.searchsorted(
            frame["day"].to_numpy(), np.arange(self.days + 1), side="left"
        )

    def code(self, col: str, value: object) -> int:
        """The code of a dimension value, adding it to the vocabulary if new."""
        idx = self._index[col]
        if value not in idx:
            idx[value] = len(self.vocab[col])
            self.vocab[col].append(value)
        return idx[value]

    def lookup(self, col: str, value: object) -> int | None:
        """The code of a value, or None if the table never saw it."""
        return self._index[col].get(value)

    def day_rows(self, first: int, last: int) -> pd.DataFrame:
        """Rows of days first..last inclusive (clamped to the world)."""
        first = max(first, 0)
        last = min(last, self.days - 1)
        if last < first:
            return self.frame.iloc[0:0]
        return self.frame.iloc[self.offsets[first] : self.offsets[last + 1]]

    def decoded(self, col: str, codes: np.ndarray) -> np.ndarray:
        """Dimension values for an array of codes (object array, None for null)."""
        return np.array(self.vocab[col], dtype=object)[codes]


def _ids(rng: np.random.Generator, prefix: str, n: int, length: int, lower: bool = False) -> list:
    alphabet = _LOWER if lower else _ALNUM
    chars = alphabet[rng.integers(0, len(alphabet), size=(n, length))]
    return [prefix + "".join(row) for row in chars]


def _vocab(values: Iterable) -> tuple[list, dict]:
    """A vocabulary with null at code 0 and the given values (in first-seen order)."""
    vocab: list = [None]
    index: dict = {None: 0}
    for v in values:
        if v not in index:
            index[v] = len(vocab)
            vocab.append(v)
    return vocab, index


class World:
    """A deterministic, seeded organisation spending on OpenAI and Anthropic over `days` days.

    Covers UTC days `[start, start + days)`; `start` defaults to today (UTC) minus `days`.
    `scale` multiplies projects, workspaces and keys (rows per day). Same arguments → same world.
    `providers` names the providers whose ground truth `truth_billed_cost` includes: default
    OpenAI and Anthropic; `all_providers()` for every registered one (the demo's world).
    """

    def __init__(
        self,
        seed: int,
        days: int,
        start: dt.date | None = None,
        scale: int = 1,
        providers: Iterable[str] | None = None,
    ) -> None:
        if days < 1:
            raise ValueError("days must be >= 1")
        if scale < 1:
            raise ValueError("scale must be >= 1")
        if isinstance(start, str):
            start = dt.date.fromisoformat(start)
        if start is None:
            start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
        self.seed = int(seed)
        self.days = int(days)
        # which providers the organisation uses: OpenAI and Anthropic always; the providers
        # other modules project (EXTRA_TRUTH) join the truth only when named here
        self.providers = tuple(providers) if providers is not None else CORE_PROVIDERS
        unknown = set(self.providers) - set(CORE_PROVIDERS) - set(EXTRA_TRUTH)
        if unknown:
            raise ValueError(f"unknown provider(s) {sorted(unknown)}")
        self.start = start
        self.scale = int(scale)
        self.end = start + dt.timedelta(days=days)  # exclusive
        self.start_epoch = int(
            dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp()
        )
        self.end_epoch = self.start_epoch + self.days * DAY_SECONDS
        self._lock = threading.RLock()
        self.version = 0  # bumped on every restatement / injection

        rng = np.random.default_rng(np.random.PCG64(self.seed))
        self.openai_org_id = "org-" + _ids(rng, "", 1, 24)[0]
        hexs = "".join(rng.choice(list("0123456789abcdef"), 32))
        self.anthropic_org_id = f"{hexs[:8]}-{hexs[8:12]}-{hexs[12:16]}-{hexs[16:20]}-{hexs[20:]}"
        self._calendar()
        self._incident_days()
        self._build_entities(rng)
        self._build_openai(rng)
        self._build_anthropic(rng)

    # ------------------------------------------------------------------ calendar & incidents
    def _calendar(self) -> None:
        d = np.arange(self.days)
        dates = np.datetime64(self.start.isoformat(), "D") + d
        self._dow = (self.start.weekday() + d) % 7  # 0 = Monday
        self._dom = (dates - dates.astype("datetime64[M]")).astype(int) + 1
        month = dates.astype("datetime64[M]").astype(int) % 12 + 1
        holiday = ((month == 12) & (self._dom == 25)) | ((month == 1) & (self._dom == 1))
        weekday = np.where(self._dow == 5, 0.45, np.where(self._dow == 6, 0.38, 1.0))
        self._season = weekday * np.where(holiday, 0.5, 1.0)
        # month-start batch jobs: a big run on the 1st-2nd, light ad-hoc batches otherwise
        self._batch_season = np.where(self._dom <= 2, 6.0, 0.15 * weekday)
        self._t = d / 365.0

    def _day(self, frac: float) -> int:
        return int(min(self.days - 1, max(0, round(self.days * frac))))

    def _incident_days(self) -> None:
        self.launch_day = self._day(0.5)  # gpt-4.1 launches
        self.price_change_day = max(1, self._day(0.55)) if self.days > 1 else 0
        self.runaway_day = self._day(0.62)  # 2 days
        self.leak_day = self._day(0.78)  # to the end
        self.cache_day = self._day(0.4)  # 7 days
        self.backfill_day = self._day(0.28)  # 3 days
        # outage: 3 weekdays (starts Monday–Wednesday) from about 70 % of the world
        first = self._day(0.7)
        self.outage_day = next(
            (d for d in range(first, self.days) if self._dow[d] <= 2), first
        )

    def date_of(self, day: int) -> dt.date:
        """The UTC date of day offset `day`."""
        return self.start + dt.timedelta(days=int(day))

    def _end(self, first: int, length: int) -> int:
        return min(self.days - 1, first + length - 1)

    # ------------------------------------------------------------------ entities
    def _build_entities(self, rng: np.random.Generator) -> None:
        k = self.scale
        users = []
        # OpenAI projects: (name, team, chat models, batch models, embedding share)
        templates = [
            (
                "search-ranking",
                "search",
                ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"],
                ["gpt-4o-mini-2024-07-18"],
                0.0,
            ),
            ("search-embeddings", "search", [], [], 1.0),
            (
                "support-assistant",
                "support",
                ["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"],
                [],
                0.15,
            ),
            ("growth-copy", "growth", ["gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14"], [], 0.0),
            (
                "platform-gateway",
                "platform",
                ["gpt-4o-2024-08-06", "o3-mini-2025-01-31", "gpt-4.1-2025-04-14"],
                [],
                0.0,
            ),
            (
                "research-evals",
                "research",
                ["o3-mini-2025-01-31", "gpt-4o-2024-08-06"],
                ["o3-mini-2025-01-31", "gpt-4o-2024-08-06"],
                0.0,
            ),
        ]
        projects = []
        for copy in range(k):
            for name, team, chat, batch, emb in templates:
                projects.append(
                    dict(
                        name=name if copy == 0 else f"{name}-{copy}",
                        team=team,
                        chat=chat,
                        batch=batch,
                        emb=emb,
                        copy=copy,
                        template=name,
                    )
                )
        pids = _ids(rng, "proj_", len(projects), 24)
        keys = []
        for p, pid in zip(projects, pids, strict=True):
            p["project_id"] = pid
            n_keys = 1 if p["template"] == "search-embeddings" else 2
            kids = _ids(rng, "key_", n_keys, 16)
            uids = _ids(rng, "user-", n_keys, 24)
            for i, (kid, uid) in enumerate(zip(kids, uids, strict=True)):
                email = f"{p['team']}.dev{len(users) + 1}@example.com"
                users.append(dict(user_id=uid, email=email, team=p["team"]))
                keys.append(
                    dict(
                        provider="openai",
                        api_key_id=kid,
                        sub_account_id=pid,
                        sub_account_name=p["name"],
                        team=p["team"],
                        owner_user_id=uid,
                        owner_email=email,
                        created_date=self.start,
                        is_leaked=False,
                        key_index=i,
                        project=p,
                    )
                )
        # the leaked key: lives in growth-copy, owned by nobody, created on the leak day
        growth = next(p for p in projects if p["template"] == "growth-copy")
        leaked = dict(
            provider="openai",
            api_key_id=_ids(rng, "key_", 1, 16)[0],
            sub_account_id=growth["project_id"],
            sub_account_name=growth["name"],
            team=None,
            owner_user_id=None,
            owner_email=None,
            created_date=self.date_of(self.leak_day),
            is_leaked=True,
            key_index=2,
            project=growth,
        )
        keys.append(leaked)
        self._oa_projects = projects
        self._oa_keys = keys
        self._users = users

        # Anthropic workspaces: (name, team, [(model, tier, ctx, web_search)], keys)
        sonnet, haiku, opus = ANTHROPIC_MODELS
        ws_templates = [
            (
                "support-claude",
                "support",
                [(sonnet, "standard", "0-200k", False), (haiku, "standard", "0-200k", False)],
            ),
            (
                "research-agents",
                "research",
                [
                    (opus, "standard", "0-200k", True),
                    (sonnet, "standard", "0-200k", True),
                    (sonnet, "batch", "0-200k", False),
                ],
            ),
            (
                "search-rerank",
                "search",
                [(haiku, "standard", "0-200k", False), (haiku, "batch", "0-200k", False)],
            ),
            (
                "growth-content",
                "growth",
                [(sonnet, "standard", "0-200k", False), (sonnet, "standard", "200k-1M", False)],
            ),
        ]
        workspaces = [
            dict(
                name="Default Workspace",
                team="platform",
                workspace_id=None,
                copy=0,
                template="default",
                streams=[
                    (sonnet, "standard", "0-200k", False),
                    (haiku, "standard", "0-200k", False),
                ],
            )
        ]
        for copy in range(k):
            for name, team, streams in ws_templates:
                workspaces.append(
                    dict(
                        name=name if copy == 0 else f"{name}-{copy}",
                        team=team,
                        copy=copy,
                        template=name,
                        streams=streams,
                    )
                )
        wids = _ids(rng, "wrkspc_01", len(workspaces) - 1, 22)
        for w, wid in zip(workspaces[1:], wids, strict=True):
            w["workspace_id"] = wid
        akeys = []
        for w in workspaces:
            kids = _ids(rng, "apikey_01", 2, 22)
            for i, kid in enumerate(kids):
                email = f"{w['team']}.claude{len(akeys) + 1}@example.com"
                akeys.append(
                    dict(
                        provider="anthropic",
                        api_key_id=kid,
                        sub_account_id=w["workspace_id"],
                        sub_account_name=w["name"],
                        team=w["team"],
                        owner_user_id=None,
                        owner_email=email,
                        created_date=self.start,
                        is_leaked=False,
                        key_index=i,
                        workspace=w,
                    )
                )
        self._an_workspaces = workspaces
        self._an_keys = akeys

    # ------------------------------------------------------------------ OpenAI
    def _matrix(
        self, rng: np.random.Generator, base: np.ndarray, season: np.ndarray, growth: np.ndarray
    ) -> np.ndarray:
        noise = np.exp(rng.normal(0.0, 0.12, size=(len(base), self.days)))
        return base[:, None] * season[None, :] * np.exp(growth[:, None] * self._t[None, :]) * noise

    def _build_openai(self, rng: np.random.Generator) -> None:
        days = self.days
        model_idx = {m: i for i, m in enumerate(OPENAI_MODELS)}
        # price matrix [model, kind, day] in pico-dollars per token
        price = np.zeros((len(OPENAI_MODELS), len(OPENAI_KINDS), days), dtype=np.int64)
        for m, prices in OPENAI_PRICES.items():
            for k, p in enumerate(prices):
                price[model_idx[m], k, :] = _pico(p)
        for k, p in enumerate(PRICE_CHANGE_NEW):
            price[model_idx[PRICE_CHANGE_MODEL], k, self.price_change_day :] = _pico(p)
        self._oa_price = price

        # chat streams: one per (key, model); interactive and batch volumes per day
        rows = []
        for ki, key in enumerate(self._oa_keys):
            p = key["project"]
            models = ["gpt-4o-2024-08-06"] if key["is_leaked"] else p["chat"]
            for m in models:
                rows.append((ki, m, m in p["batch"] and not key["is_leaked"]))
        s_key = np.array([r[0] for r in rows], dtype=np.int64)
        s_model = np.array([model_idx[r[1]] for r in rows], dtype=np.int64)
        s_has_batch = np.array([r[2] for r in rows], dtype=bool)
        n = len(rows)
        model_factor = np.array(
            [
                {"gpt-4o-mini-2024-07-18": 3.0, "o3-mini-2025-01-31": 0.6}.get(
                    OPENAI_MODELS[m], 1.0
                )
                for m in s_model
            ]
        )
        base_i = rng.lognormal(np.log(12e6), 0.7, n) * model_factor
        base_b = rng.lognormal(np.log(6e6), 0.5, n) * s_has_batch
        growth = rng.normal(0.7, 0.3, n)
        cache_share = rng.uniform(0.2, 0.6, n)
        write_share = rng.uniform(0.01, 0.04, n)
        out_ratio = rng.uniform(0.12, 0.35, n) * np.where(
            s_model == model_idx["o3-mini-2025-01-31"], 2.5, 1.0
        )
        prompt = rng.uniform(800, 4000, n)

        vol_i = self._matrix(rng, base_i, self._season, growth)
        vol_b = self._matrix(rng, base_b, self._batch_season, growth)
        day = np.arange(days)
        s_leaked = np.array([self._oa_keys[k]["is_leaked"] for k in s_key])
        # leaked key: flat, round-the-clock spend from the leak day on
        vol_i[s_leaked] = (
            base_i[s_leaked, None]
            * 2.5
            * (day >= self.leak_day)[None, :]
            * np.exp(rng.normal(0, 0.05, (int(s_leaked.sum()), days)))
        )
        # new model launch: gpt-4.1 absent before launch, ramps up over two weeks
        s_new = s_model == model_idx["gpt-4.1-2025-04-14"]
        ramp = np.clip((day - self.launch_day + 1) / 14.0, 0.0, 1.0)
        vol_i[s_new] *= ramp[None, :]
        vol_b[s_new] *= ramp[None, :]
        # runaway agent loop: one key (platform-gateway key 0) ×20 for two days
        runaway_key = next(
            i
            for i, k in enumerate(self._oa_keys)
            if k["project"]["template"] == "platform-gateway"
            and k["project"]["copy"] == 0
            and k["key_index"] == 0
        )
        rwin = (day >= self.runaway_day) & (day < self.runaway_day + 2)
        vol_i[np.ix_(s_key == runaway_key, rwin)] *= 20.0
        # cache misconfiguration: support-assistant's cached share drops to ~0 for a week
        cache_proj = next(
            p for p in self._oa_projects if p["template"] == "support-assistant" and p["copy"] == 0
        )
        s_proj = np.array([self._oa_keys[k]["project"]["project_id"] for k in s_key])
        cwin = (day >= self.cache_day) & (day < self.cache_day + 7)
        cshare = np.repeat(cache_share[:, None], days, axis=1)
        cshare[np.ix_(s_proj == cache_proj["project_id"], cwin)] = 0.002
        # outage (a spend drop): the busiest key of no other incident falls to ~10 % of its
        # traffic for three weekdays (its client broke; nothing else changes)
        busy = np.bincount(s_key, weights=vol_i.sum(axis=1), minlength=len(self._oa_keys))
        for ki, key in enumerate(self._oa_keys):
            if (
                key["is_leaked"]
                or key["project"] is self._oa_keys[runaway_key]["project"]
                or key["project"]["project_id"] == cache_proj["project_id"]
                or key["project"]["template"] == "growth-copy"
            ):
                busy[ki] = -1.0
        outage_key = int(np.argmax(busy))
        owin = (day >= self.outage_day) & (day < self.outage_day + 3)
        vol_i[np.ix_(s_key == outage_key, owin)] *= 0.1
        vol_b[np.ix_(s_key == outage_key, owin)] *= 0.1

        out_noise = np.exp(rng.normal(0, 0.08, (n, days)))
        tiers = []
        for is_batch, vol in ((False, vol_i), (True, vol_b)):
            total = np.rint(vol).astype(np.int64)
            cached = np.rint(total * cshare).astype(np.int64)
            write = np.rint(total * write_share[:, None]).astype(np.int64)
            uncached = total - cached - write
            output = np.rint(total * out_ratio[:, None] * out_noise).astype(np.int64)
            requests = np.maximum(1, np.rint(total / prompt[:, None])).astype(np.int64)
            tiers.append((is_batch, total, uncached, cached, write, output, requests))

        # usage rows (completions)
        key_ids = [k["api_key_id"] for k in self._oa_keys]
        key_proj = [k["sub_account_id"] for k in self._oa_keys]
        key_user = [k["owner_user_id"] for k in self._oa_keys]
        v_project, i_project = _vocab(p["project_id"] for p in self._oa_projects)
        v_key, i_key = _vocab(key_ids)
        v_user, i_user = _vocab(u["user_id"] for u in self._users)
        v_model, i_model = _vocab(OPENAI_MODELS)
        key_proj_code = np.array([i_project[x] for x in key_proj])
        key_code = np.array([i_key[x] for x in key_ids])
        key_user_code = np.array([i_user.get(x, 0) for x in key_user])
        model_code = np.array([i_model[m] for m in OPENAI_MODELS])
        parts = []
        for is_batch, total, uncached, cached, write, output, requests in tiers:
            s, d = np.nonzero(total > 0)
            parts.append(
                pd.DataFrame(
                    {
                        "day": d.astype(np.int64),
                        "project_id": key_proj_code[s_key[s]],
                        "user_id": key_user_code[s_key[s]],
                        "api_key_id": key_code[s_key[s]],
                        "model": model_code[s_model[s]],
                        "batch": np.full(len(s), 2 if is_batch else 1),
                        "service_tier": np.full(len(s), 1),
                        "input_tokens": total[s, d],
                        "output_tokens": output[s, d],
                        "num_model_requests": requests[s, d],
                        "input_cached_tokens": cached[s, d],
                        "input_cache_write_tokens": write[s, d],
                        "input_uncached_tokens": uncached[s, d],
                        "input_audio_tokens": np.zeros(len(s), dtype=np.int64),
                        "output_audio_tokens": np.zeros(len(s), dtype=np.int64),
                    }
                )
            )
        comp = pd.concat(parts, ignore_index=True).sort_values(
            ["day", "project_id", "api_key_id", "model", "batch"], kind="stable"
        )
        self.openai_completions = Table(
            comp,
            {
                "project_id": v_project,
                "user_id": v_user,
                "api_key_id": v_key,
                "model": v_model,
                "batch": [None, False, True],
                "service_tier": [None, "default"],
            },
            days,
        )

        # embeddings: one stream per key of a project with an embedding share
        e_keys = [
            ki
            for ki, k in enumerate(self._oa_keys)
            if k["project"]["emb"] > 0 and not k["is_leaked"]
        ]
        e_key = np.array(e_keys, dtype=np.int64)
        e_share = np.array([self._oa_keys[k]["project"]["emb"] for k in e_keys])
        e_base = rng.lognormal(np.log(80e6), 0.5, len(e_keys)) * e_share
        e_vol = np.rint(
            self._matrix(rng, e_base, 0.5 + 0.5 * self._season, rng.normal(0.5, 0.2, len(e_keys)))
        ).astype(np.int64)
        e_out = np.ix_(e_key == outage_key, owin)
        e_vol[e_out] = np.rint(e_vol[e_out] * 0.1).astype(np.int64)
        s, d = np.nonzero(e_vol > 0)
        emb = pd.DataFrame(
            {
                "day": d.astype(np.int64),
                "project_id": key_proj_code[e_key[s]],
                "user_id": key_user_code[e_key[s]],
                "api_key_id": key_code[e_key[s]],
                "model": np.full(len(s), i_model[OPENAI_EMBEDDING_MODEL]),
                "input_tokens": e_vol[s, d],
                "num_model_requests": np.maximum(1, e_vol[s, d] // 600),
            }
        ).sort_values(["day", "project_id", "api_key_id"], kind="stable")
        self.openai_embeddings = Table(
            emb,
            {"project_id": v_project, "user_id": v_user, "api_key_id": v_key, "model": v_model},
            days,
        )

        # cost lines at (day, project, key, line_item): Σ tiers tokens × dated price
        line_items = []
        line_meta = {}
        for m in OPENAI_MODELS:
            for kind in OPENAI_KINDS:
                li = f"{m}, {kind}"
                line_items.append(li)
                line_meta[li] = (m, OPENAI_KIND_TOKEN_TYPE[kind])
        v_line, i_line = _vocab(line_items)
        cost_parts = []
        (_, _, ui, ci, wi, oi, _), (_, _, ub, cb, wb, ob, _) = tiers
        for k, kind in enumerate(OPENAI_KINDS):
            tok_i, tok_b = [(ui, ub), (ci, cb), (wi, wb), (oi, ob)][k]
            qty = tok_i + tok_b
            p = price[s_model, k, :]
            pico = tok_i * p + tok_b * (p // 2)
            s, d = np.nonzero(qty > 0)
            li_code = np.array([i_line[f"{m}, {kind}"] for m in OPENAI_MODELS])
            cost_parts.append(
                pd.DataFrame(
                    {
                        "day": d.astype(np.int64),
                        "project_id": key_proj_code[s_key[s]],
                        "api_key_id": key_code[s_key[s]],
                        "line_item": li_code[s_model[s]],
                        "has_amount": np.ones(len(s), dtype=np.int64),
                        "quantity": qty[s, d],
                        "nano": (pico[s, d] + 500) // 1000,
                    }
                )
            )
        s, d = np.nonzero(e_vol > 0)
        e_price = price[model_idx[OPENAI_EMBEDDING_MODEL], 0, :]
        cost_parts.append(
            pd.DataFrame(
                {
                    "day": d.astype(np.int64),
                    "project_id": key_proj_code[e_key[s]],
                    "api_key_id": key_code[e_key[s]],
                    "line_item": np.full(len(s), i_line[f"{OPENAI_EMBEDDING_MODEL}, input"]),
                    "has_amount": np.ones(len(s), dtype=np.int64),
                    "quantity": e_vol[s, d],
                    "nano": (e_vol[s, d] * e_price[d] + 500) // 1000,
                }
            )
        )
        costs = pd.concat(cost_parts, ignore_index=True)
        order = np.lexsort(
            [costs[c].to_numpy() for c in ("line_item", "api_key_id", "project_id", "day")]
        )
        costs = costs.iloc[order]
        self.openai_costs = Table(
            costs,
            {
                "project_id": v_project,
                "api_key_id": v_key,
                "line_item": v_line,
                "has_amount": [None, True],
            },
            days,
        )
        self._oa_line_meta = line_meta

        self._oa_incident_refs = dict(
            runaway_key=self._oa_keys[runaway_key],
            outage_key=self._oa_keys[outage_key],
            cache_project=cache_proj,
            leaked_key=next(k for k in self._oa_keys if k["is_leaked"]),
            new_model_project=next(
                p for p in self._oa_projects if p["template"] == "growth-copy" and p["copy"] == 0
            ),
        )
        self._build_openai_services(
            key_proj_code, key_code, key_user_code, v_project, v_key, v_user
        )

    def _service_volume(
        self, rng: np.random.Generator, base: np.ndarray, keys: list[int] | None = None
    ) -> np.ndarray:
        """Daily counts (streams × days) of a non-token service: weekly rhythm, growth, mild
        noise, at least 1 a day; a stream of the outage key falls to ~10 % in its window."""
        vol = base[:, None] * self._season[None, :] * np.exp(0.5 * self._t[None, :])
        vol = vol * np.exp(rng.normal(0.0, 0.05, size=vol.shape))
        if keys is not None:
            outage = self._oa_keys.index(self._oa_incident_refs["outage_key"])
            day = np.arange(self.days)
            owin = (day >= self.outage_day) & (day < self.outage_day + 3)
            for i, k in enumerate(keys):
                if k == outage:
                    vol[i, owin] *= 0.1
        return np.maximum(1, np.rint(vol)).astype(np.int64)

    def _build_openai_services(
        self,
        key_proj_code: np.ndarray,
        key_code: np.ndarray,
        key_user_code: np.ndarray,
        v_project: list,
        v_key: list,
        v_user: list,
    ) -> None:
        """Images, audio, moderations, vector stores, file search, web search and code
        interpreter: one usage table per endpoint plus their cost line items.

        Drawn from a generator of their own, so the token streams above (and every test
        written against them) are unchanged by these services' existence.
        """
        rng = np.random.default_rng(np.random.PCG64([self.seed, 0x5E7C]))
        days = self.days
        keys_of = {
            t: [
                i
                for i, k in enumerate(self._oa_keys)
                if k["project"]["template"] == t and not k["is_leaked"]
            ]
            for t in ("growth-copy", "support-assistant", "search-embeddings", "research-evals")
        }
        proj_code = {p: i for i, p in enumerate(v_project)}
        cost_rows: list[pd.DataFrame] = []
        costs = self.openai_costs

        def add_cost(
            days_: np.ndarray,
            proj: np.ndarray,
            key: np.ndarray,
            li: str,
            qty: np.ndarray,
            nano: np.ndarray,
        ) -> None:
            cost_rows.append(
                pd.DataFrame(
                    {
                        "day": days_.astype(np.int64),
                        "project_id": proj.astype(np.int64),
                        "api_key_id": key.astype(np.int64),
                        "line_item": np.full(len(days_), costs.code("line_item", li)),
                        "has_amount": np.ones(len(days_), dtype=np.int64),
                        "quantity": qty.astype(np.int64),
                        "nano": nano.astype(np.int64),
                    }
                )
            )

        # images: growth-copy's keys generate (dall-e-3) and edit (dall-e-2) images
        img_keys = keys_of["growth-copy"]
        models = list(OPENAI_IMAGE_MODELS)
        rows_k = [k for k in img_keys for _ in models]
        rows_m = [m for _ in img_keys for m in models]
        vol = self._service_volume(rng, rng.lognormal(np.log(300), 0.4, len(rows_k)), rows_k)
        v_img_model, i_img_model = _vocab(models)
        v_size, i_size = _vocab(OPENAI_IMAGE_MODELS[m][0] for m in models)
        v_source, i_source = _vocab(OPENAI_IMAGE_MODELS[m][1] for m in models)
        s, d = np.nonzero(vol > 0)
        k = np.array(rows_k)[s]
        m_idx = np.array([models.index(m) for m in rows_m])[s]
        images = vol[s, d]
        self.openai_images = Table(
            pd.DataFrame(
                {
                    "day": d.astype(np.int64),
                    "project_id": key_proj_code[k],
                    "user_id": key_user_code[k],
                    "api_key_id": key_code[k],
                    "model": m_idx + 1,
                    "size": np.array([i_size[OPENAI_IMAGE_MODELS[m][0]] for m in models])[m_idx],
                    "source": np.array([i_source[OPENAI_IMAGE_MODELS[m][1]] for m in models])[
                        m_idx
                    ],
                    "images": images,
                    "num_model_requests": np.maximum(1, images // 2),
                }
            ),
            {
                "project_id": v_project,
                "user_id": v_user,
                "api_key_id": v_key,
                "model": v_img_model,
                "size": v_size,
                "source": v_source,
            },
            days,
        )
        for mi, m in enumerate(models):
            sel = m_idx == mi
            nano_each = _pico(OPENAI_IMAGE_MODELS[m][2] * 1e6) // 1000
            add_cost(
                d[sel],
                key_proj_code[k[sel]],
                key_code[k[sel]],
                f"{m}, images",
                images[sel],
                images[sel] * nano_each,
            )

        def keyed_usage(volume, keys, vocab, columns):
            """A usage table, one row per key × day with volume: the key's project, user and
            key codes, then `columns(volume_of_each_row, row_count)` (model and other codes,
            metrics). Also returns the rows' days, key indexes and volumes for cost lines."""
            s, d = np.nonzero(volume > 0)
            k = np.array(keys)[s]
            v = volume[s, d]
            frame = {
                "day": d.astype(np.int64),
                "project_id": key_proj_code[k],
                "user_id": key_user_code[k],
                "api_key_id": key_code[k],
                **columns(v, len(s)),
            }
            vocabs = {"project_id": v_project, "user_id": v_user, "api_key_id": v_key, **vocab}
            return Table(pd.DataFrame(frame), vocabs, days), d, k, v

        def first_code(n):
            return np.ones(n, dtype=np.int64)

        # audio: support-assistant's keys speak (tts-1, characters) and transcribe (seconds)
        au_keys = keys_of["support-assistant"]
        v_tts, _ = _vocab([OPENAI_TTS_MODEL])
        chars = self._service_volume(
            rng, rng.lognormal(np.log(400_000), 0.3, len(au_keys)), au_keys
        )
        self.openai_audio_speeches, d, k, c = keyed_usage(
            chars,
            au_keys,
            {"model": v_tts},
            lambda v, n: {
                "model": first_code(n),
                "characters": v,
                "num_model_requests": np.maximum(1, v // 350),
            },
        )
        pico_char = _pico(OPENAI_TTS_USD_PER_1M_CHARS)
        add_cost(
            d,
            key_proj_code[k],
            key_code[k],
            f"{OPENAI_TTS_MODEL}, characters",
            c,
            (c * pico_char + 500) // 1000,
        )
        v_stt, _ = _vocab([OPENAI_TRANSCRIBE_MODEL])
        secs = self._service_volume(rng, rng.lognormal(np.log(30_000), 0.3, len(au_keys)), au_keys)
        self.openai_audio_transcriptions, d, k, sec = keyed_usage(
            secs,
            au_keys,
            {"model": v_stt},
            lambda v, n: {
                "model": first_code(n),
                "seconds": v,
                "num_model_requests": np.maximum(1, v // 90),
            },
        )
        # billed per minute, served in minutes (micro-minutes kept as the integer quantity)
        nano_sec = _pico(OPENAI_TRANSCRIBE_USD_PER_MINUTE / 60 * 1e6) // 1000
        add_cost(
            d,
            key_proj_code[k],
            key_code[k],
            f"{OPENAI_TRANSCRIBE_MODEL}, audio transcription",
            (sec * 1_000_000 + 30) // 60,
            sec * nano_sec,
        )

        # moderations: support-assistant and growth-copy screen text; free, so no cost line
        mod_keys = au_keys + img_keys
        v_mod, _ = _vocab([OPENAI_MODERATION_MODEL])
        reqs = self._service_volume(rng, rng.lognormal(np.log(5_000), 0.3, len(mod_keys)), mod_keys)
        self.openai_moderations, _, _, _ = keyed_usage(
            reqs,
            mod_keys,
            {"model": v_mod},
            lambda v, n: {"model": first_code(n), "input_tokens": v * 180, "num_model_requests": v},
        )

        # vector stores: search-embeddings and support-assistant hold files (bytes per day,
        # per project only); storage is billed per GiB-day, served as GiB-hours
        vs_projects = [
            p["project_id"]
            for p in self._oa_projects
            if p["template"] in ("search-embeddings", "support-assistant")
        ]
        base = rng.uniform(3.0, 12.0, len(vs_projects)) * GIB
        growth = np.linspace(1.0, 1.0 + 0.3 * self.days / 90, self.days)
        stored = np.rint(
            base[:, None] * growth[None, :] * np.exp(rng.normal(0, 0.01, (len(base), days)))
        ).astype(np.int64)
        s, d = np.nonzero(stored > 0)
        pc_ = np.array([proj_code[p] for p in vs_projects])[s]
        b = stored[s, d]
        self.openai_vector_stores = Table(
            pd.DataFrame({"day": d.astype(np.int64), "project_id": pc_, "usage_bytes": b}),
            {"project_id": v_project},
            days,
        )
        nano_gib_day = int(round(OPENAI_VECTOR_STORE_USD_PER_GIB_DAY * 1e9))
        add_cost(
            d,
            pc_,
            np.zeros(len(s), dtype=np.int64),
            "vector store storage",
            (b * 24 * 1_000_000 + GIB // 2) // GIB,
            (b * nano_gib_day + GIB // 2) // GIB,
        )

        # file search: the search-embeddings key queries two vector stores
        fs_keys = keys_of["search-embeddings"]
        store_ids = _ids(rng, "vs_", 2 * len(fs_keys), 24)
        rows_k = [k for k in fs_keys for _ in range(2)]
        calls = self._service_volume(rng, rng.lognormal(np.log(4_000), 0.3, len(rows_k)), rows_k)
        v_store, _ = _vocab(store_ids)
        s, d = np.nonzero(calls > 0)
        k = np.array(rows_k)[s]
        n_calls = calls[s, d]
        self.openai_file_search_calls = Table(
            pd.DataFrame(
                {
                    "day": d.astype(np.int64),
                    "project_id": key_proj_code[k],
                    "user_id": key_user_code[k],
                    "api_key_id": key_code[k],
                    "vector_store_id": s + 1,
                    "num_requests": n_calls,
                }
            ),
            {
                "project_id": v_project,
                "user_id": v_user,
                "api_key_id": v_key,
                "vector_store_id": v_store,
            },
            days,
        )
        nano_fs = _pico(OPENAI_FILE_SEARCH_USD_PER_1000 * 1000) // 1000
        add_cost(
            d, key_proj_code[k], key_code[k], "file search tool calls", n_calls, n_calls * nano_fs
        )

        # web search: research-evals' keys search the web from gpt-4o (medium context)
        ws_keys = keys_of["research-evals"]
        web = self._service_volume(rng, rng.lognormal(np.log(1_500), 0.3, len(ws_keys)), ws_keys)
        v_wmodel, _ = _vocab([OPENAI_WEB_SEARCH_MODEL])
        v_level, _ = _vocab(["medium"])
        self.openai_web_search_calls, d, k, n_web = keyed_usage(
            web,
            ws_keys,
            {"model": v_wmodel, "context_level": v_level},
            lambda v, n: {
                "model": first_code(n),
                "context_level": first_code(n),
                "num_model_requests": np.maximum(1, v * 2 // 3),
                "num_requests": v,
            },
        )
        nano_web = _pico(OPENAI_WEB_SEARCH_USD_PER_1000 * 1000) // 1000
        add_cost(d, key_proj_code[k], key_code[k], "web search tool calls", n_web, n_web * nano_web)

        # code interpreter: research-evals runs sessions (per project only, no key)
        ci_projects = [
            p["project_id"] for p in self._oa_projects if p["template"] == "research-evals"
        ]
        sess = self._service_volume(rng, rng.lognormal(np.log(400), 0.3, len(ci_projects)))
        s, d = np.nonzero(sess > 0)
        pc_ = np.array([proj_code[p] for p in ci_projects])[s]
        n_sess = sess[s, d]
        self.openai_code_interpreter_sessions = Table(
            pd.DataFrame({"day": d.astype(np.int64), "project_id": pc_, "num_sessions": n_sess}),
            {"project_id": v_project},
            days,
        )
        nano_ci = int(round(OPENAI_CODE_INTERPRETER_USD_PER_SESSION * 1e9))
        add_cost(
            d,
            pc_,
            np.zeros(len(s), dtype=np.int64),
            "code interpreter sessions",
            n_sess,
            n_sess * nano_ci,
        )

        for li, (model, token_type, _, _) in OPENAI_SERVICE_LINES.items():
            self._oa_line_meta[li] = (model, token_type)
        costs.set_frame(pd.concat([costs.frame, *cost_rows], ignore_index=True))

    def openai_tables(self) -> tuple[Table, ...]:
        """Every OpenAI table the server projects (usage endpoints and costs)."""
        return (
            self.openai_completions,
            self.openai_embeddings,
            self.openai_images,
            self.openai_audio_speeches,
            self.openai_audio_transcriptions,
            self.openai_moderations,
            self.openai_vector_stores,
            self.openai_file_search_calls,
            self.openai_web_search_calls,
            self.openai_code_interpreter_sessions,
            self.openai_costs,
        )

    def openai_line_item_unit(self, line_item: str | None) -> tuple[str | None, int]:
        """(`quantity_unit` served, decimals of the integer quantity) of a cost line item."""
        if line_item in OPENAI_SERVICE_LINES:
            _, _, unit, decimals = OPENAI_SERVICE_LINES[line_item]
            return unit, decimals
        return "tokens", 0

    # ------------------------------------------------------------------ Anthropic
    def _build_anthropic(self, rng: np.random.Generator) -> None:
        days = self.days
        day = np.arange(days)
        rows = []  # (key index or -1 for console, workspace index, model, tier, ctx, web)
        for wi, w in enumerate(self._an_workspaces):
            wkeys = [i for i, k in enumerate(self._an_keys) if k["workspace"] is w]
            for m, tier, ctx, web in w["streams"]:
                for ki in wkeys:
                    rows.append((ki, wi, m, tier, ctx, web))
            if w["template"] == "default":  # Console / Workbench usage has no API key
                rows.append((-1, wi, ANTHROPIC_MODELS[0], "standard", "0-200k", False))
        n = len(rows)
        s_key = np.array([r[0] for r in rows])
        s_ws = np.array([r[1] for r in rows])
        s_model = np.array([ANTHROPIC_MODELS.index(r[2]) for r in rows])
        s_batch = np.array([r[3] == "batch" for r in rows])
        s_ctx = np.array([CONTEXT_WINDOWS.index(r[4]) for r in rows])
        s_web = np.array([r[5] for r in rows])
        model_factor = np.array([(1.0, 2.5, 0.25)[m] for m in s_model])
        base = rng.lognormal(np.log(10e6), 0.6, n) * model_factor
        base = np.where(s_key < 0, base * 0.05, base)
        base = np.where(s_ctx == 1, base * 0.4, base)
        growth = rng.normal(0.8, 0.3, n)
        season = np.where(s_batch[:, None], self._batch_season[None, :], self._season[None, :])
        noise = np.exp(rng.normal(0.0, 0.12, size=(n, days)))
        vol = base[:, None] * season * np.exp(growth[:, None] * self._t[None, :]) * noise
        # batch backfill: research-agents' sonnet batch stream ×15 for three days
        ws_research = next(
            i
            for i, w in enumerate(self._an_workspaces)
            if w["template"] == "research-agents" and w["copy"] == 0
        )
        bwin = (day >= self.backfill_day) & (day < self.backfill_day + 3)
        bsel = (s_ws == ws_research) & s_batch
        jitter = rng.normal(0, 0.05, (int(bsel.sum()), int(bwin.sum())))
        vol[np.ix_(bsel, bwin)] = base[bsel, None] * 15.0 * np.exp(jitter)
        total = np.rint(vol).astype(np.int64)
        read = np.rint(total * rng.uniform(0.25, 0.65, n)[:, None]).astype(np.int64)
        w5 = np.rint(total * rng.uniform(0.02, 0.08, n)[:, None]).astype(np.int64)
        w1 = np.rint(total * rng.uniform(0.0, 0.03, n)[:, None]).astype(np.int64)
        uncached = total - read - w5 - w1
        output = np.rint(
            total * rng.uniform(0.08, 0.3, n)[:, None] * np.exp(rng.normal(0, 0.08, (n, days)))
        ).astype(np.int64)
        web = np.where(s_web[:, None], np.rint(total / 400_000.0), 0).astype(np.int64)
        token_mats = (uncached, read, w5, w1, output)

        v_key, i_key = _vocab(k["api_key_id"] for k in self._an_keys)
        v_ws, i_ws = _vocab(w["workspace_id"] for w in self._an_workspaces)
        v_model, i_model = _vocab(ANTHROPIC_MODELS)
        v_tier = [None, "standard", "batch"]
        v_ctx = [None, *CONTEXT_WINDOWS]
        key_code = np.array([i_key[k["api_key_id"]] for k in self._an_keys] + [0])  # -1 → null
        ws_code = np.array([i_ws[w["workspace_id"]] for w in self._an_workspaces])
        s, d = np.nonzero(total > 0)
        usage = pd.DataFrame(
            {
                "day": d.astype(np.int64),
                "api_key_id": key_code[s_key[s]],
                "workspace_id": ws_code[s_ws[s]],
                "model": s_model[s] + 1,
                "service_tier": np.where(s_batch[s], 2, 1),
                "context_window": s_ctx[s] + 1,
                "uncached_input_tokens": uncached[s, d],
                "cache_read_input_tokens": read[s, d],
                "cache_creation__ephemeral_5m_input_tokens": w5[s, d],
                "cache_creation__ephemeral_1h_input_tokens": w1[s, d],
                "output_tokens": output[s, d],
                "server_tool_use__web_search_requests": web[s, d],
            }
        ).sort_values(
            ["day", "workspace_id", "api_key_id", "model", "service_tier", "context_window"],
            kind="stable",
        )
        self.anthropic_usage = Table(
            usage,
            {
                "api_key_id": v_key,
                "workspace_id": v_ws,
                "model": v_model,
                "service_tier": v_tier,
                "context_window": v_ctx,
            },
            days,
        )

        # cost lines at (day, workspace, description): tokens summed over keys, then priced
        descriptions: list = []
        desc_meta: dict = {}
        group_of = {}
        for m in ANTHROPIC_MODELS:
            for tier in ("standard", "batch"):
                for ctx in CONTEXT_WINDOWS:
                    if (m, ctx) not in ANTHROPIC_PRICES:
                        continue
                    for tt in ANTHROPIC_TOKEN_TYPES:
                        desc = (
                            f"{ANTHROPIC_DISPLAY[m]} {'Batch ' if tier == 'batch' else ''}"
                            f"Usage - {ANTHROPIC_TOKEN_TYPE_LABEL[tt]}"
                            f"{' (Long Context)' if ctx == '200k-1M' else ''}"
                        )
                        descriptions.append(desc)
                        desc_meta[desc] = dict(
                            cost_type="tokens",
                            model=m,
                            service_tier=tier,
                            token_type=tt,
                            context_window=ctx,
                        )
                        group_of[(m, tier, ctx, tt)] = desc
        web_desc = "Web Search Usage"
        descriptions.append(web_desc)
        desc_meta[web_desc] = dict(
            cost_type="web_search",
            model=None,
            service_tier=None,
            token_type=None,
            context_window=None,
        )
        v_desc, i_desc = _vocab(descriptions)
        # aggregate streams to (workspace, model, tier, ctx) groups
        gkey = s_ws * 1000 + s_model * 100 + s_batch * 10 + s_ctx
        uniq, ginv = np.unique(gkey, return_inverse=True)
        g_ws, g_model = uniq // 1000, (uniq // 100) % 10
        g_batch, g_ctx = ((uniq // 10) % 10).astype(bool), uniq % 10
        parts = []
        for t, tt in enumerate(ANTHROPIC_TOKEN_TYPES):
            agg = np.zeros((len(uniq), days), dtype=np.int64)
            np.add.at(agg, ginv, token_mats[t])
            prices = np.array(
                [
                    _pico(ANTHROPIC_PRICES[(ANTHROPIC_MODELS[m], CONTEXT_WINDOWS[c])][t])
                    // (2 if b else 1)
                    for m, b, c in zip(g_model, g_batch, g_ctx, strict=True)
                ],
                dtype=np.int64,
            )
            g, d = np.nonzero(agg > 0)
            dcode = np.array(
                [
                    i_desc[
                        group_of[
                            (
                                ANTHROPIC_MODELS[m],
                                "batch" if b else "standard",
                                CONTEXT_WINDOWS[c],
                                tt,
                            )
                        ]
                    ]
                    for m, b, c in zip(g_model, g_batch, g_ctx, strict=True)
                ]
            )
            parts.append(
                pd.DataFrame(
                    {
                        "day": d.astype(np.int64),
                        "workspace_id": ws_code[g_ws[g]],
                        "description": dcode[g],
                        "has_amount": np.ones(len(g), dtype=np.int64),
                        "quantity": agg[g, d],
                        "nano": (agg[g, d] * prices[g] + 500) // 1000,
                    }
                )
            )
        wagg = np.zeros((len(self._an_workspaces), days), dtype=np.int64)
        np.add.at(wagg, s_ws, web)
        w, d = np.nonzero(wagg > 0)
        web_nano = _pico(WEB_SEARCH_USD_PER_1000 * 1000) // 1000  # nano-dollars per search
        parts.append(
            pd.DataFrame(
                {
                    "day": d.astype(np.int64),
                    "workspace_id": ws_code[w],
                    "description": np.full(len(w), i_desc[web_desc]),
                    "has_amount": np.ones(len(w), dtype=np.int64),
                    "quantity": wagg[w, d],
                    "nano": wagg[w, d] * web_nano,
                }
            )
        )
        costs = pd.concat(parts, ignore_index=True).sort_values(
            ["day", "workspace_id", "description"], kind="stable"
        )
        self.anthropic_costs = Table(
            costs, {"workspace_id": v_ws, "description": v_desc, "has_amount": [None, True]}, days
        )
        self._an_desc_meta = desc_meta
        self._an_incident_refs = dict(research=self._an_workspaces[ws_research])
        self._build_anthropic_extras(group_of, ws_code, key_code)

    def _build_anthropic_extras(
        self, group_of: dict, ws_code: np.ndarray, key_code: np.ndarray
    ) -> None:
        """Priority Tier, a second 1M-context workspace and code execution.

        Priority Tier usage shows only in the usage report (`service_tier` "priority"): the cost
        report excludes it, so it is not billed cost here. Long-context Sonnet tokens are billed
        at the 200k-1M price ("… (Long Context)" descriptions); code execution is billed per
        container hour ("Code Execution Usage", cost_type `code_execution`, no model).
        Drawn from a generator of their own so the streams above are unchanged.
        """
        rng = np.random.default_rng(np.random.PCG64([self.seed, 0xA7C0]))
        days = self.days
        usage_t, cost_t = self.anthropic_usage, self.anthropic_costs
        sonnet = ANTHROPIC_MODELS[0]
        ws_index = {w["template"]: i for i, w in enumerate(self._an_workspaces) if w["copy"] == 0}
        # (template, tier, context window) streams, one per key of every copy of the workspace
        specs = [
            ("support-claude", "priority", "0-200k"),
            ("research-agents", "standard", "200k-1M"),
        ]
        rows = []
        for template, tier, ctx in specs:
            for wi, w in enumerate(self._an_workspaces):
                if w["template"] != template:
                    continue
                for ki, k in enumerate(self._an_keys):
                    if k["workspace"] is w:
                        rows.append((ki, wi, tier, ctx))
        n = len(rows)
        s_key = np.array([r[0] for r in rows])
        base = rng.lognormal(np.log(4e6), 0.4, n)
        vol = base[:, None] * self._season[None, :] * np.exp(0.6 * self._t[None, :])
        total = np.rint(vol * np.exp(rng.normal(0, 0.08, (n, days)))).astype(np.int64)
        read = np.rint(total * rng.uniform(0.25, 0.6, n)[:, None]).astype(np.int64)
        w5 = np.rint(total * rng.uniform(0.02, 0.06, n)[:, None]).astype(np.int64)
        w1 = np.zeros_like(total)
        uncached = total - read - w5 - w1
        output = np.rint(total * rng.uniform(0.08, 0.2, n)[:, None]).astype(np.int64)
        mats = (uncached, read, w5, w1, output)
        usage_parts, cost_parts = [], []
        for i, (_, wi, tier, ctx) in enumerate(rows):
            d = np.nonzero(total[i] > 0)[0]
            usage_parts.append(
                pd.DataFrame(
                    {
                        "day": d.astype(np.int64),
                        "api_key_id": np.full(len(d), key_code[s_key[i]]),
                        "workspace_id": np.full(len(d), ws_code[wi]),
                        "model": np.full(len(d), usage_t.code("model", sonnet)),
                        "service_tier": np.full(len(d), usage_t.code("service_tier", tier)),
                        "context_window": np.full(len(d), usage_t.code("context_window", ctx)),
                        "uncached_input_tokens": uncached[i, d],
                        "cache_read_input_tokens": read[i, d],
                        "cache_creation__ephemeral_5m_input_tokens": w5[i, d],
                        "cache_creation__ephemeral_1h_input_tokens": w1[i, d],
                        "output_tokens": output[i, d],
                        "server_tool_use__web_search_requests": np.zeros(len(d), np.int64),
                    }
                )
            )
            if tier == "priority":  # not in the cost report
                continue
            for t, tt in enumerate(ANTHROPIC_TOKEN_TYPES):
                q = mats[t][i]
                d = np.nonzero(q > 0)[0]
                price = _pico(ANTHROPIC_PRICES[(sonnet, ctx)][t])
                desc = group_of[(sonnet, tier, ctx, tt)]
                cost_parts.append(
                    pd.DataFrame(
                        {
                            "day": d.astype(np.int64),
                            "workspace_id": np.full(len(d), ws_code[wi]),
                            "description": np.full(len(d), cost_t.code("description", desc)),
                            "has_amount": np.ones(len(d), dtype=np.int64),
                            "quantity": q[d],
                            "nano": (q[d] * price + 500) // 1000,
                        }
                    )
                )
        # code execution: container hours (kept in milli-hours) of two workspaces
        ce_desc = "Code Execution Usage"
        self._an_desc_meta[ce_desc] = dict(
            cost_type="code_execution",
            model=None,
            service_tier=None,
            token_type=None,
            context_window=None,
        )
        ce_ws = [
            wi
            for wi, w in enumerate(self._an_workspaces)
            if w["template"] in ("research-agents", "support-claude")
        ]
        hours = rng.lognormal(np.log(60.0), 0.3, len(ce_ws))[:, None] * self._season[None, :]
        milli = np.maximum(
            1, np.rint(hours * 1000 * np.exp(rng.normal(0, 0.05, (len(ce_ws), days))))
        ).astype(np.int64)
        nano_milli = int(round(CODE_EXECUTION_USD_PER_HOUR * 1e9)) // 1000
        for j, wi in enumerate(ce_ws):
            d = np.arange(days)
            cost_parts.append(
                pd.DataFrame(
                    {
                        "day": d.astype(np.int64),
                        "workspace_id": np.full(days, ws_code[wi]),
                        "description": np.full(days, cost_t.code("description", ce_desc)),
                        "has_amount": np.ones(days, dtype=np.int64),
                        "quantity": milli[j],
                        "nano": milli[j] * nano_milli,
                    }
                )
            )
        usage_t.set_frame(pd.concat([usage_t.frame, *usage_parts], ignore_index=True))
        cost_t.set_frame(pd.concat([cost_t.frame, *cost_parts], ignore_index=True))
        self._an_extra_refs = dict(
            priority_workspace=self._an_workspaces[ws_index["support-claude"]]
        )

    # ------------------------------------------------------------------ public views
    def openai_line_item_meta(self, line_item: str) -> tuple[str | None, str]:
        """(model, conformed token_type) of an OpenAI cost line item; unknown kinds → 'unknown'."""
        if line_item in self._oa_line_meta:
            return self._oa_line_meta[line_item]
        model, _, kind = line_item.rpartition(", ")
        return (model or None), OPENAI_KIND_TOKEN_TYPE.get(kind, "unknown")

    def anthropic_description_meta(self, description: str) -> dict:
        """Parsed cost-report fields of a description (cost_type, model, tier, token type...)."""
        return self._an_desc_meta[description]

    def incidents(self) -> list[Incident]:
        """The injected incidents with their windows (ground truth for detection)."""
        rk = self._oa_incident_refs["runaway_key"]
        cp = self._oa_incident_refs["cache_project"]
        lk = self._oa_incident_refs["leaked_key"]
        np_ = self._oa_incident_refs["new_model_project"]
        rs = self._an_incident_refs["research"]
        ok = self._oa_incident_refs["outage_key"]
        d = self.date_of
        out = [
            Incident(
                "INC-001",
                "runaway_agent_loop",
                "openai",
                d(self.runaway_day),
                d(self._end(self.runaway_day, 2)),
                rk["sub_account_id"],
                rk["api_key_id"],
                None,
                rk["team"],
                "An agent loop on one platform-gateway key multiplies its usage ×20 for two days.",
            ),
            Incident(
                "INC-002",
                "leaked_key",
                "openai",
                d(self.leak_day),
                d(self.days - 1),
                lk["sub_account_id"],
                lk["api_key_id"],
                "gpt-4o-2024-08-06",
                None,
                "A key no one owns spends on gpt-4o around the clock from its first day.",
            ),
            Incident(
                "INC-003",
                "cache_misconfiguration",
                "openai",
                d(self.cache_day),
                d(self._end(self.cache_day, 7)),
                cp["project_id"],
                None,
                None,
                cp["team"],
                "Prompt caching breaks for support-assistant: cached input share drops "
                "to ~0 for a week, uncached input cost rises.",
            ),
            Incident(
                "INC-004",
                "batch_backfill",
                "anthropic",
                d(self.backfill_day),
                d(self._end(self.backfill_day, 3)),
                rs["workspace_id"],
                None,
                "claude-sonnet-4-20250514",
                rs["team"],
                "research-agents backfills with Message Batches: batch-tier Sonnet 4 "
                "usage ×15 for three days.",
            ),
            Incident(
                "INC-005",
                "new_model_launch",
                "openai",
                d(self.launch_day),
                d(self._end(self.launch_day, 14)),
                np_["project_id"],
                None,
                "gpt-4.1-2025-04-14",
                np_["team"],
                "gpt-4.1 launches: new usage ramps up over two weeks in growth-copy and "
                "platform-gateway.",
            ),
            Incident(
                "INC-006",
                "outage",
                "openai",
                d(self.outage_day),
                d(self._end(self.outage_day, 3)),
                ok["sub_account_id"],
                ok["api_key_id"],
                None,
                ok["team"],
                "An outage: one key's client breaks and its traffic falls to ~10 % for three "
                "weekdays.",
            ),
        ]
        return out

    def api_keys(self) -> list[dict]:
        """Every API key with its project/workspace, owning team and owner (leaked key: none)."""
        out = []
        for k in self._oa_keys + self._an_keys:
            out.append(
                {
                    c: k[c]
                    for c in (
                        "provider",
                        "api_key_id",
                        "sub_account_id",
                        "sub_account_name",
                        "team",
                        "owner_email",
                        "created_date",
                        "is_leaked",
                    )
                }
            )
        return out

    def sub_accounts(self) -> list[dict]:
        """OpenAI projects and Anthropic workspaces with their owning team."""
        out = [
            dict(
                provider="openai",
                sub_account_id=p["project_id"],
                sub_account_name=p["name"],
                team=p["team"],
            )
            for p in self._oa_projects
        ]
        out += [
            dict(
                provider="anthropic",
                sub_account_id=w["workspace_id"],
                sub_account_name=w["name"],
                team=w["team"],
            )
            for w in self._an_workspaces
        ]
        return out

    def price_table(self) -> list[dict]:
        """The internal dated list prices (USD per million tokens / per request), batch at 50 %."""
        rows = []
        change = self.date_of(self.price_change_day)
        for m, prices in OPENAI_PRICES.items():
            kinds = ("input",) if m == OPENAI_EMBEDDING_MODEL else OPENAI_KINDS
            for k, kind in enumerate(kinds):
                for batch in (False, True):
                    if batch and m == OPENAI_EMBEDDING_MODEL:
                        continue
                    spans = [(None, None, prices[k])]
                    if m == PRICE_CHANGE_MODEL:
                        spans = [(None, change, prices[k]), (change, None, PRICE_CHANGE_NEW[k])]
                    for frm, to, p in spans:
                        rows.append(
                            dict(
                                provider="openai",
                                model=m,
                                token_type=OPENAI_KIND_TOKEN_TYPE[kind],
                                service_tier="batch" if batch else "default",
                                context_window=None,
                                unit="1M tokens",
                                usd_per_unit=Decimal(str(p)) / (2 if batch else 1),
                                valid_from=frm,
                                valid_to=to,
                            )
                        )
        for (m, ctx), prices in ANTHROPIC_PRICES.items():
            for t, tt in enumerate(ANTHROPIC_TOKEN_TYPES):
                for tier in ("standard", "batch"):
                    rows.append(
                        dict(
                            provider="anthropic",
                            model=m,
                            token_type=ANTHROPIC_TOKEN_TYPE_CONFORMED[tt],
                            service_tier=tier,
                            context_window=ctx,
                            unit="1M tokens",
                            usd_per_unit=Decimal(str(prices[t])) / (2 if tier == "batch" else 1),
                            valid_from=None,
                            valid_to=None,
                        )
                    )
        rows.append(
            dict(
                provider="anthropic",
                model=None,
                token_type="web_search",
                service_tier=None,
                context_window=None,
                unit="1000 requests",
                usd_per_unit=Decimal(str(WEB_SEARCH_USD_PER_1000)),
                valid_from=None,
                valid_to=None,
            )
        )
        return rows

    # ------------------------------------------------------------------ truth
    def truth_billed_cost_frame(
        self,
        provider: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pd.DataFrame:
        """Ground-truth billed cost as a frame with `billed_cost_nano` (int nano-dollars).

        Grain: provider, date, sub_account_id, api_key_id, model, token_type, service_tier;
        exactly the sum of the cost lines the cost endpoints serve (lines without an amount
        excluded, unmapped kinds as token_type `unknown`). `end` is exclusive.
        """
        first = 0 if start is None else (start - self.start).days
        last = self.days - 1 if end is None else (end - self.start).days - 1
        parts = []
        with self._lock:
            if provider in (None, "openai"):
                t = self.openai_costs
                f = t.day_rows(first, last)
                f = f[f["has_amount"] == 1]
                # line items → (model, token_type) truth keys
                metas = [
                    self.openai_line_item_meta(li) if li else (None, "unknown")
                    for li in t.vocab["line_item"]
                ]
                parts.append(
                    self._truth_part(
                        "openai",
                        f,
                        sub_col="project_id",
                        key_col="api_key_id",
                        label_col="line_item",
                        labels=[(m, tt, None) for m, tt in metas],
                    )
                )
            if provider in (None, "anthropic"):
                t = self.anthropic_costs
                f = t.day_rows(first, last)
                f = f[f["has_amount"] == 1]
                labels = []
                for desc in t.vocab["description"]:
                    m = self._an_desc_meta.get(desc) if desc else None
                    if m is None:
                        labels.append((None, "unknown", None))
                    elif m["cost_type"] == "tokens":
                        tt = ANTHROPIC_TOKEN_TYPE_CONFORMED.get(m["token_type"], "unknown")
                        labels.append((m["model"], tt, m["service_tier"]))
                    else:
                        labels.append((m["model"], m["cost_type"], m["service_tier"]))
                parts.append(
                    self._truth_part(
                        "anthropic",
                        f,
                        sub_col="workspace_id",
                        key_col=None,
                        label_col="description",
                        labels=labels,
                    )
                )
        cols = [
            "provider",
            "date",
            "sub_account_id",
            "api_key_id",
            "model",
            "token_type",
            "service_tier",
            "billed_cost_nano",
        ]
        data = {c: np.concatenate([p[c] for p in parts]) if parts else [] for c in cols}
        frame = pd.DataFrame(
            {
                c: pd.Series(v, dtype=np.int64 if c == "billed_cost_nano" else object)
                for c, v in data.items()
            }
        )
        frame["billing_currency"] = "USD"
        extra = [
            truth(self, max(first, 0), min(last, self.days - 1))
            for name, truth in EXTRA_TRUTH.items()
            if provider in (None, name) and name in self.providers
        ]
        if extra:
            extra = [e.assign(billing_currency=e.get("billing_currency", "USD")) for e in extra]
            frame = pd.concat([frame, *extra], ignore_index=True)
            frame["billed_cost_nano"] = frame["billed_cost_nano"].astype(np.int64)
        return frame

    def _truth_part(
        self,
        provider: str,
        f: pd.DataFrame,
        sub_col: str,
        key_col: str | None,
        label_col: str,
        labels: list[tuple],
    ) -> dict[str, np.ndarray]:
        """Sum cost lines to the truth grain on integer codes, then decode to values."""
        t = self.openai_costs if provider == "openai" else self.anthropic_costs
        uniq_labels, label_code = np.unique(
            np.array([repr(x) for x in labels], dtype=object), return_inverse=True
        )
        label_values = [None] * len(uniq_labels)
        for i, code in enumerate(label_code):
            label_values[code] = labels[i]
        lc = label_code[f[label_col].to_numpy()]
        frame = pd.DataFrame(
            {
                "day": f["day"].to_numpy(),
                "sub": f[sub_col].to_numpy(),
                "key": f[key_col].to_numpy() if key_col else np.zeros(len(f), dtype=np.int64),
                "label": lc,
                "nano": f["nano"].to_numpy(),
            }
        )
        g = frame.groupby(["day", "sub", "key", "label"], as_index=False, sort=True)["nano"].sum()
        codes = g["label"].to_numpy()
        lab_cols = [np.array([v[i] for v in label_values], dtype=object)[codes] for i in range(3)]
        dates = np.array([self.date_of(d) for d in range(self.days)], dtype=object)
        n = len(g)
        return {
            "provider": np.full(n, provider, dtype=object),
            "date": dates[g["day"].to_numpy()],
            "sub_account_id": t.decoded(sub_col, g["sub"].to_numpy()),
            "api_key_id": (
                t.decoded(key_col, g["key"].to_numpy())
                if key_col
                else np.full(n, None, dtype=object)
            ),
            "model": lab_cols[0],
            "token_type": lab_cols[1],
            "service_tier": lab_cols[2],
            "billed_cost_nano": g["nano"].to_numpy().astype(np.int64),
        }

    def truth_billed_cost(
        self,
        provider: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[dict]:
        """Ground-truth billed cost rows (contract grain), `billed_cost` as Decimal USD."""
        f = self.truth_billed_cost_frame(provider, start, end)
        rows = []
        for rec in f.itertuples(index=False):
            rows.append(
                dict(
                    provider=rec.provider,
                    date=rec.date,
                    sub_account_id=rec.sub_account_id,
                    api_key_id=rec.api_key_id,
                    model=rec.model,
                    token_type=rec.token_type,
                    service_tier=rec.service_tier,
                    billed_cost=nano_to_decimal(rec.billed_cost_nano),
                    billing_currency=rec.billing_currency,
                )
            )
        return rows

    # ------------------------------------------------------------------ mutations
    def restate(self, provider: str, date: dt.date, factor: float) -> None:
        """A provider revises a past day: every usage and cost number of that day × factor."""
        day = (date - self.start).days
        if not 0 <= day < self.days:
            raise ValueError(f"{date} is outside the world")
        tables = (
            self.openai_tables()
            if provider == "openai"
            else (self.anthropic_usage, self.anthropic_costs)
        )
        with self._lock:
            for t in tables:
                lo, hi = t.offsets[day], t.offsets[day + 1]
                if hi <= lo:
                    continue
                frame = t.frame.copy()
                dims = set(t.vocab) | {"day"}
                for col in frame.columns:
                    if col in dims:
                        continue
                    vals = frame[col].to_numpy()[lo:hi]
                    frame.iloc[lo:hi, frame.columns.get_loc(col)] = np.rint(vals * factor).astype(
                        np.int64
                    )
                if provider == "openai" and t is self.openai_completions:
                    sl = slice(lo, hi)
                    f = frame
                    f.iloc[sl, f.columns.get_loc("input_uncached_tokens")] = (
                        f["input_tokens"].to_numpy()[sl]
                        - f["input_cached_tokens"].to_numpy()[sl]
                        - f["input_cache_write_tokens"].to_numpy()[sl]
                    )
                t.set_frame(frame)
            self.version += 1

    def inject(self, kind: str, provider: str, date: dt.date, label: str | None = None) -> None:
        """Add one bad cost record to a day: an unmapped token type, or a line without amount;
        or (`negative_cost`) serve that day's largest cost line with its sign flipped.
        `label` (missing_field only) names the line item / description the amount-less line
        carries (default a token line)."""
        if kind not in ("unknown_token_type", "missing_field", "negative_cost"):
            raise ValueError(f"unknown injection kind {kind!r}")
        day = (date - self.start).days
        if not 0 <= day < self.days:
            raise ValueError(f"{date} is outside the world")
        if kind == "negative_cost":
            return self._flip_largest_cost_line(provider, day)
        with self._lock:
            if provider == "openai":
                t = self.openai_costs
                k = next(k for k in self._oa_keys if not k["is_leaked"])
                if kind == "unknown_token_type":
                    li = "gpt-4o-2024-08-06, mystery tokens"
                else:
                    li = label or "gpt-4o-2024-08-06, output"
                row = dict(
                    day=day,
                    project_id=t.code("project_id", k["sub_account_id"]),
                    api_key_id=t.code("api_key_id", k["api_key_id"]),
                    line_item=t.code("line_item", li),
                    has_amount=0 if kind == "missing_field" else 1,
                    quantity=123_456,
                    nano=1_234_567_891,
                )
                if kind == "unknown_token_type":
                    self._oa_line_meta[li] = ("gpt-4o-2024-08-06", "unknown")
            elif provider == "anthropic":
                t = self.anthropic_costs
                w = self._an_workspaces[1]
                if kind == "unknown_token_type":
                    desc = "Claude Sonnet 4 Usage - Quantum Tokens"
                    self._an_desc_meta[desc] = dict(
                        cost_type="tokens",
                        model="claude-sonnet-4-20250514",
                        service_tier="standard",
                        token_type="quantum_tokens",
                        context_window="0-200k",
                    )
                else:
                    desc = label or "Claude Sonnet 4 Usage - Output Tokens"
                    if desc not in self._an_desc_meta:
                        raise ValueError(f"unknown cost report description {desc!r}")
                row = dict(
                    day=day,
                    workspace_id=t.code("workspace_id", w["workspace_id"]),
                    description=t.code("description", desc),
                    has_amount=0 if kind == "missing_field" else 1,
                    quantity=54_321,
                    nano=987_654_321,
                )
            else:
                raise ValueError(f"unknown provider {provider!r}")
            frame = pd.concat([t.frame, pd.DataFrame([row])], ignore_index=True)
            t.set_frame(frame.astype(np.int64))
            self.version += 1

    def _flip_largest_cost_line(self, provider: str, day: int) -> None:
        """The day's largest cost line (by amount) is served negative: a usage charge below
        zero, which the pipeline's quality gate must stop before it reaches the marts."""
        if provider not in ("openai", "anthropic"):
            raise ValueError(f"unknown provider {provider!r}")
        t = self.openai_costs if provider == "openai" else self.anthropic_costs
        with self._lock:
            lo, hi = t.offsets[day], t.offsets[day + 1]
            if hi <= lo:
                raise ValueError(f"no {provider} cost lines on day {day}")
            frame = t.frame.copy()
            col = frame.columns.get_loc("nano")
            row = lo + int(np.argmax(frame["nano"].to_numpy()[lo:hi]))
            frame.iloc[row, col] = -abs(int(frame.iloc[row, col]))
            t.set_frame(frame)
            self.version += 1

    # ------------------------------------------------------------------ files
    def write_truth(self, directory: str | Path) -> list[Path]:
        """Write billed_cost.csv, incidents.csv (contract) plus api_keys.csv and prices.csv."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        f = self.truth_billed_cost_frame()
        q, r = np.divmod(f["billed_cost_nano"].to_numpy(), 1_000_000_000)
        f = f.drop(columns="billed_cost_nano")
        f["billed_cost"] = [f"{a}.{b:09d}" for a, b in zip(q, r, strict=True)]
        path = directory / "billed_cost.csv"
        f.to_csv(path, index=False)
        written.append(path)

        def dump(name: str, rows: list[dict]) -> None:
            path = directory / name
            with path.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                for row in rows:
                    w.writerow({k: "" if v is None else v for k, v in row.items()})
            written.append(path)

        dump("incidents.csv", [asdict(i) for i in self.incidents()])
        dump("api_keys.csv", self.api_keys())
        dump("prices.csv", self.price_table())
        return written


# Providers projected from the world by their own modules register their truth on import
# (one line each; see EXTRA_TRUTH).
from simulator import aws_bedrock  # noqa: E402,F401,I001 - AWS Bedrock (CE + CUR)
from simulator import azure_openai  # noqa: E402,F401,I001 - Azure OpenAI (Cost Management)
from simulator import focus_exports  # noqa: E402,F401,I001 - FOCUS exports of the clouds
from simulator import gcp_vertex_ai  # noqa: E402,F401,I001 - Vertex AI billing export
from simulator import opencost  # noqa: E402,F401,I001 - GPU cluster (OpenCost)
