"""API keys: the inventory (owner, status, spend) and the findings a FinOps team acts on.

Keys are seen in the billed cost (`marts.fct_cost_and_usage.x_api_key_id`) and in every
provider's usage (`staging.stg_<provider>__usage_*`, which knows keys Anthropic's cost report
does not). Owners come from `seeds/api_key_owners.csv`. Findings, one row each:

- `unknown_key`: a key seen in usage or cost data that the ownership seed does not list
  (a leaked key spends this way). One finding per key, however many days it spends.
- `spend_jump`: a registered key whose spend jumped like a leaked key's — an upward API-key
  anomaly episode (`marts.fct_spend_anomalies`, which knows weekends and month-start batch
  jobs) of at least `JUMP_RATIO` × its expected spend. One finding per episode.
- `idle_key`: a registered key with no usage or cost for `IDLE_DAYS` days (revoke it).
- `shadow_usage`: a registered key with spend in the last `SHADOW_DAYS` days but no app
  telemetry for it (`staging.stg_telemetry__llm_calls`); checked only when the warehouse has
  telemetry. An unknown key is reported once, as `unknown_key`, whatever else it does.

Grain: `key_inventory` one row per provider × key; `key_findings` one row per finding
(`finding_id` is stable across runs: the same key and kind, or the same episode).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from tokenledger.governance.budgets import frame, relation_columns

IDLE_DAYS = 30
SHADOW_DAYS = 7
JUMP_RATIO = 5.0
JUMP_MIN_USD = 50.0
TELEMETRY_RELATION = ("staging", "stg_telemetry__llm_calls")
TELEMETRY_MISSING = (
    "shadow-usage check skipped: staging.stg_telemetry__llm_calls (app telemetry) is not in "
    "the warehouse"
)

KEY_COST_SQL = """
select
    x_provider as provider,
    x_api_key_id as api_key_id,
    sub_account_id,
    cast(charge_period_start as date) as date,
    sum(billed_cost) as cost
