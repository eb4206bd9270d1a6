"""AWS Bedrock as a projection of the simulated organisation: CUR 2.0 line items and Cost Explorer.

Some teams call Anthropic, Meta and Amazon models through Bedrock in a few regions, from two
linked accounts, as IAM roles/users, with a cost-allocation tag `team` (CUR 2.0:
`resource_tags['user_team']`, Cost Explorer: group key `team$<value>`). The bill also carries a
promotional credit (the dev account's usage, early days), a refund, a monthly tax line per
account and some non-Bedrock spend (S3) that the pipeline must leave out.

One table of CUR line items (`BedrockBill.frame`, one row per UTC day × account × usage type ×
IAM principal × resource × line item type) is the single source: the CUR 2.0 parquet exports
(`publish_cur`), the Cost Explorer JSON 1.1 endpoint (`handle_cost_explorer`) and the ground
truth (`truth`) all read it, so they cannot disagree. Money is integer nano-dollars.

Usage types follow the AWS Bedrock CUR guide: `<REGION PREFIX>-<model>-<kind>`, e.g.
`USE1-Claude3.5Sonnet-input-tokens`, `USW2-Llama3.1-70B-Instruct-output-tokens`,
`USE1-Claude3.5Haiku-cache-read-input-token-count`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.world import World, register_truth

PROVIDER = "aws_bedrock"
EXPORT_NAME = "tokenledger-cur2"
EXPORT_PREFIX = "cur"
BUCKET = "tokenledger-billing-exports"
TAG_KEY = "team"  # the activated cost-allocation tag (user-defined: CUR 2.0 key `user_team`)

REGIONS = {"us-east-1": "USE1", "us-west-2": "USW2", "eu-central-1": "EUC1"}
# usage-type kind -> conformed token type
KINDS = {
    "input-tokens": "input",
    "output-tokens": "output",
    "cache-read-input-token-count": "cached_input",
    "cache-write-input-token-count": "cache_write",
}
# model as Bedrock spells it in usage types -> (publisher, USD / 1M tokens per kind above)
MODELS = {
    "Claude3.5Sonnet": ("Anthropic", (3.00, 15.00, 0.30, 3.75)),
    "Claude3.5Haiku": ("Anthropic", (0.80, 4.00, 0.08, 1.00)),
    "Llama3.1-70B-Instruct": ("Meta", (0.72, 0.72, None, None)),
    "NovaPro": ("Amazon", (0.80, 3.20, 0.20, None)),
}
# tokens of a kind per input token
KIND_RATIO = {
    "input-tokens": 1.0,
    "output-tokens": 0.22,
    "cache-read-input-token-count": 1.6,
    "cache-write-input-token-count": 0.12,
}
# (team or None = untagged, account, principal kind, model, region, daily input tokens)
STREAMS = (
    ("search", "prod", "role", "Claude3.5Haiku", "us-east-1", 9e6),
    ("search", "prod", "role", "Claude3.5Sonnet", "us-east-1", 2.5e6),
    ("support", "prod", "role", "Claude3.5Sonnet", "us-west-2", 4e6),
    ("support", "prod", "role", "NovaPro", "us-east-1", 6e6),
    ("research", "dev", "user", "Claude3.5Sonnet", "us-west-2", 3e6),
    ("research", "dev", "role", "Llama3.1-70B-Instruct", "us-west-2", 5e6),
    ("research", "dev", "role", "Claude3.5Sonnet", "eu-central-1", 1.5e6),
    (None, "prod", "user", "NovaPro", "us-east-1", 1e6),
)
TAGGED_TEAMS = tuple(sorted({s[0] for s in STREAMS if s[0]}))
TAX_RATE_PERCENT = 8
CREDIT_DAYS_FRACTION = 1 / 3  # the dev account's promotional credit covers its early usage
REFUND_FRACTION = 0.5

LINE_TYPES = ("Usage", "Credit", "Refund", "Tax")
SERVICE_NAMES = {"AmazonBedrock": "Amazon Bedrock", "AmazonS3": "Amazon Simple Storage Service"}


def _pico(usd_per_million: float) -> int:
    return int(round(usd_per_million * 1_000_000))


def usage_type(region: str, model: str, kind: str) -> str:
    """Bedrock usage type, e.g. `USE1-Claude3.5Sonnet-input-tokens`."""
    return f"{REGIONS[region]}-{model}-{kind}"


@dataclass
class BedrockBill:
    """The Bedrock projection of one world: CUR line items plus delivery versions per period."""

    frame: pd.DataFrame
    payer_account_id: str
    accounts: dict[str, tuple[str, str]]  # role (prod/dev) -> (account id, account name)
    versions: dict[str, int]  # billing period YYYY-MM -> delivery version (bumped on restate)
    streams: list[tuple]  # (team, account role, principal, resource, tags, model, region, base)
    lock: threading.RLock
    published: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


_BILLS_LOCK = threading.Lock()


def bill(world: World, copies: int | None = None) -> BedrockBill:
    """The world's Bedrock bill, built once per world and kept on it (`copies` × principals
    per stream, default `world.scale`)."""
    with _BILLS_LOCK:
        found = getattr(world, "_aws_bedrock_bill", None)
        if found is None:
            found = _build(world, copies or world.scale)
            world._aws_bedrock_bill = found
        return found


def _account_id(rng: np.random.Generator) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, 12))


def _build(world: World, copies: int) -> BedrockBill:
    rng = np.random.default_rng([world.seed, 0xBED0C])
    payer = _account_id(rng)
    accounts = {"prod": (_account_id(rng), "ml-prod"), "dev": (_account_id(rng), "ml-dev")}
    days = world.days
    season = world._season
    trend = np.exp(0.6 * world._t)

    # one stream per (template × copy): its principal, resource and tags
    streams = []
    for copy in range(copies):
        for i, (team, acct, pkind, model, region, base) in enumerate(STREAMS):
            account_id = accounts[acct][0]
            who = team or "sandbox"
            suffix = "" if copy == 0 else f"-{copy}"
            principal = (
                f"arn:aws:iam::{account_id}:role/{who}-bedrock-invoker{suffix}"
                if pkind == "role"
                else f"arn:aws:iam::{account_id}:user/{who}.dev{copy + 1}"
            )
            resource = (
                f"arn:aws:bedrock:{region}:{account_id}:application-inference-profile/"
                f"{who}{suffix}-{i}"
                if team
                else ""
            )
            tags = {"user_team": team, "user_env": acct} if team else {}
            streams.append((team, acct, principal, resource, tags, model, region, base))
    n_streams = len(streams)
    base = np.array([s[7] for s in streams])
    noise = rng.lognormal(0.0, 0.18, size=(n_streams, days))
    input_tokens = np.rint(base[:, None] * season[None, :] * trend[None, :] * noise)

    # usage lines: stream × day × kind (kinds the model is priced for)
    parts = []
    for k, (kind, ratio) in enumerate(KIND_RATIO.items()):
        idx = [j for j, s in enumerate(streams) if MODELS[s[5]][1][k] is not None]
        if not idx:
            continue
        tokens = np.rint(input_tokens[idx] * ratio).astype(np.int64)
        price = np.array([_pico(MODELS[streams[j][5]][1][k]) for j in idx], dtype=np.int64)
        nano = np.rint(tokens * price[:, None] / 1000).astype(np.int64)
        s_idx, d_idx = np.meshgrid(np.array(idx), np.arange(days), indexing="ij")
        parts.append(
            pd.DataFrame(
                {
                    "day": d_idx.ravel(),
                    "stream": s_idx.ravel(),
                    "kind": kind,
                    "line_type": "Usage",
                    "usage_amount": tokens.ravel().astype(np.float64),
                    "nano": nano.ravel(),
                    "list_nano": nano.ravel(),
                }
            )
        )
    usage = pd.concat(parts, ignore_index=True)
    usage = usage[usage["usage_amount"] > 0]
    st = np.array(streams, dtype=object)
    usage["account"] = [s for s in st[usage["stream"].to_numpy(), 1]]

    # promotional credit: the dev account's usage, fully, in the first third of the world
    credit_days = max(1, int(days * CREDIT_DAYS_FRACTION))
    credits = usage[(usage["account"] == "dev") & (usage["day"] < credit_days)].copy()
    credits["line_type"] = "Credit"
    credits["nano"] = -credits["nano"]
    credits["list_nano"] = 0
    credits["usage_amount"] = 0.0

    # a refund: half of the largest usage line of a day two thirds in
    refund_day = min(days - 1, int(days * 2 / 3))
    day_usage = usage[(usage["day"] == refund_day) & (usage["account"] == "prod")]
    refunds = day_usage.loc[[day_usage["nano"].idxmax()]].copy() if len(day_usage) else usage[:0]
    refunds["line_type"] = "Refund"
    refunds["nano"] = -np.rint(refunds["nano"] * REFUND_FRACTION).astype(np.int64)
    refunds["list_nano"] = 0
    refunds["usage_amount"] = 0.0

    frame = pd.concat([usage, credits, refunds], ignore_index=True)
    frame["usage_type"] = [
        usage_type(streams[s][6], streams[s][5], kind)
        for s, kind in zip(frame["stream"].to_numpy(), frame["kind"].to_numpy(), strict=True)
    ]
    frame["product_code"] = "AmazonBedrock"
    frame["has_amount"] = True
    frame["model"] = st[frame["stream"].to_numpy(), 5]
    frame["token_type"] = frame["kind"].map(KINDS)

    # tax: per account and billing period, on its first day in the world
    dates = pd.to_datetime([world.date_of(d) for d in range(days)])
    period = np.array([d.strftime("%Y-%m") for d in dates])
    frame["period"] = period[frame["day"].to_numpy()]
    taxable = frame.groupby(["account", "period"], as_index=False)["nano"].sum()
    first_day = {p: int(np.argmax(period == p)) for p in np.unique(period)}
    tax_stream = {acct: next(j for j, s in enumerate(streams) if s[1] == acct) for acct in accounts}
    tax = pd.DataFrame(
        {
            "day": [first_day[p] for p in taxable["period"]],
            "stream": [tax_stream[a] for a in taxable["account"]],
            "kind": None,
            "line_type": "Tax",
            "usage_amount": 0.0,
            "nano": (taxable["nano"].to_numpy() * TAX_RATE_PERCENT // 100).astype(np.int64),
            "list_nano": 0,
            "account": taxable["account"].to_numpy(),
            "usage_type": "",
            "product_code": "AmazonBedrock",
            "has_amount": True,
            "model": None,
            "token_type": None,
            "period": taxable["period"].to_numpy(),
        }
    )
    # other AWS spend in the same export (S3 storage): not Bedrock, never in the fact
    s3 = pd.DataFrame(
        {
            "day": np.arange(days),
            "stream": tax_stream["prod"],
            "kind": None,
            "line_type": "Usage",
            "usage_amount": np.full(days, 5.0e11),
            "nano": np.full(days, 11_500_000_000, dtype=np.int64),
            "list_nano": np.full(days, 11_500_000_000, dtype=np.int64),
            "account": "prod",
            "usage_type": "USE1-TimedStorage-ByteHrs",
            "product_code": "AmazonS3",
            "has_amount": True,
            "model": None,
            "token_type": None,
            "period": period,
        }
    )
    frame = pd.concat([frame, tax, s3], ignore_index=True)
    frame = frame.sort_values(["day", "stream", "line_type", "usage_type"], kind="stable")
    frame = frame.reset_index(drop=True)
    versions = {p: 1 for p in np.unique(period)}
    return BedrockBill(frame, payer, accounts, versions, streams, threading.RLock())


# ------------------------------------------------------------------------------ mutations
def restate_day(world: World, date: dt.date, factor: float) -> None:
    """AWS revises a past day: every Bedrock line of that day × factor (usage and money), and
    the day's billing period is re-delivered (`publish_cur` writes a new execution)."""
    b = bill(world)
    day = (date - world.start).days
    if not 0 <= day < world.days:
        raise ValueError(f"{date} is outside the world")
    with b.lock:
        f = b.frame
        rows = (
            (f["day"] == day) & (f["product_code"] == "AmazonBedrock") & (f["line_type"] != "Tax")
        )
        for col in ("nano", "list_nano"):
            f.loc[rows, col] = np.rint(f.loc[rows, col].to_numpy() * factor).astype(np.int64)
        f.loc[rows, "usage_amount"] = np.rint(f.loc[rows, "usage_amount"].to_numpy() * factor)
        b.versions[date.strftime("%Y-%m")] += 1


