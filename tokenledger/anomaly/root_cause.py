"""Root cause of a spend change: which value of which dimension carries the change.

Pure pandas on the fact rows it is given. Grain of the result: one row per dimension and
value that had spend in the baseline or the anomaly window.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

DEFAULT_DIMENSIONS = ("sub_account_id", "api_key_id", "model", "token_type", "service_tier")
MISSING = "(none)"


def root_cause(
    fact_rows: pd.DataFrame,
    series: dict[str, object] | None,
    window: tuple[object, object],
    *,
    baseline_days: int = 14,
    dimensions: tuple[str, ...] = DEFAULT_DIMENSIONS,
    date_col: str = "date",
    cost_col: str = "cost",
) -> pd.DataFrame:
    """Break the change of one series' daily spend down by dimension.

    `series` filters the rows to the series (`{"api_key_id": "key_…"}`; None = all rows);
    `window` = (first, last) day of the anomaly, inclusive; the baseline is the
    `baseline_days` days before it. For every value of every dimension present: average daily
    cost in the baseline and in the window, `change` = the difference, and
    `share_of_change` = change ÷ the series' total change (shares of one dimension sum to 1).
    Rows are ranked within each dimension by |change|; `rank` 1 is the largest contributor.
    Dimensions the series is defined by (one value only) are left out.
    """
    first, last = (pd.Timestamp(w).date() for w in window)
    base_first = first - dt.timedelta(days=baseline_days)
    rows = fact_rows
    for col, val in (series or {}).items():
        rows = rows[rows[col].isna()] if val is None else rows[rows[col] == val]
    dates = pd.to_datetime(rows[date_col]).dt.date
    in_window = (dates >= first) & (dates <= last)
    in_base = (dates >= base_first) & (dates < first)
    n_window = (last - first).days + 1
    total_change = (
        rows.loc[in_window, cost_col].sum() / n_window
        - rows.loc[in_base, cost_col].sum() / baseline_days
    )
    parts = []
    for dim in dimensions:
        if dim not in rows.columns:
            continue
        vals = rows[dim].astype(object).where(rows[dim].notna(), MISSING)
        cur = rows.loc[in_window, cost_col].groupby(vals[in_window]).sum() / n_window
        base = rows.loc[in_base, cost_col].groupby(vals[in_base]).sum() / baseline_days
        both = pd.concat([base.rename("baseline_daily"), cur.rename("window_daily")], axis=1)
        both = both.fillna(0.0)
        if len(both) <= 1:
            continue
        both["change"] = both["window_daily"] - both["baseline_daily"]
        both["share_of_change"] = both["change"] / total_change if total_change != 0 else np.nan
        both = both.reindex(both["change"].abs().sort_values(ascending=False).index)
        both["rank"] = np.arange(1, len(both) + 1)
        both.insert(0, "value", both.index.astype(str))
        both.insert(0, "dimension", dim)
        parts.append(both.reset_index(drop=True))
    cols = [
        "dimension",
        "value",
        "baseline_daily",
        "window_daily",
        "change",
        "share_of_change",
        "rank",
    ]
    if not parts:
        return pd.DataFrame({c: [] for c in cols})
    return pd.concat(parts, ignore_index=True)[cols]


def top_contributor(breakdown: pd.DataFrame) -> dict[str, object] | None:
    """The single value that explains most of the change, over all dimensions.

    Prefers the dimension whose first-ranked value has the largest share of the change (the
    most concentrated explanation); None when nothing changed.
    """
    top = breakdown[breakdown["rank"] == 1].dropna(subset=["share_of_change"])
    if top.empty:
        return None
    best = top.loc[top["share_of_change"].idxmax()]
    return {
        "dimension": best["dimension"],
        "value": best["value"],
        "share_of_change": float(best["share_of_change"]),
        "change": float(best["change"]),
    }