from marts.fct_cost_and_usage
where x_api_key_id is not null
group by 1, 2, 3, 4
"""

INVENTORY_COLUMNS = [
    "provider",
    "api_key_id",
    "sub_account_id",
    "owner_email",
    "team",
    "is_registered",
    "key_status",
    "first_seen_date",
    "last_seen_date",
    "days_since_seen",
    "spend_30d_usd",
    "spend_total_usd",
    "tokens_30d",
    "last_telemetry_date",
    "open_findings",
    "as_of_date",
    "telemetry_note",
]
FINDING_COLUMNS = [
    "finding_id",
    "finding_kind",
    "provider",
    "api_key_id",
    "sub_account_id",
    "owner_email",
    "team",
    "owner_status",
    "start_date",
    "end_date",
    "spend_usd",
    "detail",
    "as_of_date",
]


def _finding_id(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _usage_relations(con) -> list[tuple[str, str]]:
    sql = (
        "select table_name from information_schema.tables where table_schema = 'staging' "
        "and table_name like 'stg_%__usage%'"
    )
    names = sorted(str(n) for n in frame(con, sql)["table_name"])
    out = []
    for name in names:
        cols = relation_columns(con, "staging", name)
        if {"api_key_id", "bucket_date"} <= set(cols):
            provider = name.removeprefix("stg_").split("__", 1)[0]
            out.append((provider, name))
    return out


def load_key_activity(con) -> dict[str, pd.DataFrame]:
    """Per key and day: billed cost (`cost`), usage tokens (`usage`), telemetry calls
    (`telemetry`, absent when the warehouse has no telemetry) and anomaly episodes."""
    out: dict[str, pd.DataFrame] = {"cost": frame(con, KEY_COST_SQL)}
    parts = []
    for provider, name in _usage_relations(con):
        cols = relation_columns(con, "staging", name)
        qty = "token_quantity" if "token_quantity" in cols else "1"
        sub = "sub_account_id" if "sub_account_id" in cols else "cast(null as varchar)"
        parts.append(
            f"select '{provider}' as provider, api_key_id, {sub} as sub_account_id, "
            f"cast(bucket_date as date) as date, sum({qty}) as tokens from staging.{name} "
            "where api_key_id is not null group by 1, 2, 3, 4"
        )
    out["usage"] = (
        frame(con, " union all ".join(parts))
        if parts
        else pd.DataFrame(columns=["provider", "api_key_id", "sub_account_id", "date", "tokens"])
    )
    tcols = relation_columns(con, *TELEMETRY_RELATION)
    # telemetry that exists but holds no call (no app reports yet) is no telemetry: every key
    # would otherwise look like shadow usage
    if {"provider", "api_key_id", "event_date"} <= set(tcols) and frame(
        con, f"select count(*) as n from {'.'.join(TELEMETRY_RELATION)}"
    )["n"].iloc[0]:
        out["telemetry"] = frame(
            con,
            "select provider, api_key_id, cast(event_date as date) as date, count(*) as calls "
            f"from {'.'.join(TELEMETRY_RELATION)} where api_key_id is not null group by 1, 2, 3",
        )
    acols = relation_columns(con, "marts", "fct_spend_anomalies")
    if {"level", "api_key_id", "episode_id", "direction"} <= set(acols):
        out["anomalies"] = frame(
            con,
            "select episode_id, provider, api_key_id, sub_account_id, start_date, end_date, "
            "actual_cost, expected_cost, impact from marts.fct_spend_anomalies "
            "where cast(level as varchar) = 'api_key' and cast(direction as varchar) = 'spike'",
        )
    for value in out.values():
        for col in ("date", "start_date", "end_date"):
            # also when empty: an empty datetime64 column still refuses a date comparison
            if col in value.columns:
                value[col] = pd.to_datetime(value[col]).dt.date
    return out


def assess_keys(
    owners: pd.DataFrame,
    activity: dict[str, pd.DataFrame],
    as_of: dt.date,
    *,
    idle_days: int = IDLE_DAYS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(key inventory, key findings) as of `as_of` (data after it is ignored)."""
    cost = activity["cost"]
    cost = cost[cost["date"] <= as_of] if len(cost) else cost
    usage = activity["usage"]
    usage = usage[usage["date"] <= as_of] if len(usage) else usage
    telemetry = activity.get("telemetry")
    if telemetry is not None and len(telemetry):
        telemetry = telemetry[telemetry["date"] <= as_of]
    key = ["provider", "api_key_id"]
    seen = pd.concat(
        [cost[[*key, "sub_account_id", "date"]], usage[[*key, "sub_account_id", "date"]]],
        ignore_index=True,
    )
    data_start = min(seen["date"]) if len(seen) else as_of
    recent = as_of - dt.timedelta(days=29)
    firsts = (
        seen.groupby(key)["date"]
        .agg(["min", "max"])
        .rename(columns={"min": "first_seen_date", "max": "last_seen_date"})
    )
    sub = (
        seen.dropna(subset=["sub_account_id"])
        .groupby(key)["sub_account_id"]
        .agg(lambda s: s.value_counts().index[0])
    )
    spend_total = cost.groupby(key)["cost"].sum().astype(float).rename("spend_total_usd")
    spend_30 = (
        cost[cost["date"] >= recent]
        .groupby(key)["cost"]
        .sum()
        .astype(float)
        .rename("spend_30d_usd")
    )
    tokens_30 = (
        usage[usage["date"] >= recent]
        .groupby(key)["tokens"]
        .sum()
        .astype(float)
        .rename("tokens_30d")
    )
    reg = owners[[*key, "sub_account_id", "owner_email", "team"]].copy()
    reg["is_registered"] = True
    inv = reg.set_index(key)
    seen_keys = firsts.join(sub.rename("seen_sub_account_id"))
    inv = inv.join(seen_keys, how="outer")
    inv["is_registered"] = inv["is_registered"].fillna(False).astype(bool)
    inv["sub_account_id"] = inv["sub_account_id"].where(
        inv["sub_account_id"].notna(), inv["seen_sub_account_id"]
    )
    inv = inv.join(spend_total).join(spend_30).join(tokens_30)
    billed = inv.index.isin(spend_total.index)  # keys the bills know (not Anthropic's)
    for col in ("spend_total_usd", "spend_30d_usd"):
        inv[col] = inv[col].where(~billed | inv[col].notna(), 0.0)
    inv["tokens_30d"] = inv["tokens_30d"].fillna(0.0)
    if telemetry is not None:
        inv = inv.join(telemetry.groupby(key)["date"].max().rename("last_telemetry_date"))
        telemetry_note = None
    else:
        inv["last_telemetry_date"] = None
        telemetry_note = TELEMETRY_MISSING
    inv = inv.reset_index()
    inv["days_since_seen"] = [
        (as_of - d).days if isinstance(d, dt.date) else np.nan for d in inv["last_seen_date"]
    ]
    span = (as_of - data_start).days + 1
    last_or_start = [d if isinstance(d, dt.date) else None for d in inv["last_seen_date"]]
    idle = inv["is_registered"].to_numpy() & np.array(
        [
            (d is not None and (as_of - d).days >= idle_days) or (d is None and span >= idle_days)
            for d in last_or_start
        ],
        dtype=bool,
    )
    inv["key_status"] = np.select(
        [~inv["is_registered"], idle, inv["last_seen_date"].isna()],
        ["unknown", "idle", "not_seen"],
        default="active",
    )
    findings = []
    for k in inv[inv["key_status"] == "unknown"].itertuples(index=False):
        findings.append(
            dict(
                finding_id=_finding_id("unknown_key", k.provider, k.api_key_id),
                finding_kind="unknown_key",
                provider=k.provider,
                api_key_id=k.api_key_id,
                sub_account_id=k.sub_account_id,
                start_date=k.first_seen_date,
                end_date=k.last_seen_date,
                spend_usd=k.spend_total_usd,
                detail=(
                    f"key {k.api_key_id} is not in seeds/api_key_owners.csv: seen from "
                    f"{k.first_seen_date} to {k.last_seen_date}, ${k.spend_total_usd:,.2f} billed"
                ),
            )
        )
    for k in inv[inv["key_status"] == "idle"].itertuples(index=False):
        since = k.last_seen_date if isinstance(k.last_seen_date, dt.date) else None
        findings.append(
            dict(
                finding_id=_finding_id("idle_key", k.provider, k.api_key_id),
                finding_kind="idle_key",
                provider=k.provider,
                api_key_id=k.api_key_id,
                sub_account_id=k.sub_account_id,
                start_date=(since + dt.timedelta(days=1)) if since else data_start,
                end_date=as_of,
                spend_usd=0.0,
                detail=(
                    f"no usage or cost for {(as_of - since).days} days (last seen {since}): "
                    "revoke it if nobody needs it"
                    if since
                    else f"never seen in {span} days of data: revoke it if nobody needs it"
                ),
            )
        )
    anomalies = activity.get("anomalies")
    if anomalies is not None and len(anomalies):
        ep = anomalies[anomalies["start_date"] <= as_of]
        ep = ep[
            (ep["actual_cost"].astype(float) >= JUMP_RATIO * ep["expected_cost"].astype(float))
            & (ep["impact"].astype(float) >= JUMP_MIN_USD)
        ]
        registered = set(zip(owners["provider"], owners["api_key_id"], strict=True))
        for e in ep.itertuples(index=False):
            if (e.provider, e.api_key_id) not in registered:
                continue  # an unknown key is reported once, as unknown_key
            end = min(e.end_date, as_of)
            ratio = float(e.actual_cost) / max(float(e.expected_cost), 1e-9)
            findings.append(
                dict(
                    finding_id=_finding_id("spend_jump", e.episode_id),
                    finding_kind="spend_jump",
                    provider=e.provider,
                    api_key_id=e.api_key_id,
                    sub_account_id=e.sub_account_id,
                    start_date=e.start_date,
                    end_date=end,
                    spend_usd=float(e.actual_cost),
                    detail=(
                        f"spend jumped to {ratio:,.1f}× its expected rate from {e.start_date} "
                        f"(+${float(e.impact):,.2f}), like a leaked or runaway key"
                    ),
                )
            )
    if telemetry is not None:
        window = as_of - dt.timedelta(days=SHADOW_DAYS - 1)
        spent = cost[(cost["date"] >= window) & (cost["cost"].astype(float) > 0)]
        spent = spent.groupby(key)["cost"].sum().astype(float)
        traced = set(
            map(tuple, telemetry[telemetry["date"] >= window][key].drop_duplicates().to_numpy())
        )
        unknown = set(map(tuple, inv.loc[inv["key_status"] == "unknown", key].to_numpy()))
        for (provider, api_key_id), amount in spent.items():
            if (provider, api_key_id) in traced or (provider, api_key_id) in unknown:
                continue  # an unknown key is reported once, as unknown_key
            findings.append(
                dict(
                    finding_id=_finding_id("shadow_usage", provider, api_key_id),
                    finding_kind="shadow_usage",
                    provider=provider,
                    api_key_id=api_key_id,
                    sub_account_id=None,
                    start_date=window,
                    end_date=as_of,
                    spend_usd=amount,
                    detail=(
                        f"${amount:,.2f} billed in the last {SHADOW_DAYS} days but no app "
                        "telemetry for this key: calls made outside the instrumented apps"
                    ),
                )
            )
    found = pd.DataFrame(
        findings,
        columns=[
            c
            for c in FINDING_COLUMNS
            if c not in ("owner_email", "team", "owner_status", "as_of_date")
        ],
    )
    owner_of = inv.set_index(key)[["owner_email", "team"]]
    found = found.join(owner_of, on=key)
    found["owner_status"] = np.where(found["owner_email"].notna(), "owned", "unknown")
    found["as_of_date"] = as_of
    found = found[FINDING_COLUMNS].sort_values(["finding_kind", "start_date", "api_key_id"])
    counts = found.groupby(key)["finding_kind"].agg(lambda s: ", ".join(sorted(set(s))))
    inv = inv.join(counts.rename("open_findings"), on=key)
    inv["as_of_date"] = as_of
    inv["telemetry_note"] = telemetry_note
    inv = inv[INVENTORY_COLUMNS].sort_values(["provider", "api_key_id"]).reset_index(drop=True)
    return inv, found.reset_index(drop=True)
