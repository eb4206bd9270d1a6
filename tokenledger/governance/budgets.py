"""Budgets and limits against spend: actual to date, period-end forecast, status — per day.

Grain of `evaluate_budgets`: one row per budget (or limit) × as-of day (`as_of_date`), for
every day of the recent days of data: what the budget looked like with the data up to that day
(actual of its period to date, the forecast of its period end with an 80 % interval, status).
Spend is `marts.fct_cost_allocated` (team, cost centre, application, API key, provider,
model); feature-scoped budgets read `marts.fct_cost_attributed` when the warehouse has it
(app telemetry), else they are `no_data` with a note saying so.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd

from tokenledger.governance.currency import (
    SPEND_COST_SQL,
    SPEND_CURRENCY_SQL,
    spend_in_usd,
    usd_rate,
)
from tokenledger.governance.forecast import HISTORY_DAYS, forecast_period_end
from tokenledger.governance.seeds import PERIODS, SCOPE_DIMS, Seeds, describe_scope

STATUS_DAYS = 92
"""Days (ending at the as-of day) that `marts.fct_budget_status` keeps a row for."""
ATTRIBUTED_RELATION = ("marts", "fct_cost_attributed")
FEATURE_NOTE = (
    "feature scope needs marts.fct_cost_attributed (app telemetry attribution), which is not "
    "in the warehouse"
)
SPEND_DIMS = ("team", "cost_centre", "application", "api_key_id", "provider", "model")

ALLOCATED_SQL = f"""
select
    cast(charge_period_start as date) as date,
    team,
    cost_centre,
    application,
    x_api_key_id as api_key_id,
    x_provider as provider,
    x_model as model,
    {SPEND_CURRENCY_SQL} as currency,
    sum({SPEND_COST_SQL}) as cost
from marts.fct_cost_allocated
group by 1, 2, 3, 4, 5, 6, 7, 8
"""


def frame(con, sql: str) -> pd.DataFrame:
    """A query's result as a DataFrame on a DuckDB or DB-API (psycopg2) connection."""
    if hasattr(con, "sql"):
        return con.sql(sql).df()
    with con.cursor() as cur:
        cur.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[c[0] for c in cur.description])


def relation_columns(con, schema: str, table: str) -> list[str]:
    """Columns of a table or view; [] when it does not exist (checked at run time)."""
    sql = (
        "select column_name from information_schema.columns "
        f"where table_schema = '{schema}' and table_name = '{table}'"
    )
    return [str(c) for c in frame(con, sql)["column_name"]]


UNATTRIBUTED_FEATURE = "unattributed"
"""The feature of billed cost no app telemetry explains (marts.fct_cost_attributed)."""