def inject_bad_line(world: World, date: dt.date, kind: str) -> None:
    """Add one bad Bedrock line to a day: `null_cost` (no unblended cost: quarantined) or
    `unknown_usage_type` (a usage type whose kind nobody maps: kept, surfaced as unknown)."""
    if kind not in ("null_cost", "unknown_usage_type"):
        raise ValueError(f"unknown injection kind {kind!r}")
    b = bill(world)
    day = (date - world.start).days
    if not 0 <= day < world.days:
        raise ValueError(f"{date} is outside the world")
    with b.lock:
        f = b.frame
        template = f[(f["day"] == day) & (f["line_type"] == "Usage")].iloc[[0]].copy()
        template["line_type"] = "Usage"
        if kind == "null_cost":
            template["has_amount"] = False
        else:
            region = b.streams[int(template["stream"].iloc[0])][6]
            template["usage_type"] = f"{REGIONS[region]}-Claude3.5Sonnet-quantum-tokens"
            template["model"] = "Claude3.5Sonnet"
            template["token_type"] = "unknown"
            template["kind"] = "quantum-tokens"
        template["nano"] = 1_234_567_891
        template["list_nano"] = 1_234_567_891
        b.frame = pd.concat([f, template], ignore_index=True)
        b.versions[date.strftime("%Y-%m")] += 1


