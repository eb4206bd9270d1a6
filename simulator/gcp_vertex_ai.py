"""Google Vertex AI (Gemini) as the standard Cloud Billing export projects it.

Two teams run Gemini on Vertex AI in their own GCP projects (labels `team=...`), in two
regions. Google bills hourly rows (`usage_start_time`/`usage_end_time`), one per project × SKU
× location × label set × hour, in USD, with `cost` *before* credits and the credits as a
repeated record of negative amounts (a free tier on Gemini 2.0 Flash input, a launch promotion
that covers one project's first days). Model and token kind exist only inside
`sku.description` ("Gemini 2.5 Flash GA Text Input - Predictions").

The export lands as files, the way a scheduled `EXPORT DATA ... FORMAT JSON` (or `bq extract
--destination_format NEWLINE_DELIMITED_JSON`) writes it to a bucket: one folder per usage day
`usage_date=YYYY-MM-DD/`, gzip'd newline-delimited JSON, nested RECORD and REPEATED fields as
JSON objects and arrays, FLOAT as JSON numbers, TIMESTAMP as `YYYY-MM-DD HH:MM:SS UTC`.
NDJSON rather than Parquet: it is the format that keeps the billing export's nested and
repeated records exactly as the BigQuery schema has them, needs no schema file, and is what
Google's own examples show; a re-export overwrites the day's folder.

`reexport_day` models Google updating hourly rows after their first export (late usage of a
few hours, a later `export_time`): the day's file is rewritten. `inject_malformed_rows` adds
a truncated line and a row without a cost. The ground truth (`register_truth`) is Σ(cost +
credits) of the rows the current files hold, per project × model × token type × UTC day.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from simulator.world import World, register_truth

PROVIDER = "gcp_vertex_ai"
SERVICE = {"id": "C7E2-9256-1C43", "description": "Vertex AI"}
EXPORT_FILE = "000000000000.json.gz"
PACIFIC = ZoneInfo("America/Los_Angeles")

# model -> (SKU description prefix, {kind: USD per 1M tokens})
MODELS: dict[str, tuple[str, dict[str, float]]] = {
    "gemini-2.5-flash": (
        "Gemini 2.5 Flash GA",
        {"input": 0.30, "cached_input": 0.075, "output": 2.50, "thinking": 2.50},
    ),
    "gemini-2.5-pro": (
        "Gemini 2.5 Pro GA",
        {"input": 1.25, "cached_input": 0.31, "output": 10.0, "thinking": 10.0},
    ),
    "gemini-2.0-flash": ("Gemini 2.0 Flash", {"input": 0.15, "output": 0.60}),
}
# kind -> (SKU description phrase, conformed token type)
KINDS: dict[str, tuple[str, str]] = {
    "input": ("Text Input - Predictions", "input"),
    "cached_input": ("Input Text Caching", "cached_input"),
    "output": ("Text Output - Predictions", "output"),
    "thinking": ("Thinking Text Output - Predictions", "output"),
}
# the share of a model's input tokens served from cache, of its output spent thinking
KIND_SHARE = {"input": 1.0, "cached_input": 0.35, "output": 0.25, "thinking": 0.2}

# team -> (region, country, models, daily input tokens of the first model)
TEAMS = {
    "search": ("us-central1", "US", ("gemini-2.0-flash", "gemini-2.5-flash"), 180_000_000),
    "research": ("europe-west4", "NL", ("gemini-2.5-pro", "gemini-2.5-flash"), 40_000_000),
}
PROMOTION_DAYS = 5  # research's launch promotion covers its first days in full
FREE_TIER_MICRO = 20_000  # per hourly row of Gemini 2.0 Flash input: up to $0.02 free
# business hours (UTC) carry most of the traffic
HOUR_PROFILE = np.array(
    [0.2, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.1, 1.3, 1.4]
    + [1.5, 1.5, 1.5, 1.4, 1.3, 1.2, 1.0, 0.8, 0.6, 0.45, 0.35, 0.25]
)


@dataclass
class VertexExport:
    """The billing export of one world: rows, their credits, and what was re-exported."""

    billing_account_id: str
    projects: dict[str, dict]  # team -> project record
    rows: pd.DataFrame
    extra_lines: dict[int, list[str]] = field(default_factory=dict)
    revisions: dict[int, int] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


_EXPORTS: weakref.WeakKeyDictionary[World, VertexExport] = weakref.WeakKeyDictionary()
_BUILD_LOCK = threading.Lock()


def sku_description(model: str, kind: str) -> str:
    """The SKU description Google bills a model's token kind under."""
    return f"{MODELS[model][0]} {KINDS[kind][0]}"


