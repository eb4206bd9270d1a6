"""Spend anomaly detection: the detector, episodes, root cause and the warehouse entry point."""

from tokenledger.anomaly.detector import (
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    DetectorConfig,
    DetectorInputError,
    detect,
    prepare_input,
    score_matrix,
)
from tokenledger.anomaly.episodes import group_episodes
from tokenledger.anomaly.root_cause import root_cause, top_contributor
from tokenledger.anomaly.series import LEVELS, build_series
from tokenledger.anomaly.warehouse import anomalies_from_rows, detect_from_warehouse

__all__ = [
    "INPUT_COLUMNS",
    "LEVELS",
    "OUTPUT_COLUMNS",
    "DetectorConfig",
    "DetectorInputError",
    "anomalies_from_rows",
    "build_series",
    "detect",
    "detect_from_warehouse",
    "group_episodes",
    "prepare_input",
    "root_cause",
    "score_matrix",
    "top_contributor",
]
