"""Period-end spend forecasts for many budgets at once, from their daily spend series.

Model (per budget, vectorised over budgets with numpy): the daily spend of the last
`HISTORY_DAYS` days is split into a weekly profile (each weekday's median over the overall
median) and a level (the median of the last `LEVEL_DAYS` de-seasonalised days, so a one-off
spike — a runaway loop, a month-start batch job — does not become the new pace). The rest of
the period is forecast as level × weekday factor, day by day; the period-end forecast is the
actual to date plus that sum. The interval comes from the spread of the de-seasonalised days
(MAD, robust) and the uncertainty of the level itself, under a normal approximation.

Grain of the result: one row per input series (budget × as-of day).
"""

from __future__ import annotations

import numpy as np

HISTORY_DAYS = 56
"""Days of history the weekly profile and the level are estimated from."""
LEVEL_DAYS = 14
"""Days the level (current daily pace) is the median of."""
MIN_WEEKDAY_SAMPLES = 3
"""A weekday's factor needs at least this many days of that weekday."""
DRIFT_SD = 0.10
"""Relative uncertainty of the pace over the rest of the period (calibrated on
bench/governance_bench.py's synthetic series so the 80 % interval holds about 80 %)."""
Z_INTERVAL = 1.2816
"""An 80 % interval: the 10th and 90th percentiles."""


def weekday_factors(history: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
    """(B, 7) weekday factors from (B, H) daily spend (NaN = no data) on `weekdays` (H,):
    each weekday's median spend over the median of all days, normalised to average 1 over
    the week; 1 where a weekday has fewer than `MIN_WEEKDAY_SAMPLES` days or the series is
    empty. Medians, so a month-start batch run on a Thursday does not make every Thursday
    expensive."""
    b = history.shape[0]
    overall = np.nanmedian(history, axis=1)
    factors = np.ones((b, 7))
    for dow in range(7):
        cols = history[:, weekdays == dow]
        if cols.shape[1] < MIN_WEEKDAY_SAMPLES:
            continue
        seen = np.sum(~np.isnan(cols), axis=1)
        f = np.nanmedian(cols, axis=1) / overall
        ok = (seen >= MIN_WEEKDAY_SAMPLES) & np.isfinite(f) & (overall > 0)
        factors[ok, dow] = f[ok]
    factors = np.clip(factors, 0.05, 7.0)
    factors = factors / factors.mean(axis=1, keepdims=True)
    factors[~np.isfinite(factors)] = 1.0
    return factors


def forecast_period_end(
    history: np.ndarray,
    history_weekdays: np.ndarray,
    actual_to_date: np.ndarray,
    remaining_weekdays: np.ndarray,
) -> dict[str, np.ndarray]:
    """Period-end forecasts of B series.

    `history` (B, H): daily spend up to and including the as-of day, NaN before data began;
    `history_weekdays` (H,): weekday (0 = Monday) of each history column;
    `actual_to_date` (B,): spend from the period's first day to the as-of day;
    `remaining_weekdays` (B, R): weekday of each remaining day of each series' period, -1 as
    padding where a period has fewer remaining days.
    Returns arrays (B,): `level` (de-seasonalised daily pace), `burn_rate` (mean spend per day
    over the last 7 days), `forecast` (median), `forecast_low`, `forecast_high` (80 %).
    """
    history = np.asarray(history, dtype=float)
    b, h = history.shape
    factors = weekday_factors(history, history_weekdays)
    row_f = factors[:, history_weekdays]  # (B, H)
    deseason = history / row_f
    recent = deseason[:, max(0, h - LEVEL_DAYS) :]
    with np.errstate(invalid="ignore"):
        level = np.nanmedian(recent, axis=1)
        mad = np.nanmedian(np.abs(recent - level[:, None]), axis=1) * 1.4826
        n = np.sum(~np.isnan(recent), axis=1)
        burn = np.nanmean(history[:, max(0, h - 7) :], axis=1)
    level = np.where(np.isfinite(level), level, 0.0)
    mad = np.where(np.isfinite(mad), mad, 0.0)
    burn = np.where(np.isfinite(burn), burn, 0.0)
    rem = np.asarray(remaining_weekdays)
    if rem.size == 0:
        rem = np.full((b, 0), -1)
    valid = rem >= 0
    rem_f = np.where(valid, np.take_along_axis(factors, np.clip(rem, 0, 6), axis=1), 0.0)
    sum_f = rem_f.sum(axis=1)
    sum_f2 = (rem_f**2).sum(axis=1)
    remaining = level * sum_f
    level_sd = 1.2533 * mad / np.sqrt(np.maximum(n, 1))  # standard error of a median
    drift_sd = DRIFT_SD * level * sum_f  # the pace itself moving (growth, launches, spikes)
    sd = np.sqrt(sum_f2 * mad**2 + (sum_f * level_sd) ** 2 + drift_sd**2)
    actual = np.asarray(actual_to_date, dtype=float)
    median = actual + remaining
    return {
        "level": level,
        "burn_rate": burn,
        "forecast": median,
        "forecast_low": np.maximum(actual, median - Z_INTERVAL * sd),
        "forecast_high": median + Z_INTERVAL * sd,
    }
