"""Money in one currency for governance: every comparison of spend with a budget or a limit
is made in USD (every current provider bills USD).

The one place governance converts money. Spend rows in another billing currency and budgets
set in another currency convert with `seeds/exchange_rates.csv` at the latest fixing on or
before the day (docs/contracts.md "Currency"). When the cost facts carry reporting-currency
columns, point `SPEND_COST_SQL` / `SPEND_CURRENCY_SQL` at them and the conversion of spend
becomes the identity.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

COMPARISON_CURRENCY = "USD"
SPEND_COST_SQL = "allocated_cost"
"""The cost column of marts.fct_cost_allocated budgets are compared with."""
SPEND_CURRENCY_SQL = "billing_currency"
"""Its currency column."""


def usd_rate(rates: pd.DataFrame, currency: str, on: dt.date) -> float | None:
    """USD per unit of `currency`: the latest fixing on or before `on` (1 for USD); None
    when there is none."""
    if currency == COMPARISON_CURRENCY:
        return 1.0
    fixings = rates[(rates["from_currency"] == currency) & (rates["to_currency"] == "USD")]
    fixings = fixings[fixings["rate_date"] <= on]
    if fixings.empty:
        return None
    return float(fixings.sort_values("rate_date")["rate"].iloc[-1])


def spend_in_usd(spend: pd.DataFrame, rates: pd.DataFrame) -> pd.Series:
    """`spend.cost` (in `spend.currency`, on `spend.date`) converted to USD, vectorised.
    A row with no fixing on or before its day stays NaN (the caller reports it)."""
    cost = spend["cost"].astype(float)
    currency = spend["currency"].fillna(COMPARISON_CURRENCY)
    out = pd.Series(np.where(currency == COMPARISON_CURRENCY, cost, np.nan), index=spend.index)
    other = currency != COMPARISON_CURRENCY
    if not other.any():
        return out
    for code in currency[other].unique():
        rows = spend.loc[currency == code, ["date"]].copy()
        rows["_order"] = np.arange(len(rows))
        rows["date"] = pd.to_datetime(rows["date"])
        fix = rates[(rates["from_currency"] == code) & (rates["to_currency"] == "USD")].copy()
        if fix.empty:
            continue
        fix["date"] = pd.to_datetime(fix["rate_date"])
        merged = pd.merge_asof(
            rows.sort_values("date"), fix.sort_values("date")[["date", "rate"]], on="date"
        ).sort_values("_order")
        out.loc[currency == code] = cost[currency == code].to_numpy() * merged["rate"].to_numpy()
    return out
