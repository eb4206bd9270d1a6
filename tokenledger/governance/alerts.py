"""Governance alerts: budget and limit thresholds, period-end forecasts, API-key findings.

Each goes once through the channels of `alerts.toml` (the anomaly alerts' channels, ledger
`alerts.sent_alerts`):
- `budget:forecast:<budget_id>:<period start>` — the median period-end forecast reaches 100 %
  of the budget while the actual is still below it: once per budget and period.
- `budget:actual:<budget_id>:<period start>:<threshold>` — the actual to date crossed an alert
  threshold (50/80/100 %): once per threshold and period; when a run finds several crossed
  at once, only the highest is sent.
- `api_key:<finding_id>` — one per key finding (an unknown key once, however long it spends).
Limits alert like budgets with the single threshold 100 % (`limit:` keys).
Only the current period (the as-of day's) alerts, so adopting tokenledger on old history sends
no backlog.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from tokenledger.alerts.ledger import open_ledger
from tokenledger.alerts.messages import Alert, json_safe, money
from tokenledger.alerts.send import AlertResult, _config, _send_once


def _pct(value: float) -> str:
    return (
        "?"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.0f}%"
    )


def _present(value: object) -> bool:
    """A value from a pandas row that is there (not None, not NaN, not empty)."""
    return value is not None and value == value and value != ""


def _fields(row: dict) -> tuple[tuple[str, str], ...]:
    out = [
        ("Budget" if row["budget_kind"] == "budget" else "Limit", str(row["budget_id"])),
        ("Scope", str(row["scope"])),
        ("Period", f"{row['period']} from {row['period_start_date']}"),
    ]
    amount = f"{row['budget_amount']:,.2f} {row['budget_currency']}"
    if row["budget_currency"] != "USD":
        amount += f" ({money(row['budget_amount_usd'])})"
    out.append(("Amount", amount))
    out.append(
        ("Actual to date", f"{money(row['actual_cost_usd'])} ({_pct(row['actual_percent'])})")
    )
    out.append(
        (
            "Forecast",
            f"{money(row['forecast_cost_usd'])} ({_pct(row['forecast_percent'])}), 80% interval "
            f"{money(row['forecast_low_usd'])}–{money(row['forecast_high_usd'])}",
        )
    )
    out.append(("Burn rate", f"{money(row['burn_rate_usd'])}/day"))
    if _present(row.get("owner_email")):
        out.append(("Owner", str(row["owner_email"])))
    return tuple(out)


def budget_forecast_alert(row: dict) -> Alert:
    """The forecast says this budget (or limit) will be exceeded by its period's end."""
    kind = row["budget_kind"]
    return Alert(
        key=f"{kind}:forecast:{row['budget_id']}:{row['period_start_date']}",
        kind="budget",
        title=f"{kind.capitalize()} forecast to overrun: {row['budget_id']}",
        text=(
            f"{kind.capitalize()} {row['budget_id']} ({row['scope']}) is forecast to reach "
            f"{money(row['forecast_cost_usd'])} by {row['period_end_date']}, "
            f"{_pct(row['forecast_percent'])} of {money(row['budget_amount_usd'])}; "
            f"{money(row['actual_cost_usd'])} spent so far ({_pct(row['actual_percent'])}) "
            f"as of {row['as_of_date']}"
        ),
        fields=_fields(row),
        data={k: json_safe(v) for k, v in row.items()},
        impact_usd=None,  # channels' min_impact_usd is for anomalies: budgets always alert
    )


def budget_threshold_alert(row: dict, threshold: float) -> Alert:
    """The actual spend of the period crossed `threshold` % of the budget (or limit)."""
    kind = row["budget_kind"]
    verb = "exceeded" if threshold >= 100 else f"reached {threshold:g}% of"
    return Alert(
        key=f"{kind}:actual:{row['budget_id']}:{row['period_start_date']}:{threshold:g}",
        kind="budget",
        title=f"{kind.capitalize()} {row['budget_id']} {verb} its amount"
        if threshold >= 100
        else f"{kind.capitalize()} {row['budget_id']} at {threshold:g}%",
        text=(
            f"{kind.capitalize()} {row['budget_id']} ({row['scope']}) {verb} "
            f"{money(row['budget_amount_usd'])}: {money(row['actual_cost_usd'])} spent "
            f"({_pct(row['actual_percent'])}) as of {row['as_of_date']}; forecast "
            f"{money(row['forecast_cost_usd'])} by {row['period_end_date']}"
        ),
        fields=_fields(row),
        data={**{k: json_safe(v) for k, v in row.items()}, "threshold_percent": threshold},
        impact_usd=None,
    )


FINDING_TITLES = {
    "unknown_key": "Unknown API key spending",
    "spend_jump": "API key spend jumped",
    "idle_key": "Idle API key",
    "shadow_usage": "Shadow usage on an API key",
}


def key_finding_alert(row: dict) -> Alert:
    """One alert per key finding; the owner, or `unknown` when no one owns the key."""
    owner = str(row["owner_email"]) if _present(row.get("owner_email")) else "unknown"
    fields = [
        ("Finding", str(row["finding_kind"])),
        ("Provider", str(row["provider"])),
        ("API key", str(row["api_key_id"])),
        ("Owner", owner),
    ]
    if _present(row.get("team")):
        fields.append(("Team", str(row["team"])))
    if _present(row.get("sub_account_id")):
        fields.append(("Project / workspace id", str(row["sub_account_id"])))
    return Alert(
        key=f"api_key:{row['finding_id']}",
        kind="api_key",
        title=f"{FINDING_TITLES.get(row['finding_kind'], row['finding_kind'])}: "
        f"{row['provider']}/{row['api_key_id']} (owner {owner})",
        text=f"{row['provider']} key {row['api_key_id']} (owner {owner}): {row['detail']}",
        fields=tuple(fields),
        data={k: json_safe(v) for k, v in row.items()},
        impact_usd=None,  # a leaked key alerts at its first dollar
    )


def governance_alerts(status: pd.DataFrame, findings: pd.DataFrame) -> list[tuple[Alert, tuple]]:
    """(alert, alert keys it covers) of the current period's budgets and of every finding."""
    out: list[tuple[Alert, tuple]] = []
    if len(status):
        today = status[status["as_of_date"] == status["as_of_date"].max()]
        for row in today.to_dict("records"):
            if row["status"] == "no_data":
                continue
            thresholds = [float(t) for t in str(row["alert_thresholds"]).split(";") if t]
            crossed = [t for t in thresholds if row["actual_percent"] >= t]
            if crossed:  # the highest crossed only: a run that finds 50 and 80 crossed says 80
                out.append((budget_threshold_alert(row, max(crossed)), ()))
            if row["status"] == "forecast_over":
                out.append((budget_forecast_alert(row), ()))
    for row in findings.to_dict("records"):
        out.append((key_finding_alert(row), ()))
    return out


def send_governance_alerts(
    con_or_warehouse: Any, status: pd.DataFrame, findings: pd.DataFrame, config: Any = None
) -> list[AlertResult]:
    """Send each governance alert once per channel (ledger `alerts.sent_alerts`)."""
    cfg = _config(config)
    if cfg is None:
        return []
    alerts = governance_alerts(status, findings)
    if not alerts:
        return []
    results: list[AlertResult] = []
    with open_ledger(con_or_warehouse) as ledger:
        for alert, covers in alerts:
            results.extend(_send_once(ledger, cfg, alert, covers))
    return results
