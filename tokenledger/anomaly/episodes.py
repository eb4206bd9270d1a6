"""Anomaly episodes: consecutive anomalous days of one series, with a lifecycle.

Grain: one row per series and episode. Days flagged in the same direction with at most
`max_gap_days` quiet days between them are one episode (one alert, not one per day). Relative
to `as_of` (default: the last date scored) an episode is `new` when it started on `as_of`,
`ongoing` when it started earlier and is still open (its last flagged day is within
`max_gap_days` of `as_of`), and `resolved` otherwise.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

EPISODE_COLUMNS = (
    "episode_id",
    "series_id",
    "direction",
    "start_date",
    "end_date",
    "days",
    "status",
    "actual_cost",
    "expected_cost",
    "impact",
    "peak_date",
    "peak_impact",
    "peak_score",
)


def episode_id(series_id: str, start_date: object) -> str:
    """A stable id for an episode: the same series and start day give the same id on re-runs."""
    raw = f"{series_id}|{pd.Timestamp(start_date).date()}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def group_episodes(
    scored: pd.DataFrame, as_of: object = None, max_gap_days: int = 1
) -> pd.DataFrame:
    """Group the anomalous rows of `detect()` output into episodes (see module doc).

    `impact` is Σ (cost − expected) over the flagged days, `peak_*` describe the day with the
    largest |impact|.
    """
    flagged = scored.loc[scored["is_anomaly"].astype(bool)].copy()
    if flagged.empty:
        return pd.DataFrame({c: [] for c in EPISODE_COLUMNS})
    as_of = pd.Timestamp(scored["date"].max() if as_of is None else as_of)
    flagged["date"] = pd.to_datetime(flagged["date"])
    flagged["direction"] = np.where(flagged["cost"] >= flagged["expected"], "spike", "drop")
    flagged["impact"] = flagged["cost"] - flagged["expected"]
    flagged = flagged.sort_values(["series_id", "date"], kind="stable")
    sid = flagged["series_id"].to_numpy()
    day = flagged["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    direction = flagged["direction"].to_numpy()
    new = np.ones(len(flagged), dtype=bool)
    new[1:] = (
        (sid[1:] != sid[:-1])
        | (np.diff(day) > max_gap_days + 1)
        | (direction[1:] != direction[:-1])
    )
    flagged["episode"] = np.cumsum(new)
    flagged["abs_impact"] = flagged["impact"].abs()
    g = flagged.groupby("episode", sort=True)
    peak = flagged.loc[g["abs_impact"].idxmax()].set_index("episode")
    out = pd.DataFrame(
        {
            "series_id": g["series_id"].first(),
            "direction": g["direction"].first(),
            "start_date": g["date"].min(),
            "end_date": g["date"].max(),
            "days": g["date"].size(),
            "actual_cost": g["cost"].sum(),
            "expected_cost": g["expected"].sum(),
            "impact": g["impact"].sum(),
            "peak_date": peak["date"],
            "peak_impact": peak["impact"],
            "peak_score": peak["score"],
        }
    )
    open_ = (as_of - out["end_date"]).dt.days <= max_gap_days
    out["status"] = np.where(
        out["start_date"] == as_of, "new", np.where(open_, "ongoing", "resolved")
    )
    out["episode_id"] = [
        episode_id(s, d) for s, d in zip(out["series_id"], out["start_date"], strict=True)
    ]
    for c in ("start_date", "end_date", "peak_date"):
        out[c] = out[c].dt.date
    out = out.sort_values("impact", key=np.abs, ascending=False, kind="stable")
    return out[list(EPISODE_COLUMNS)].reset_index(drop=True)