# ------------------------------------------------------------------------------ truth
def truth(world: World, first: int, last: int) -> pd.DataFrame:
    """Ground truth at the contract grain: Σ Bedrock CUR lines with an amount, per day ×
    usage account × model × token type (tax and other lines without a model: null)."""
    b = bill(world)
    with b.lock:
        f = b.frame
        f = f[
            (f["day"] >= first)
            & (f["day"] <= last)
            & (f["product_code"] == "AmazonBedrock")
            & f["has_amount"]
        ]
        streams = b.streams
        accounts = np.array([b.accounts[s[1]][0] for s in streams], dtype=object)
        g = pd.DataFrame(
            {
                "day": f["day"].to_numpy(),
                "sub_account_id": accounts[f["stream"].to_numpy()],
                "model": f["model"].fillna("").to_numpy(),
                "token_type": f["token_type"].fillna("").to_numpy(),
                "nano": f["nano"].to_numpy(),
            }
        )
    g = g.groupby(["day", "sub_account_id", "model", "token_type"], as_index=False)["nano"].sum()
    dates = np.array([world.date_of(d) for d in range(world.days)], dtype=object)
    return pd.DataFrame(
        {
            "provider": PROVIDER,
            "date": dates[g["day"].to_numpy()],
            "sub_account_id": g["sub_account_id"].to_numpy(),
            "api_key_id": None,
            "model": g["model"].replace("", None).to_numpy(),
            "token_type": g["token_type"].replace("", None).to_numpy(),
            "service_tier": None,
            "billed_cost_nano": g["nano"].to_numpy().astype(np.int64),
        }
    )