def sku_id(model: str, kind: str) -> str:
    """A stable SKU id (`XXXX-XXXX-XXXX`) for a model's token kind."""
    import hashlib

    digest = hashlib.md5(f"{model}:{kind}".encode(), usedforsecurity=False).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


def export_of(world: World) -> VertexExport:
    """The (cached) Vertex AI billing export of `world`."""
    with _BUILD_LOCK:
        export = _EXPORTS.get(world)
        if export is None:
            export = _EXPORTS[world] = _build(world)
        return export


def _build(world: World) -> VertexExport:
    rng = np.random.default_rng(np.random.PCG64([world.seed, 0x6C9]))
    digits = rng.integers(0, 16, size=18)
    hexa = "".join("0123456789ABCDEF"[d] for d in digits)
    billing_account = f"{hexa[:6]}-{hexa[6:12]}-{hexa[12:18]}"
    projects = {}
    for team, (region, country, _, _) in TEAMS.items():
        suffix = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 6))
        number = str(int(rng.integers(10**11, 10**12)))
        projects[team] = dict(
            id=f"{team}-genai-{suffix}",
            number=number,
            name=f"{team}-genai",
            region=region,
            country=country,
        )
    parts = []
    for team, (_, _, models, base) in TEAMS.items():
        for m_index, model in enumerate(models):
            daily = base / (1 + 2 * m_index)
            growth = rng.normal(0.6, 0.2)
            noise = np.exp(rng.normal(0.0, 0.1, size=world.days))
            per_day = daily * world._season * np.exp(growth * world._t) * noise
            hours = per_day[:, None] * HOUR_PROFILE[None, :] / HOUR_PROFILE.sum()
            for kind in MODELS[model][1]:
                tokens = hours * KIND_SHARE[kind] * np.exp(rng.normal(0, 0.15, hours.shape))
                # quiet hours sometimes see no call at all: no row
                tokens[rng.random(hours.shape) < 0.04 / HOUR_PROFILE[None, :]] = 0
                tokens = np.rint(tokens).astype(np.int64)
                day, hour = np.nonzero(tokens)
                parts.append(
                    pd.DataFrame(
                        {
                            "day": day,
                            "hour": hour,
                            "team": team,
                            "model": model,
                            "kind": kind,
                            "tokens": tokens[day, hour],
                            "export_delay_h": rng.integers(2, 9, size=len(day)),
                        }
                    )
                )
    rows = pd.concat(parts, ignore_index=True)
    prices = {(m, k): p for m, (_, kinds) in MODELS.items() for k, p in kinds.items()}
    price = np.array([prices[mk] for mk in zip(rows["model"], rows["kind"], strict=True)])
    rows["cost_micro"] = np.rint(rows["tokens"].to_numpy() * price).astype(np.int64)
    rows = rows[rows["cost_micro"] > 0]
    free = (rows["model"] == "gemini-2.0-flash") & (rows["kind"] == "input")
    rows["free_tier_micro"] = np.where(free, -np.minimum(rows["cost_micro"], FREE_TIER_MICRO), 0)
    promo = (rows["team"] == "research") & (rows["day"] < PROMOTION_DAYS)
    rows["promotion_micro"] = np.where(promo, -(rows["cost_micro"] + rows["free_tier_micro"]), 0)
    rows = rows.sort_values(["day", "hour", "team", "model", "kind"], kind="stable")
    return VertexExport(billing_account, projects, rows.reset_index(drop=True))


