"""Daily cost series at the levels people are paged for, from fact-shaped rows.

Input rows: `date, provider, sub_account_id, api_key_id, model, cost` (+ any other
dimensions). Grain of the output: one row per series and UTC day, dense — a day with no rows
is a day with $0 spend, from the first to the last date of the input, so a key that appears
mid-history (a leaked one) has a known history of zero rather than a warm-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# level → the dimensions that identify a series at that level
LEVELS: dict[str, tuple[str, ...]] = {
    "provider": ("provider",),
    "model": ("provider", "model"),
    "sub_account": ("provider", "sub_account_id"),
    "api_key": ("provider", "api_key_id"),
    # token mix per sub-account: a broken prompt cache shows as cached input falling to ~0
    "sub_account_token_type": ("provider", "sub_account_id", "token_type"),
}
DEFAULT_LEVELS = ("provider", "model", "sub_account", "api_key", "sub_account_token_type")
SERIES_META_COLUMNS = (
    "series_id",
    "level",
    "provider",
    "sub_account_id",
    "api_key_id",
    "model",
    "token_type",
)
NULL_LABEL = {"sub_account_id": "default", "model": "none", "token_type": "none"}


def _label(level: str, keys: pd.DataFrame) -> pd.Series:
    parts = [keys["provider"].astype(str)]
    for dim in LEVELS[level][1:]:
        parts.append(keys[dim].astype(object).where(keys[dim].notna(), NULL_LABEL.get(dim, "")))
    label = parts[0]
    for p in parts[1:]:
        label = label + "/" + p.astype(str)
    return level + ":" + label


def build_series(
    rows: pd.DataFrame, levels: tuple[str, ...] = DEFAULT_LEVELS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(series[series_id, date, cost], meta[series_id, level, provider, sub_account_id,
    api_key_id, model]) for every series of the given levels found in `rows`.

    Series at the `api_key` level are built only from rows that name a key (Anthropic's cost
    report has none).
    """
    dates = pd.to_datetime(rows["date"]).to_numpy().astype("datetime64[D]")
    if len(rows) == 0:
        return (
            pd.DataFrame({"series_id": [], "date": [], "cost": []}),
            pd.DataFrame({c: [] for c in SERIES_META_COLUMNS}),
        )
    first, last = dates.min(), dates.max()
    grid = np.arange(first, last + 1)
    frames, metas = [], []
    base = rows.assign(_day=(dates - first).astype(np.int64))
    for level in levels:
        dims = list(LEVELS[level])
        part = base
        if level == "api_key":
            part = part[part["api_key_id"].notna()]
        if part.empty:
            continue
        g = part.groupby(dims + ["_day"], dropna=False, sort=False)["cost"].sum().reset_index()
        keys = g[dims].drop_duplicates().reset_index(drop=True)
        keys["series_id"] = _label(level, keys)
        g = g.merge(keys, on=dims, how="left")
        codes, uniques = pd.factorize(g["series_id"], sort=True)
        dense = np.zeros((len(uniques), len(grid)))
        np.add.at(dense, (codes, g["_day"].to_numpy()), g["cost"].to_numpy(dtype=float))
        frames.append(
            pd.DataFrame(
                {
                    "series_id": np.repeat(np.asarray(uniques, dtype=object), len(grid)),
                    "date": np.tile(grid, len(uniques)),
                    "cost": dense.ravel(),
                }
            )
        )
        meta = (
            keys.set_index("series_id").reindex(pd.Index(uniques, name="series_id")).reset_index()
        )
        meta["level"] = level
        for c in SERIES_META_COLUMNS:
            if c not in meta.columns:
                meta[c] = None
        meta = meta[list(SERIES_META_COLUMNS)].astype(object)
        metas.append(meta.where(meta.notna(), None))
    return pd.concat(frames, ignore_index=True), pd.concat(metas, ignore_index=True)


def series_filter(meta_row: pd.Series | dict) -> dict[str, object]:
    """The fact-row filter of one series (for `root_cause`)."""
    level = meta_row["level"]
    return {dim: meta_row[dim] for dim in LEVELS[level]}
