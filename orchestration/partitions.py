"""Daily partitions on the UTC billing day, shared by every asset."""

from __future__ import annotations

import os
from datetime import date, timedelta

import dagster as dg

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")
"""One partition per UTC billing day."""

SINGLE_RUN = dg.BackfillPolicy.single_run()
"""A backfill over many days runs once over the whole range, not once per day."""


def lookback_days() -> int:
    """Trailing days re-read on each run because providers restate recent days."""
    return int(os.environ.get("TOKENLEDGER_LOOKBACK_DAYS", "3"))


def days_to_fetch(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """UTC days [first, last] a partitioned run fetches: its window plus the lookback."""
    window = context.partition_time_window
    first = window.start.date() - timedelta(days=lookback_days())
    last = window.end.date() - timedelta(days=1)
    return first, last