# ------------------------------------------------------------------------------ truth
def truth(world: World, first: int, last: int) -> pd.DataFrame:
    """Ground truth: Σ(cost + credits) per UTC day × project × model × token type (USD)."""
    export = export_of(world)
    with export.lock:
        f = export.rows[(export.rows["day"] >= first) & (export.rows["day"] <= last)].copy()
    f["token_type"] = f["kind"].map(lambda k: KINDS[k][1])
    f["net_nano"] = (f["cost_micro"] + f["free_tier_micro"] + f["promotion_micro"]) * 1000
    g = f.groupby(["day", "team", "model", "token_type"], as_index=False)["net_nano"].sum()
    return pd.DataFrame(
        {
            "provider": PROVIDER,
            "date": [world.date_of(d) for d in g["day"]],
            "sub_account_id": [export.projects[t]["id"] for t in g["team"]],
            "api_key_id": None,
            "model": g["model"].to_numpy(dtype=object),
            "token_type": g["token_type"].to_numpy(dtype=object),
            "service_tier": None,
            "billed_cost_nano": g["net_nano"].to_numpy(dtype=np.int64),
            "billing_currency": "USD",
        }
    )


register_truth(PROVIDER, truth)


# ------------------------------------------------------------------------------ files
def _bq_timestamp(ts: dt.datetime) -> str:
    """TIMESTAMP as BigQuery's JSON export writes it: `2025-06-01 10:00:00 UTC`."""
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC")


def _money(micro: int) -> float:
    """A FLOAT cost as BigQuery exports it (shortest round-trip text of the double)."""
    return float(f"{int(micro) / 1_000_000:.6f}")


def _credit(kind: str, micro: int, project: str) -> dict:
    if kind == "FREE_TIER":
        return {
            "name": "Free tier",
            "amount": _money(micro),
            "full_name": "Gemini 2.0 Flash free tier",
            "id": "FreeTier/gemini-2.0-flash",
            "type": "FREE_TIER",
        }
    return {
        "name": "Vertex AI launch promotion",
        "amount": _money(micro),
        "full_name": f"Vertex AI launch promotion for {project}",
        "id": f"PromotionCredit/{project}",
        "type": "PROMOTION",
    }


def day_lines(world: World, day: int) -> list[str]:
    """The export's NDJSON lines of one usage day (UTC), as the current export holds them."""
    export = export_of(world)
    with export.lock:
        f = export.rows[export.rows["day"] == day]
        extra = list(export.extra_lines.get(day, []))
    date = world.date_of(day)
    midnight = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
    lines = []
    for r in f.itertuples(index=False):
        p = export.projects[r.team]
        start = midnight + dt.timedelta(hours=int(r.hour))
        end = start + dt.timedelta(hours=1)
        credits = []
        if r.free_tier_micro:
            credits.append(_credit("FREE_TIER", r.free_tier_micro, p["id"]))
        if r.promotion_micro:
            credits.append(_credit("PROMOTION", r.promotion_micro, p["id"]))
        row = {
            "billing_account_id": export.billing_account_id,
            "service": SERVICE,
            "sku": {"id": sku_id(r.model, r.kind), "description": sku_description(r.model, r.kind)},
            "usage_start_time": _bq_timestamp(start),
            "usage_end_time": _bq_timestamp(end),
            "project": {
                "id": p["id"],
                "number": p["number"],
                "name": p["name"],
                "labels": [],
                "ancestry_numbers": f"/{4242424242}/{p['number']}/",
                "ancestors": [],
            },
            "labels": [{"key": "env", "value": "prod"}, {"key": "team", "value": r.team}],
            "system_labels": [],
            "location": {
                "location": p["region"],
                "country": p["country"],
                "region": p["region"],
                "zone": None,
            },
            "tags": [],
            "export_time": _bq_timestamp(end + dt.timedelta(hours=int(r.export_delay_h))),
            "cost": _money(r.cost_micro),
            "currency": "USD",
            "currency_conversion_rate": 1.0,
            "usage": {
                "amount": int(r.tokens),
                "unit": "count",
                "amount_in_pricing_units": float(f"{r.tokens / 1_000_000:.6f}"),
                "pricing_unit": "1000000 count",
            },
            "credits": credits,
            "invoice": {"month": start.astimezone(PACIFIC).strftime("%Y%m")},
            "cost_type": "regular",
            "adjustment_info": None,
            "cost_at_list": _money(r.cost_micro),
            "transaction_type": "GOOGLE",
            "seller_name": "Google",
        }
        lines.append(json.dumps(row, separators=(",", ":")))
    return lines + extra