def load_spend(con, rates: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Daily spend in USD by every budget dimension; and whether feature spend is in it.

    One row per day × team × cost centre × application × key × provider × model (feature null),
    plus, when `marts.fct_cost_attributed` exists with a `feature` column, its rows with
    feature set and the other dimensions it has (only feature-scoped budgets use them)."""
    spend = frame(con, ALLOCATED_SQL)
    spend["feature"] = None
    spend["is_attributed"] = False
    cols = relation_columns(con, *ATTRIBUTED_RELATION)
    has_features = False
    cost_col = next(
        (c for c in ("attributed_cost", "allocated_cost", "billed_cost") if c in cols), None
    )
    day_col = next((c for c in ("charge_period_start", "event_date", "date") if c in cols), None)
    if "feature" in cols and cost_col and day_col:
        dims = {
            "team": "team",
            "cost_centre": "cost_centre",
            "application": "application",
            "api_key_id": "x_api_key_id" if "x_api_key_id" in cols else "api_key_id",
            "provider": "x_provider" if "x_provider" in cols else "provider",
            "model": "x_model" if "x_model" in cols else "model",
        }
        select = ", ".join(
            f"{src} as {dim}" if src in cols else f"cast(null as varchar) as {dim}"
            for dim, src in dims.items()
        )
        currency = "billing_currency" if "billing_currency" in cols else "'USD'"
        attributed = frame(
            con,
            f"select cast({day_col} as date) as date, {select}, feature, "
            f"{currency} as currency, sum({cost_col}) as cost "
            f"from {'.'.join(ATTRIBUTED_RELATION)} where feature is not null "
            "group by 1, 2, 3, 4, 5, 6, 7, 8, 9",
        )
        attributed["is_attributed"] = True
        spend = pd.concat([spend, attributed], ignore_index=True)
        # without app telemetry every dollar is `unattributed`: no feature to budget yet
        has_features = bool((attributed["feature"] != UNATTRIBUTED_FEATURE).any())
    if spend.empty:
        spend["cost_usd"] = pd.Series(dtype=float)
        return spend, has_features
    spend["date"] = pd.to_datetime(spend["date"]).dt.date
    for dim in (*SPEND_DIMS, "feature"):  # an all-null column arrives as float: keep text
        spend[dim] = spend[dim].astype(object).where(spend[dim].notna(), None)
    spend["cost_usd"] = spend_in_usd(spend, rates)
    return spend, has_features


def governed_items(seeds: Seeds) -> pd.DataFrame:
    """Budgets and limits in one shape: one row per item (`budget_kind` budget | limit)."""
    budgets = seeds.budgets.copy()
    budgets["budget_kind"] = "budget"
    limits = seeds.limits
    as_budgets = pd.DataFrame(
        {
            "budget_id": limits["limit_id"],
            "parent_budget_id": None,
            **{d: None for d in SCOPE_DIMS if d not in ("provider", "api_key_id")},
            "provider": limits["provider"],
            "api_key_id": limits["api_key_id"],
            "period": "monthly",
            "amount": limits["monthly_limit"],
            "currency": limits["currency"],
            "alert_thresholds": "100",
            "effective_from": None,
            "effective_to": None,
            "owner_email": None,
            "description": limits["description"],
            "thresholds": [(100.0,)] * len(limits),
            "line": limits["line"],
            "budget_kind": "limit",
        }
    )
    items = pd.concat([budgets, as_budgets], ignore_index=True) if len(limits) else budgets
    if items.empty:
        return items
    team_owner = dict(zip(seeds.teams["team"], seeds.teams["owner_email"], strict=True))
    items["owner_email"] = items["owner_email"].where(
        items["owner_email"].notna(), items["team"].map(team_owner)
    )
    items["scope"] = [describe_scope(r) for r in items.to_dict("records")]
    return items.reset_index(drop=True)


def _period_bounds(days: np.ndarray, months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First day and first day after the period (monthly / quarterly) of each day."""
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    m = month.astype(int)
    start = np.where(months == 3, m - (m % 3), m)
    first = start.astype("datetime64[M]").astype("datetime64[D]")
    after = (start + months).astype("datetime64[M]").astype("datetime64[D]")
    return first, after


def _daily_matrix(items: pd.DataFrame, spend: pd.DataFrame, dates: pd.DatetimeIndex) -> np.ndarray:
    """(items, days) USD spend of each item's scope per day, vectorised per scope shape."""
    out = np.zeros((len(items), len(dates)))
    if spend.empty or items.empty:
        return out
    day_index = pd.Series(np.arange(len(dates)), index=dates.date)
    plain = spend[~spend["is_attributed"]]
    attributed = spend[spend["is_attributed"]]
    shapes = items[list(SCOPE_DIMS)].notna().apply(tuple, axis=1)
    for shape, members in items.groupby(shapes, sort=False):
        dims = [d for d, named in zip(SCOPE_DIMS, shape, strict=True) if named]
        source = attributed if "feature" in dims else plain
        if source.empty:
            continue
        grouped = source.groupby([*dims, "date"], dropna=False)["cost_usd"].sum().reset_index()
        keyed = members[dims].astype(object).reset_index().rename(columns={"index": "_item"})
        grouped[dims] = grouped[dims].astype(object)
        matched = (
            keyed.merge(grouped, on=dims, how="inner")
            if dims
            else keyed.merge(grouped, how="cross")
        )
        if matched.empty:
            continue
        cols = matched["date"].map(day_index)
        ok = cols.notna()
        np.add.at(
            out,
            (matched.loc[ok, "_item"].to_numpy(), cols[ok].astype(int).to_numpy()),
            matched.loc[ok, "cost_usd"].to_numpy(),
        )
    return out


def evaluate_budgets(
    seeds: Seeds,
    spend: pd.DataFrame,
    as_of: dt.date,
    *,
    has_features: bool = False,
    status_days: int = STATUS_DAYS,
) -> pd.DataFrame:
    """Status of every budget and limit for each of the `status_days` days up to `as_of`,
    from `spend` (rows of `load_spend`; only days ≤ as_of are used)."""
    items = governed_items(seeds)
    columns = STATUS_COLUMNS
    if items.empty:
        return pd.DataFrame(columns=columns)
    spend = spend[spend["date"] <= as_of] if len(spend) else spend
    data_start = min(spend["date"]) if len(spend) else as_of
    first_shown = max(data_start, as_of - dt.timedelta(days=status_days - 1))
    axis_start = min(first_shown - dt.timedelta(days=HISTORY_DAYS + 100), data_start)
    dates = pd.date_range(axis_start, as_of, freq="D")
    daily = _daily_matrix(items, spend, dates)
    before_data = dates.date < data_start
    daily[:, before_data] = np.nan
    cum = np.nancumsum(daily, axis=1)
    weekdays = dates.day_of_week.to_numpy()
    months = items["period"].map(PERIODS).to_numpy()
    rows = []
    shown = pd.date_range(first_shown, as_of, freq="D")
    j0 = len(dates) - len(shown)
    n = len(items)
    amount_usd = np.array(
        [
            (usd_rate(seeds.rates, c, as_of) or np.nan) * a
            for c, a in zip(items["currency"], items["amount"], strict=True)
        ]
    )
    for offset, day in enumerate(shown):
        j = j0 + offset
        first, after = _period_bounds(np.full(n, np.datetime64(day.date(), "D")), months)
        ps = ((first - np.datetime64(dates[0].date(), "D")).astype(int)).clip(0, None)
        actual = cum[:, j] - np.where(ps > 0, cum[np.arange(n), ps - 1], 0.0)
        lo = max(0, j - HISTORY_DAYS + 1)
        history = daily[:, lo : j + 1]
        remaining_days = (after - np.datetime64(day.date(), "D")).astype(int) - 1
        r_max = int(remaining_days.max()) if n else 0
        steps = np.arange(1, r_max + 1)
        rem = (weekdays[j] + steps[None, :]) % 7 * np.ones((n, 1), dtype=int)
        rem = np.where(steps[None, :] <= remaining_days[:, None], rem, -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fc = forecast_period_end(history, weekdays[lo : j + 1], actual, rem)
        rows.append(
            pd.DataFrame(
                {
                    "_item": np.arange(n),
                    "as_of_date": day.date(),
                    "period_start_date": first.astype("datetime64[D]").astype(object),
                    "period_end_date": (after - 1).astype("datetime64[D]").astype(object),
                    "days_elapsed": (np.datetime64(day.date(), "D") - first).astype(int) + 1,
                    "days_in_period": (after - first).astype(int),
                    "actual_daily_cost_usd": np.nan_to_num(daily[:, j]),
                    "actual_cost_usd": actual,
                    "burn_rate_usd": fc["burn_rate"],
                    "forecast_cost_usd": fc["forecast"],
                    "forecast_low_usd": fc["forecast_low"],
                    "forecast_high_usd": fc["forecast_high"],
                    "is_partial_period": first < np.datetime64(data_start, "D"),
                }
            )
        )
    status = pd.concat(rows, ignore_index=True)
    meta = items.assign(_item=np.arange(n), budget_amount_usd=amount_usd)
    out = status.merge(meta, on="_item", how="left")
    out = out.rename(columns={"amount": "budget_amount", "currency": "budget_currency"})
    # a budget applies to a period that starts inside its effective days
    start = pd.to_datetime(out["period_start_date"])
    eff_from = pd.to_datetime(out["effective_from"])
    eff_to = pd.to_datetime(out["effective_to"])
    applies = (eff_from.isna() | (start >= eff_from)) & (eff_to.isna() | (start < eff_to))
    out = out[applies.to_numpy()].copy()
    out["actual_percent"] = 100 * out["actual_cost_usd"] / out["budget_amount_usd"]
    out["forecast_percent"] = 100 * out["forecast_cost_usd"] / out["budget_amount_usd"]
    out["highest_threshold_crossed"] = [
        max((t for t in ts if pct >= t), default=np.nan)
        for ts, pct in zip(out["thresholds"], out["actual_percent"], strict=True)
    ]
    warn_at = [min(ts) for ts in out["thresholds"]]
    out["status"] = np.select(
        [
            out["actual_percent"] >= 100,
            out["forecast_percent"] >= 100,
            out["actual_percent"] >= np.array(warn_at, dtype=float),
        ],
        ["over", "forecast_over", "warning"],
        default="ok",
    )
    out["data_note"] = None
    if not has_features:
        no_feature = out["feature"].notna()
        out.loc[no_feature, "status"] = "no_data"
        out.loc[no_feature, "data_note"] = FEATURE_NOTE
        for col in (
            "actual_cost_usd",
            "forecast_cost_usd",
            "forecast_low_usd",
            "forecast_high_usd",
            "actual_percent",
            "forecast_percent",
        ):
            out.loc[no_feature, col] = np.nan
    partial = out["is_partial_period"] & out["data_note"].isna()
    out.loc[partial, "data_note"] = "data begins after the period's first day: actual is partial"
    out["alert_thresholds"] = [";".join(f"{t:g}" for t in ts) for ts in out["thresholds"]]
    return out[columns].reset_index(drop=True)


STATUS_COLUMNS = [
    "budget_id",
    "budget_kind",
    "parent_budget_id",
    "scope",
    *SCOPE_DIMS,
    "period",
    "period_start_date",
    "period_end_date",
    "as_of_date",
    "days_elapsed",
    "days_in_period",
    "budget_amount",
    "budget_currency",
    "budget_amount_usd",
    "actual_daily_cost_usd",
    "actual_cost_usd",
    "burn_rate_usd",
    "forecast_cost_usd",
    "forecast_low_usd",
    "forecast_high_usd",
    "actual_percent",
    "forecast_percent",
    "alert_thresholds",
    "highest_threshold_crossed",
    "status",
    "owner_email",
    "is_partial_period",
    "data_note",
]