register_truth(PROVIDER, truth)


# ------------------------------------------------------------------------------ CUR 2.0
_TS = pa.timestamp("ms")
_MAP = pa.map_(pa.string(), pa.string())


def _map_array(dicts: list[dict[str, str]]) -> pa.Array:
    offsets = [0]
    keys: list[str] = []
    items: list[str] = []
    for d in dicts:
        for k in sorted(d, reverse=True):  # AWS does not sort map keys; neither do we
            keys.append(k)
            items.append(d[k])
        offsets.append(len(keys))
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(items, pa.string())
    )


def cur_table(world: World, period: str) -> pa.Table:
    """One billing period of the CUR 2.0 export (`COST_AND_USAGE_REPORT` columns)."""
    b = bill(world)
    with b.lock:
        f = b.frame[b.frame["period"] == period]
        streams = b.streams
    n = len(f)
    st = np.array(streams, dtype=object)
    s_idx = f["stream"].to_numpy()
    acct_role = np.array([s[1] for s in streams], dtype=object)[s_idx]
    acct_id = np.array([b.accounts[a][0] for a in acct_role], dtype=object)
    acct_name = np.array([b.accounts[a][1] for a in acct_role], dtype=object)
    line_type = f["line_type"].to_numpy()
    product = f["product_code"].to_numpy()
    is_bedrock = product == "AmazonBedrock"
    is_usage = line_type == "Usage"
    region = np.where(is_bedrock, st[s_idx, 6], "us-east-1")
    principal = np.where(is_usage & is_bedrock, st[s_idx, 2], "")
    resource = np.where(is_bedrock & (line_type != "Tax"), st[s_idx, 3], "")
    tags = [
        st[s][4] if (bed and lt != "Tax") else {}
        for s, bed, lt in zip(s_idx, is_bedrock, line_type, strict=True)
    ]
    day = f["day"].to_numpy()
    start = np.datetime64(world.start.isoformat(), "ms") + day.astype("timedelta64[D]")
    y, m = (int(x) for x in period.split("-"))
    p_start = dt.datetime(y, m, 1)
    p_end = dt.datetime(y + m // 12, m % 12 + 1, 1)
    nano = f["nano"].to_numpy()
    has = f["has_amount"].to_numpy().astype(bool)
    cost = pa.array(nano / 1e9, pa.float64(), mask=~has)
    usage_amount = f["usage_amount"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(usage_amount > 0, nano / 1e9 / usage_amount, 0.0)
    description = np.where(
        line_type == "Tax",
        "Tax for product code AmazonBedrock",
        np.where(
            line_type == "Credit",
            "AWS Promotional Credit",
            np.where(line_type == "Refund", "Refund for throttled Bedrock requests", ""),
        ),
    )
    usage_desc = [
        f"Bedrock {u} ({r})" if d == "" else d
        for u, r, d in zip(f["usage_type"].to_numpy(), region, description, strict=True)
    ]
    operation = np.where(is_bedrock & (line_type != "Tax"), "InvokeModelInference", "")
    operation = np.where(product == "AmazonS3", "StandardStorage", operation)
    columns: dict[str, Any] = {
        "bill_bill_type": pa.array(["Anniversary"] * n),
        "bill_billing_entity": pa.array(["AWS"] * n),
        "bill_billing_period_start_date": pa.array([p_start] * n, _TS),
        "bill_billing_period_end_date": pa.array([p_end] * n, _TS),
        "bill_invoice_id": pa.array([""] * n),
        "bill_payer_account_id": pa.array([b.payer_account_id] * n),
        "bill_payer_account_name": pa.array(["tokenledger-org"] * n),
        "identity_line_item_id": pa.array(
            [
                hashlib.sha1(f"{period}:{i}".encode(), usedforsecurity=False).hexdigest()[:26]
                for i in f.index
            ]
        ),
        "identity_time_interval": pa.array(
            [
                f"{s}T00:00:00Z/{e}T00:00:00Z"
                for s, e in zip(
                    start.astype("datetime64[D]").astype(str),
                    (start.astype("datetime64[D]") + 1).astype(str),
                    strict=True,
                )
            ]
        ),
        "line_item_availability_zone": pa.array([""] * n),
        "line_item_currency_code": pa.array(["USD"] * n),
        "line_item_iam_principal": pa.array(principal.astype(str)),
        "line_item_line_item_description": pa.array(usage_desc),
        "line_item_line_item_type": pa.array(line_type.astype(str)),
        "line_item_net_unblended_cost": cost,
        "line_item_normalization_factor": pa.array(np.zeros(n)),
        "line_item_operation": pa.array(operation.astype(str)),
        "line_item_product_code": pa.array(product.astype(str)),
        "line_item_resource_id": pa.array(resource.astype(str)),
        "line_item_unblended_cost": cost,
        "line_item_unblended_rate": pa.array([f"{r:.10f}" for r in rate]),
        "line_item_usage_account_id": pa.array(acct_id.astype(str)),
        "line_item_usage_account_name": pa.array(acct_name.astype(str)),
        "line_item_usage_amount": pa.array(usage_amount, pa.float64()),
        "line_item_usage_end_date": pa.array(start + np.timedelta64(1, "D"), _TS),
        "line_item_usage_start_date": pa.array(start, _TS),
        "line_item_usage_type": pa.array(f["usage_type"].to_numpy().astype(str)),
        "pricing_currency": pa.array(["USD"] * n),
        "pricing_public_on_demand_cost": pa.array(f["list_nano"].to_numpy() / 1e9, pa.float64()),
        "pricing_public_on_demand_rate": pa.array([f"{r:.10f}" for r in rate]),
        "pricing_unit": pa.array(np.where(is_bedrock & is_usage, "Units", "").astype(str)),
        "product": _map_array(
            [
                {"product_name": SERVICE_NAMES[p], "region": r} if p else {}
                for p, r in zip(product, region, strict=True)
            ]
        ),
        "product_product_family": pa.array(
            np.where(is_bedrock, "Amazon Bedrock", "Storage").astype(str)
        ),
        "product_region_code": pa.array(region.astype(str)),
        "product_servicecode": pa.array(product.astype(str)),
        "product_usagetype": pa.array(f["usage_type"].to_numpy().astype(str)),
        "resource_tags": _map_array(tags),
    }
    return pa.table(columns)


@dataclass(frozen=True)
class CurTarget:
    """Where the export is delivered: a `put(key, bytes)` and the S3 bucket/prefix names."""

    put: Callable[[str, bytes], None]
    bucket: str = BUCKET
    prefix: str = EXPORT_PREFIX
    export_name: str = EXPORT_NAME


def publish_cur(world: World, target: CurTarget, force: bool = False) -> list[str]:
    """Deliver the CUR 2.0 export the way AWS Data Exports lays it out ("create new export
    file" versioning): per billing period, parquet data files under
    `<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/<execution id>/<export>-00001.snappy.parquet`
    and `<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json` naming
    the current files. A period is (re-)delivered when its content changed since the last
    delivery to this target (a restatement); older executions stay in the bucket.
    Returns the keys written."""
    b = bill(world)
    seen = b.published.setdefault((target.bucket, target.prefix), {})
    written = []
    base = f"{target.prefix}/{target.export_name}"
    with b.lock:
        versions = dict(b.versions)
    for period, version in sorted(versions.items()):
        if not force and seen.get(period) == version:
            continue
        execution = str(
            uuid.UUID(
                bytes=hashlib.md5(
                    f"{world.seed}:{period}:{version}".encode(), usedforsecurity=False
                ).digest()
            )
        )
        table = cur_table(world, period)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="snappy")
        part = f"BILLING_PERIOD={period}"
        data_key = f"{base}/data/{part}/{execution}/{target.export_name}-00001.snappy.parquet"
        target.put(data_key, sink.getvalue())
        y, m = (int(x) for x in period.split("-"))
        manifest = {
            "executionId": execution,
            "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{b.payer_account_id}:export/"
            f"{target.export_name}",
            "exportName": target.export_name,
            "billingPeriod": {
                "start": f"{y:04d}-{m:02d}-01T00:00:00.000Z",
                "end": f"{y + m // 12:04d}-{m % 12 + 1:02d}-01T00:00:00.000Z",
            },
            "dataFiles": [f"s3://{target.bucket}/{data_key}"],
            "columns": [
                {"name": n, "type": str(t)}
                for n, t in zip(table.column_names, table.schema.types, strict=True)
            ],
        }
        meta_key = f"{base}/metadata/{part}/{target.export_name}-Manifest.json"
        target.put(meta_key, json.dumps(manifest).encode())
        seen[period] = version
        written += [data_key, meta_key]
    return written


class CurBucket:
    """An S3 bucket on moto's server (loopback) holding the world's CUR 2.0 export.

    `start()` serves it on a free port; `.endpoint_url`, `.uri` (`s3://bucket/prefix/export`);
    `publish()` (re-)delivers changed periods; `stop()` ends the server.
    """

    def __init__(self, world: World, bucket: str = BUCKET) -> None:
        self.world = world
        self.bucket = bucket
        self._server = None
        self.endpoint_url = ""

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{EXPORT_PREFIX}/{EXPORT_NAME}"

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def start(self) -> CurBucket:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self.client().create_bucket(Bucket=self.bucket)
        self.publish()
        return self

    def publish(self, force: bool = False) -> list[str]:
        s3 = self.client()

        def put(key: str, body: bytes) -> None:
            s3.put_object(Bucket=self.bucket, Key=key, Body=body)

        return publish_cur(self.world, CurTarget(put=put, bucket=self.bucket), force=force)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> CurBucket:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------ Cost Explorer
CE_TARGET_PREFIX = "AWSInsightsIndexService."
CE_PAGE_GROUPS = 40
CE_METRICS = {
    "UnblendedCost": "nano",
    "NetUnblendedCost": "nano",
    "BlendedCost": "nano",
    "AmortizedCost": "nano",
    "NetAmortizedCost": "nano",
    "UsageQuantity": "usage_amount",
}
CE_DIMENSIONS = {"USAGE_TYPE", "SERVICE", "LINKED_ACCOUNT", "REGION", "RECORD_TYPE"}


class CeError(Exception):
    """A Cost Explorer error: JSON 1.1 `__type` and HTTP status."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _usd(nano: int) -> str:
    sign = "-" if nano < 0 else ""
    q, r = divmod(abs(int(nano)), 1_000_000_000)
    return f"{sign}{q}.{r:09d}"


def _qty(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else repr(float(value))


def _ce_frame(world: World, body: dict) -> tuple[pd.DataFrame, list[str], list[dict]]:
    """Rows grouped per day × GroupBy keys (key text columns `k0`, `k1`)."""
    try:
        period = body["TimePeriod"]
        start = dt.date.fromisoformat(period["Start"])
        end = dt.date.fromisoformat(period["End"])
        granularity = body["Granularity"]
        metrics = list(body["Metrics"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CeError(400, "ValidationException", f"invalid request: {exc!r}") from exc
    if granularity != "DAILY":
        raise CeError(400, "ValidationException", "the simulator serves DAILY granularity only")
    if end <= start:
        raise CeError(400, "ValidationException", "Start date must be before End date")
    unknown = [m for m in metrics if m not in CE_METRICS]
    if not metrics or unknown:
        raise CeError(400, "ValidationException", f"unsupported Metrics {unknown}")
    group_by = body.get("GroupBy") or []
    if len(group_by) > 2:
        raise CeError(400, "ValidationException", "GroupBy supports at most two keys")
    b = bill(world)
    with b.lock:
        f = b.frame[b.frame["has_amount"]]
        streams = b.streams
    first, last = (start - world.start).days, (end - world.start).days - 1
    f = f[(f["day"] >= first) & (f["day"] <= last)]
    st = np.array(streams, dtype=object)
    s_idx = f["stream"].to_numpy()
    product = f["product_code"].to_numpy()
    is_bedrock = product == "AmazonBedrock"
    dims = {
        "USAGE_TYPE": f["usage_type"].to_numpy(),
        "SERVICE": np.array([SERVICE_NAMES[p] for p in product], dtype=object),
        "LINKED_ACCOUNT": np.array(
            [b.accounts[a][0] for a in st[s_idx, 1]] if len(f) else [], dtype=object
        ),
        "REGION": np.where(is_bedrock, st[s_idx, 6] if len(f) else [], "us-east-1"),
        "RECORD_TYPE": f["line_type"].to_numpy(),
    }
    line_type = f["line_type"].to_numpy()
    team = np.array(
        [
            (st[s][0] or "") if (bed and lt != "Tax") else ""
            for s, bed, lt in zip(s_idx, is_bedrock, line_type, strict=True)
        ],
        dtype=object,
    )
    keep = np.ones(len(f), dtype=bool)
    flt = body.get("Filter")
    if flt:
        dim = flt.get("Dimensions") if isinstance(flt, dict) else None
        if not dim or dim.get("Key") not in dims:
            raise CeError(400, "ValidationException", "the simulator filters on one Dimension")
        keep &= np.isin(dims[dim["Key"]], list(dim.get("Values") or []))
    keys = []
    for g in group_by:
        if g.get("Type") == "DIMENSION" and g.get("Key") in dims:
            keys.append(dims[g["Key"]])
        elif g.get("Type") == "TAG" and g.get("Key"):
            if g["Key"] != TAG_KEY:
                keys.append(np.full(len(f), f"{g['Key']}$", dtype=object))
            else:
                keys.append(np.array([f"{TAG_KEY}${t}" for t in team], dtype=object))
        else:
            raise CeError(400, "ValidationException", f"unsupported GroupBy {g!r}")
    frame = pd.DataFrame(
        {
            "day": f["day"].to_numpy(),
            **{f"k{i}": k for i, k in enumerate(keys)},
            "nano": f["nano"].to_numpy(),
            "usage_amount": f["usage_amount"].to_numpy(),
        }
    )[keep]
    names = [f"k{i}" for i in range(len(keys))]
    frame = frame.groupby(["day", *names], as_index=False, sort=True)[
        ["nano", "usage_amount"]
    ].sum()
    return frame, names, group_by


def _request_hash(body: dict) -> str:
    rest = {k: v for k, v in body.items() if k != "NextPageToken"}
    return hashlib.sha1(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:12]


def get_cost_and_usage(world: World, body: dict) -> dict:
    """`GetCostAndUsage` over the world's bill: DAILY, ≤2 GroupBy, string amounts, `Estimated`
    for the world's last (unfinalised) month, `NextPageToken` every `CE_PAGE_GROUPS` groups
    (a day's groups may continue on the next page)."""
    frame, names, group_by = _ce_frame(world, body)
    metrics = list(body["Metrics"])
    start = dt.date.fromisoformat(body["TimePeriod"]["Start"])
    end = dt.date.fromisoformat(body["TimePeriod"]["End"])
    req = _request_hash(body)
    offset = 0
    token = body.get("NextPageToken")
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            offset, token_req = int(decoded["o"]), decoded["r"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CeError(400, "InvalidNextTokenException", "Invalid NextPageToken") from exc
        if token_req != req:
            raise CeError(
                400, "RequestChangedException", "Request parameters changed between pages"
            )
    last_day = world.end - dt.timedelta(days=1)
    estimated_from = last_day.replace(day=1)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
    # flatten to (date, group or None for an empty day) in order, then take one page
    by_day: dict[int, list[int]] = {}
    day_col = frame["day"].to_numpy()
    for i, d in enumerate(day_col.tolist()):
        by_day.setdefault(d, []).append(i)
    entries: list[tuple[dt.date, int | None]] = []
    for d in days:
        idx = by_day.get((d - world.start).days, [])
        entries.extend([(d, i) for i in idx] if idx else [(d, None)])
    page = entries[offset : offset + CE_PAGE_GROUPS]
    results: list[dict] = []
    for d, i in page:
        if not results or results[-1]["TimePeriod"]["Start"] != d.isoformat():
            results.append(
                {
                    "TimePeriod": {
                        "Start": d.isoformat(),
                        "End": (d + dt.timedelta(days=1)).isoformat(),
                    },
                    "Total": {} if group_by else None,
                    "Groups": [],
                    "Estimated": d >= estimated_from,
                }
            )
        if i is None:
            continue
        row = frame.iloc[i]
        results[-1]["Groups"].append(
            {
                "Keys": [row[n] for n in names],
                "Metrics": {
                    m: (
                        {"Amount": _usd(int(row["nano"])), "Unit": "USD"}
                        if CE_METRICS[m] == "nano"
                        else {"Amount": _qty(row["usage_amount"]), "Unit": "N/A"}
                    )
                    for m in metrics
                },
            }
        )
    if not group_by:
        for r in results:
            idx = [
                i for d, i in page if d.isoformat() == r["TimePeriod"]["Start"] and i is not None
            ]
            nano = int(frame["nano"].to_numpy()[idx].sum()) if idx else 0
            qty = float(frame["usage_amount"].to_numpy()[idx].sum()) if idx else 0.0
            r["Total"] = {
                m: (
                    {"Amount": _usd(nano), "Unit": "USD"}
                    if CE_METRICS[m] == "nano"
                    else {"Amount": _qty(qty), "Unit": "N/A"}
                )
                for m in metrics
            }
            r.pop("Groups")
    out: dict[str, Any] = {
        "GroupDefinitions": [{"Type": g["Type"], "Key": g["Key"]} for g in group_by],
        "ResultsByTime": results,
        "DimensionValueAttributes": [],
    }
    if offset + CE_PAGE_GROUPS < len(entries):
        out["NextPageToken"] = base64.urlsafe_b64encode(
            json.dumps({"o": offset + CE_PAGE_GROUPS, "r": req}).encode()
        ).decode()
    return out


def handle_cost_explorer(handler: Any) -> None:
    """Serve one JSON 1.1 Cost Explorer request on the simulator's HTTP handler
    (`POST /`, `X-Amz-Target: AWSInsightsIndexService.<Operation>`, SigV4 `Authorization`).
    Faults: `rate_limit_every` → `LimitExceededException` (HTTP 400), `server_error_every` →
    HTTP 500 `InternalServerException`, `malformed_every` → a truncated body."""
    state = handler.server.state
    target = handler.headers.get("X-Amz-Target", "")
    operation = target[len(CE_TARGET_PREFIX) :]
    rid = uuid.uuid4().hex

    def send(status: int, payload: dict | str) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        handler._send(
            status,
            body,
            {"x-amzn-RequestId": rid},
            content_type="application/x-amz-json-1.1",
        )

    def error(err: CeError) -> None:
        send(err.status, {"__type": err.kind, "Message": err.message})

    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 Credential="):
        return error(CeError(403, "UnrecognizedClientException", "Missing SigV4 signature"))
    if operation != "GetCostAndUsage":
        return error(CeError(400, "UnknownOperationException", f"unknown operation {target}"))
    n = state.next_request()
    faults = state.faults
    if faults.rate_limit_every and n % faults.rate_limit_every == 0:
        return error(CeError(400, "LimitExceededException", "Rate exceeded (simulated)"))
    if faults.server_error_every and n % faults.server_error_every == 0:
        return error(CeError(500, "InternalServerException", "Internal error (simulated)"))
    try:
        body = json.loads(raw or b"{}")
        payload = json.dumps(get_cost_and_usage(state.world, body))
    except CeError as err:
        return error(err)
    except ValueError as exc:
        return error(CeError(400, "SerializationException", str(exc)))
    if faults.malformed_every and n % faults.malformed_every == 0:
        payload = payload[: max(1, len(payload) // 2)]
    send(200, payload)