def day_dir(directory: str | Path, date: dt.date) -> Path:
    """The folder of one usage day's export files."""
    return Path(directory) / f"usage_date={date.isoformat()}"


def write_day(world: World, directory: str | Path, day: int) -> Path | None:
    """(Re)write one usage day's export file (overwrite, as `EXPORT DATA ... overwrite=true`)."""
    lines = day_lines(world, day)
    folder = day_dir(directory, world.date_of(day))
    if not lines:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EXPORT_FILE
    data = ("\n".join(lines) + "\n").encode()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(data)
    tmp.replace(path)
    return path


def write_exports(world: World, directory: str | Path) -> list[Path]:
    """Write every day of the world's Vertex AI billing export under `directory`."""
    written = []
    for day in range(world.days):
        path = write_day(world, directory, day)
        if path is not None:
            written.append(path)
    return written


def reexport_day(world: World, directory: str | Path, date: dt.date, rows: int = 6) -> int:
    """Google updates a few hourly rows of a past day (late usage, a later `export_time`) and
    the day is exported again. Returns the number of rows changed; the truth follows."""
    day = (date - world.start).days
    export = export_of(world)
    with export.lock:
        f = export.rows
        idx = f.index[f["day"] == day].to_numpy()
        if len(idx) == 0:
            raise ValueError(f"no Vertex AI rows on {date}")
        revision = export.revisions.get(day, 0) + 1
        chosen = idx[:: max(1, len(idx) // rows)][:rows]
        f.loc[chosen, "tokens"] = (f.loc[chosen, "tokens"] * 1.4).round().astype(np.int64)
        price = np.array(
            [
                MODELS[m][1][k]
                for m, k in zip(f.loc[chosen, "model"], f.loc[chosen, "kind"], strict=True)
            ]
        )
        f.loc[chosen, "cost_micro"] = np.rint(f.loc[chosen, "tokens"] * price).astype(np.int64)
        free = f.loc[chosen, "free_tier_micro"] != 0
        f.loc[chosen[free.to_numpy()], "free_tier_micro"] = -np.minimum(
            f.loc[chosen[free.to_numpy()], "cost_micro"], FREE_TIER_MICRO
        )
        promo = f.loc[chosen, "promotion_micro"] != 0
        sel = chosen[promo.to_numpy()]
        f.loc[sel, "promotion_micro"] = -(f.loc[sel, "cost_micro"] + f.loc[sel, "free_tier_micro"])
        f.loc[chosen, "export_delay_h"] = 24 * revision + 6
        export.revisions[day] = revision
    write_day(world, directory, day)
    return len(chosen)


def inject_malformed_rows(world: World, directory: str | Path, date: dt.date) -> None:
    """A day's file gains a truncated line and a row without `cost` (neither is billed cost:
    the truth ignores them; the pipeline must quarantine both, with a reason)."""
    day = (date - world.start).days
    export = export_of(world)
    good = day_lines(world, day)[0]
    broken = json.loads(good)
    broken.pop("cost")
    broken["sku"]["description"] = "Gemini 2.5 Flash GA Text Output - Predictions"
    with export.lock:
        export.extra_lines.setdefault(day, []).extend(
            [good[: len(good) // 2], json.dumps(broken, separators=(",", ":"))]
        )
    write_day(world, directory, day)
