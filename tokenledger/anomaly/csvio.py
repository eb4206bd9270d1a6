"""`tokenledger detect`: score a CSV of daily cost series, write one scored row per input row.

Input columns `series_id,date,cost` (more are ignored), one row per series and UTC day, every
day present (cost 0 when nothing was spent). Output columns exactly
`series_id,date,cost,expected,lower,upper,is_anomaly,score`, in input order. Errors name the
file line.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tokenledger.anomaly.detector import (
    OUTPUT_COLUMNS,
    DetectorConfig,
    DetectorInputError,
    detect,
    prepare_input,
)
from tokenledger.anomaly.episodes import group_episodes


@dataclass(frozen=True)
class DetectSummary:
    """What one `detect_csv` run scored and found."""

    rows: int
    series: int
    anomalous_days: int
    episodes: int


def read_series_csv(path: str | Path) -> pd.DataFrame:
    """The CSV as text columns (parsing and checks happen in `prepare_input`); '-' = stdin."""
    source = sys.stdin if str(path) == "-" else path
    try:
        return pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise DetectorInputError(
            f"{path}: empty file (expected a header line {','.join(('series_id', 'date', 'cost'))})"
        ) from exc
    except pd.errors.ParserError as exc:
        raise DetectorInputError(f"{path}: not a CSV file: {exc}") from exc


def detect_csv(
    input_path: str | Path, output_path: str | Path, config: DetectorConfig | None = None
) -> DetectSummary:
    """Score `input_path` and write `output_path` ('-' = stdout)."""
    raw = read_series_csv(input_path)
    scored = detect(raw, config, validate=lambda f: prepare_input(f, row_offset=2, noun="line"))
    out = scored[list(OUTPUT_COLUMNS)].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    out["is_anomaly"] = np.where(out["is_anomaly"], "true", "false")
    buf = io.StringIO()
    out.to_csv(buf, index=False, float_format="%.6f")
    if str(output_path) == "-":
        sys.stdout.write(buf.getvalue())
    else:
        Path(output_path).write_text(buf.getvalue())
    return DetectSummary(
        rows=len(scored),
        series=int(scored["series_id"].nunique()),
        anomalous_days=int(scored["is_anomaly"].sum()),
        episodes=len(group_episodes(scored)),
    )
