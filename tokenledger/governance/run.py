"""Governance in one call: seeds → budgets, limits and keys from the warehouse → marts → alerts.

Writes (through `Warehouse.replace_table`, like the anomaly mart, so DuckDB and PostgreSQL
both work and the BI role reads them):
- `marts.fct_budget_status` — one row per budget or limit × as-of day: actual to date,
  forecast of the period end with an 80 % interval, burn rate, status;
- `marts.dim_api_keys` — one row per provider × API key: owner, team, status, first/last
  seen, spend;
- `marts.fct_key_findings` — one row per key finding (unknown key, spend jump, idle key,
  shadow usage).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tokenledger.governance.budgets import (
    FEATURE_NOTE,
    evaluate_budgets,
    load_spend,
)
from tokenledger.governance.keys import (
    IDLE_DAYS,
    TELEMETRY_MISSING,
    assess_keys,
    load_key_activity,
)
from tokenledger.governance.seeds import load_seeds

log = logging.getLogger(__name__)

SCHEMA = "marts"
BUDGET_STATUS_TABLE = "fct_budget_status"
KEYS_TABLE = "dim_api_keys"
FINDINGS_TABLE = "fct_key_findings"
IDLE_DAYS_ENV = "TOKENLEDGER_KEY_IDLE_DAYS"
"""Days without usage or cost after which a registered key is idle (default 30)."""


@dataclass
class GovernanceResult:
    """What one governance run found and sent."""

    as_of: dt.date | None = None
    budget_status: pd.DataFrame = field(default_factory=pd.DataFrame)
    keys: pd.DataFrame = field(default_factory=pd.DataFrame)
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    alerts: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def current(self) -> pd.DataFrame:
        """Budget status rows of the as-of day (one per budget or limit)."""
        s = self.budget_status
        return s[s["as_of_date"] == self.as_of] if len(s) else s


def _last_day(con) -> dt.date | None:
    from tokenledger.governance.budgets import frame

    value = frame(
        con, "select max(cast(charge_period_start as date)) as d from marts.fct_cost_and_usage"
    ).iloc[0, 0]
    if value is None or value != value:
        return None
    return pd.Timestamp(value).date()


def run_governance(
    warehouse: Any,
    *,
    as_of: dt.date | None = None,
    seeds_dir: str | Path | None = None,
    alerts_config: Any = None,
    send_alerts: bool = True,
) -> GovernanceResult:
    """Evaluate budgets, limits and API keys on the published marts and publish the results.

    `as_of` defaults to the last billed day in the fact (data after it is ignored: a replay
    of past days sees what a run on that day saw). Raises `SeedError` naming every bad seed
    row before anything is written. Alerts go once per budget/period/threshold and finding.
    """
    from tokenledger.warehouse import Warehouse

    warehouse = Warehouse.resolve(warehouse)
    seeds = load_seeds(seeds_dir)
    result = GovernanceResult()
    with warehouse.reader() as reader:
        con = reader.connection
        last = _last_day(con)
        result.as_of = as_of or last or dt.datetime.now(dt.UTC).date()
        spend, has_features = load_spend(con, seeds.rates)
        activity = load_key_activity(con)
    result.budget_status = evaluate_budgets(seeds, spend, result.as_of, has_features=has_features)
    idle_days = int(os.environ.get(IDLE_DAYS_ENV) or IDLE_DAYS)
    result.keys, result.findings = assess_keys(
        seeds.key_owners, activity, result.as_of, idle_days=idle_days
    )
    if seeds.budgets["feature"].notna().any() and not has_features:
        result.notes.append(FEATURE_NOTE)
    if "telemetry" not in activity:
        result.notes.append(TELEMETRY_MISSING)
    if "anomalies" not in activity:
        result.notes.append("spend-jump check skipped: marts.fct_spend_anomalies is missing")
    warehouse.replace_table(SCHEMA, BUDGET_STATUS_TABLE, _rounded(result.budget_status))
    warehouse.replace_table(SCHEMA, KEYS_TABLE, result.keys)
    warehouse.replace_table(SCHEMA, FINDINGS_TABLE, result.findings)
    if send_alerts:
        from tokenledger.governance.alerts import send_governance_alerts

        result.alerts = send_governance_alerts(
            warehouse, result.budget_status, result.findings, alerts_config
        )
    return result


def _rounded(frame):
    """Float columns to 1e-6 (a millionth of a dollar, a millionth of a percent): sums of the
    same spend read in another order differ in the last bits of a float, and a re-run must
    leave the mart identical."""
    out = frame.copy()
    for column in out.select_dtypes(include="floating").columns:
        out[column] = out[column].round(6)
    return out
