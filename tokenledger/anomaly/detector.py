"""The spend anomaly detector: many daily cost series scored at once, in numpy.

Grain: one row per series and UTC day. For every day the baseline is built only from the days
before it (what a daily run would have known), in log space so that weekly rhythm, growth and
month-start jobs are multiplicative:

- weekly profile: per weekday, the median deviation from a centred 7-day mean over the last
  `season_weeks` same weekdays;
- level: the median of the deseasonalised last `level_window` days, moved forward by a damped
  robust trend (difference of the medians of the last two `level_window` blocks);
- month start: on day-of-month 1..`month_start_days` the median of the residuals on the same
  day of the previous `month_start_months` months is added (recurring batch jobs and fees are
  the norm, not an anomaly); until one month start has been seen, no spike is flagged there;
- holidays (`holidays`, MM-DD) never raise a drop and, like month starts, are left out of the
  level, profile and spread;
- spread: 1.4826 × the median absolute one-step-ahead residual over `spread_window` days (MAD).

A day is anomalous when it leaves the band `[lower, upper]`, which is the robust band
`expected · exp(±threshold · spread)` widened so that a deviation must also exceed
`min_impact` dollars and `min_pct` of the expected cost: small series never page anyone.
No day is flagged before `warmup_days` of history. `score` is the signed robust z of the day.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

INPUT_COLUMNS = ("series_id", "date", "cost")
OUTPUT_COLUMNS = ("series_id", "date", "cost", "expected", "lower", "upper", "is_anomaly", "score")
MAD_TO_SIGMA = 1.4826


class DetectorInputError(ValueError):
    """Malformed detector input; the message names the offending row."""


@dataclass(frozen=True)
class DetectorConfig:
    """Tuning of the detector; the defaults are the ones the detection benchmark scores."""

    threshold: float = 4.0  # robust z (log space) a day must exceed
    min_impact: float = 10.0  # |actual − expected| must be at least this many dollars …
    min_pct: float = 0.25  # … and at least this share of the expected cost
    warmup_days: int = 21  # no alert before this many days of history
    level_window: int = 21
    trend_damping: float = 0.5  # 0 = no trend, 1 = full robust slope
    max_trend_step: float = 0.1  # cap of the trend's move (log) — a level shift is no trend
    season_weeks: int = 8
    spread_window: int = 28
    min_spread: float = 0.05  # floor of the log-space spread (≈ 5 %)
    month_start_days: int = 2  # day-of-month 1..N carry their own recurring effect
    month_start_months: int = 3  # how many previous month starts the effect is learnt from
    holidays: tuple[str, ...] = ("01-01", "12-25")  # MM-DD: dips there are not anomalies
    log_offset: float = 1.0  # dollars added before the log: damps the noise of tiny values
    chunk_size: int = 1024  # series scored together (memory ≈ chunk × days × 28 × 8 bytes)
    threads: int = 0  # 0 = one per CPU


# ------------------------------------------------------------------------------ input
def _row_name(pos: int, row_offset: int, noun: str) -> str:
    return f"{noun} {pos + row_offset}"


def prepare_input(frame: pd.DataFrame, row_offset: int = 0, noun: str = "row") -> pd.DataFrame:
    """Check and coerce `series_id, date, cost` input; errors name the first bad row.

    Rejected: missing columns, empty series ids, unparseable dates, non-numeric, non-finite or
    negative costs, a series with the same date twice, and a series with a missing day between
    its first and last date. Row numbers are positions + `row_offset` (a CSV reader passes 2
    so that they are file line numbers).
    """
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise DetectorInputError(
            f"missing column(s) {', '.join(missing)}; expected columns {','.join(INPUT_COLUMNS)}"
            f" (got {','.join(map(str, frame.columns))})"
        )
    sid = frame["series_id"]
    bad = sid.isna() | (sid.astype(str).str.strip() == "")
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise DetectorInputError(f"{_row_name(pos, row_offset, noun)}: empty series_id")
    dates = frame["date"]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        try:
            dates = pd.to_datetime(dates, format="ISO8601")
        except (ValueError, TypeError):
            dates = pd.to_datetime(dates, errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DetectorInputError(
            f"{_row_name(pos, row_offset, noun)}: date {frame['date'].iloc[pos]!r} is not a "
            "date (YYYY-MM-DD)"
        )
    cost = pd.to_numeric(frame["cost"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(cost) | (cost < 0)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DetectorInputError(
            f"{_row_name(pos, row_offset, noun)}: cost {frame['cost'].iloc[pos]!r} is not a "
            "non-negative number"
        )
    day = dates.dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    ids = sid.astype(str).to_numpy()
    out = pd.DataFrame({"series_id": ids, "date": day, "cost": cost})
    codes, _ = pd.factorize(ids)
    order = np.lexsort((day, codes))
    s = ids[order]
    c = codes[order]
    d = day[order].astype(np.int64)
    same = c[1:] == c[:-1]
    step = np.diff(d)
    dup = np.flatnonzero(same & (step == 0))
    if len(dup):
        a, b = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise DetectorInputError(
            f"{_row_name(b, row_offset, noun)}: series {s[dup[0] + 1]!r} has date "
            f"{day[b]} twice (also {_row_name(a, row_offset, noun)})"
        )
    gap = np.flatnonzero(same & (step > 1))
    if len(gap):
        i = gap[0]
        after = int(order[i + 1])
        first_missing = np.datetime64(int(d[i]) + 1, "D")
        raise DetectorInputError(
            f"{_row_name(after, row_offset, noun)}: series {s[i + 1]!r} has a gap — no row for "
            f"{first_missing} ({int(step[i]) - 1} day(s) missing before "
            f"{day[after]}); give every day, with cost 0 when nothing was spent"
        )
    return out


# ------------------------------------------------------------------------------ numpy core
def _median_before(a: np.ndarray, w: int, min_count: int) -> np.ndarray:
    """(n, T) → (n, T): NaN-ignoring median of a[:, t−w : t] (strictly before t).

    One pandas rolling median over all series laid end to end, each behind w NaNs so that no
    window reaches into the previous series (a C skip-list: O(n·T·log w)).
    """
    n, t = a.shape
    padded = np.concatenate([np.full((n, w + 1), np.nan), a], axis=1)
    med = pd.Series(padded.ravel()).rolling(w, min_periods=min_count).median().to_numpy()
    return med.reshape(n, t + w + 1)[:, w : w + t]


def _weekly_median_before(a: np.ndarray, weeks: int, min_count: int) -> np.ndarray:
    """(n, T) → (n, T): NaN-ignoring median of a[:, t−7], a[:, t−14], … (`weeks` values)."""
    out = np.empty_like(a)
    for phase in range(7):
        cols = a[:, phase::7]
        if cols.shape[1]:
            out[:, phase::7] = _median_before(cols, weeks, min_count)
    return out


def _nanmedian(x: np.ndarray, min_count: int = 1) -> np.ndarray:
    """Median over the last axis ignoring NaN (NaN where fewer than `min_count` values)."""
    s = np.sort(x, axis=-1)  # NaN sorts last
    cnt = np.count_nonzero(~np.isnan(x), axis=-1)
    lo = np.maximum((cnt - 1) // 2, 0)[..., None]
    hi = np.maximum(cnt // 2, 0)[..., None]
    hi = np.minimum(hi, x.shape[-1] - 1)
    med = 0.5 * (np.take_along_axis(s, lo, -1) + np.take_along_axis(s, hi, -1))[..., 0]
    return np.where(cnt >= max(min_count, 1), med, np.nan)


def _centred_mean(y: np.ndarray, half: int = 3, min_count: int = 5) -> np.ndarray:
    """NaN-aware centred (2·half+1)-day moving mean."""
    ok = ~np.isnan(y)
    v = np.where(ok, y, 0.0)
    n, t = y.shape
    cs = np.zeros((n, t + 1))
    cc = np.zeros((n, t + 1))
    np.cumsum(v, axis=1, out=cs[:, 1:])
    np.cumsum(ok, axis=1, out=cc[:, 1:])
    lo = np.clip(np.arange(t) - half, 0, t)
    hi = np.clip(np.arange(t) + half + 1, 0, t)
    s = cs[:, hi] - cs[:, lo]
    c = cc[:, hi] - cc[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c >= min_count, s / c, np.nan)


@dataclass(frozen=True)
class _Calendar:
    special: np.ndarray  # (T,) month-start or holiday: kept out of level, profile, spread
    holiday: np.ndarray  # (T,)
    month_prev: np.ndarray  # (T, M) indices of the same day-of-month in previous months, −1
    is_month_start: np.ndarray  # (T,)


def _calendar(first: np.datetime64, days: int, cfg: DetectorConfig) -> _Calendar:
    dates = first + np.arange(days)
    months = dates.astype("datetime64[M]")
    dom = (dates - months.astype("datetime64[D]")).astype(int) + 1
    mmdd = pd.DatetimeIndex(dates).strftime("%m-%d").to_numpy()
    holiday = np.isin(mmdd, np.array(cfg.holidays, dtype=object))
    ms = dom <= cfg.month_start_days
    prev = np.full((days, max(cfg.month_start_months, 1)), -1, dtype=np.int64)
    month_idx = months.astype(int)
    for t in np.flatnonzero(ms):
        for k in range(cfg.month_start_months):
            target = np.datetime64(int(month_idx[t]) - k - 1, "M").astype("datetime64[D]") + (
                dom[t] - 1
            )
            j = int((target - first).astype(int))
            if 0 <= j < t:
                prev[t, k] = j
    return _Calendar(special=ms | holiday, holiday=holiday, month_prev=prev, is_month_start=ms)


def _score_block(cost: np.ndarray, cal: _Calendar, cfg: DetectorConfig) -> dict[str, np.ndarray]:
    """Score a (n, T) block of dense daily costs (NaN = outside the series)."""
    n, days = cost.shape
    y = np.log(cost + cfg.log_offset)
    present = ~np.isnan(y)
    yreg = np.where(cal.special[None, :], np.nan, y)

    # weekly profile from the same weekday in the previous weeks
    z = yreg - _centred_mean(yreg)
    season = np.nan_to_num(_weekly_median_before(z, cfg.season_weeks, min_count=2))

    # level and damped trend of the deseasonalised series
    w = cfg.level_window
    d = yreg - season
    level = _median_before(d, w, min_count=max(3, w // 3))
    older = np.concatenate([np.full((n, w), np.nan), level[:, :-w]], axis=1)[:, :days]
    slope = np.nan_to_num((level - older) / w)
    step = np.clip(cfg.trend_damping * slope * (w + 1) / 2, -cfg.max_trend_step, cfg.max_trend_step)
    base = level + step + season

    # month-start effect: extra dollars over the regular baseline, as a share of the level
    # (batch jobs and fees do not follow the weekday rhythm), learnt from previous months
    off = cfg.log_offset
    base_usd = np.exp(base) - off
    level_usd = np.maximum(np.exp(level + step) - off, 0.0)
    expected_log = base.copy()
    ms_spread = np.zeros((n, days))
    ms_unknown = np.zeros((n, days), dtype=bool)
    ts = np.flatnonzero(cal.is_month_start)
    if len(ts):
        with np.errstate(invalid="ignore", divide="ignore"):
            extra = (cost - base_usd) / np.maximum(level_usd, off)
        idx = cal.month_prev[ts]  # (m, M)
        vals = np.where(idx[None] >= 0, extra[:, np.maximum(idx, 0)], np.nan)  # (n, m, M)
        eff = _nanmedian(vals)
        seen = np.count_nonzero(~np.isnan(vals), axis=-1)
        ms_unknown[:, ts] = seen == 0
        eff = np.nan_to_num(eff)
        with np.errstate(invalid="ignore"):
            spread = np.nanmax(np.abs(vals - eff[..., None]), axis=-1, initial=0.0)
        # one month seen: the effect itself is uncertain (that month may have been odd)
        spread = np.where(seen == 1, np.abs(eff), np.nan_to_num(spread))
        lvl = np.maximum(level_usd[:, ts], off)
        exp_usd = np.maximum(base_usd[:, ts] + eff * lvl, 0.0)
        expected_log[:, ts] = np.log(exp_usd + off)
        ms_spread[:, ts] = np.log1p(spread * lvl / (exp_usd + off))

    # robust spread of the one-step-ahead residuals
    resid = y - expected_log
    reg = np.where(cal.special[None, :], np.nan, np.abs(resid))
    sigma = MAD_TO_SIGMA * _median_before(reg, cfg.spread_window, min_count=7)
    sigma = np.maximum(np.nan_to_num(sigma, nan=np.inf), cfg.min_spread)
    sigma = np.sqrt(sigma**2 + ms_spread**2)

    history = np.cumsum(present, axis=1) - present
    warm = (history >= cfg.warmup_days) & np.isfinite(expected_log) & present

    expected = np.maximum(np.exp(expected_log) - off, 0.0)
    band_hi = np.exp(expected_log + cfg.threshold * sigma) - off
    band_lo = np.exp(expected_log - cfg.threshold * sigma) - off
    upper = np.maximum.reduce([band_hi, expected + cfg.min_impact, expected * (1 + cfg.min_pct)])
    lower = np.maximum(
        np.minimum.reduce([band_lo, expected - cfg.min_impact, expected * (1 - cfg.min_pct)]),
        0.0,
    )
    lower = np.where(cal.holiday[None, :], 0.0, lower)  # holiday dips are not anomalies
    upper = np.where(ms_unknown, np.inf, upper)  # month start not yet learnt
    with np.errstate(invalid="ignore"):
        score = np.where(warm, resid / sigma, 0.0)
        spike = cost > upper
        drop = (cost < lower) & (expected > 0)
    is_anomaly = warm & (spike | drop)
    expected = np.where(warm, expected, np.nan)
    return {
        "expected": expected,
        "lower": np.where(warm, lower, np.nan),
        "upper": np.where(warm, upper, np.nan),
        "score": np.nan_to_num(score),
        "is_anomaly": is_anomaly,
    }


def score_matrix(
    cost: np.ndarray, first_date: np.datetime64, config: DetectorConfig | None = None
) -> dict[str, np.ndarray]:
    """Score dense daily costs `cost[series, day]` (NaN outside a series) starting on
    `first_date`; returns arrays of the same shape: expected, lower, upper, score, is_anomaly.

    Before the warm-up the band is NaN and nothing is flagged.
    """
    cfg = config or DetectorConfig()
    cost = np.asarray(cost, dtype=float)
    n, days = cost.shape
    cal = _calendar(np.datetime64(first_date, "D"), days, cfg)
    out = {
        "expected": np.empty((n, days)),
        "lower": np.empty((n, days)),
        "upper": np.empty((n, days)),
        "score": np.empty((n, days)),
        "is_anomaly": np.empty((n, days), dtype=bool),
    }
    blocks = [slice(i, min(i + cfg.chunk_size, n)) for i in range(0, n, cfg.chunk_size)]

    def run(sl: slice) -> None:
        res = _score_block(cost[sl], cal, cfg)
        for key, arr in res.items():
            out[key][sl] = arr

    threads = cfg.threads or os.cpu_count() or 1
    if threads > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(run, blocks))
    else:
        for sl in blocks:
            run(sl)
    return out


# ------------------------------------------------------------------------------ frames
def detect(
    frame: pd.DataFrame,
    config: DetectorConfig | None = None,
    *,
    validate: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Score every (series_id, date) row of `frame[series_id, date, cost]` (daily costs).

    Returns one row per input row, in input order: series_id, date, cost, expected, lower,
    upper, is_anomaly, score, impact (= cost − expected). Rows inside a series' warm-up have
    no band (NaN) and are never anomalous. Input is checked as `prepare_input` describes.
    """
    data = (validate or prepare_input)(frame)
    n_rows = len(data)
    if n_rows == 0:
        cols = {c: [] for c in (*OUTPUT_COLUMNS, "impact")}
        return pd.DataFrame(cols)
    codes, uniques = pd.factorize(data["series_id"], sort=False)
    day = data["date"].to_numpy().astype("datetime64[D]")
    first = day.min()
    t = (day - first).astype(np.int64)
    dense = np.full((len(uniques), int(t.max()) + 1), np.nan)
    dense[codes, t] = data["cost"].to_numpy()
    res = score_matrix(dense, first, config)
    out = pd.DataFrame(
        {
            "series_id": data["series_id"].to_numpy(),
            "date": day,
            "cost": data["cost"].to_numpy(),
            "expected": res["expected"][codes, t],
            "lower": res["lower"][codes, t],
            "upper": res["upper"][codes, t],
            "is_anomaly": res["is_anomaly"][codes, t],
            "score": res["score"][codes, t],
        }
    )
    out["impact"] = out["cost"] - out["expected"]
    return out
