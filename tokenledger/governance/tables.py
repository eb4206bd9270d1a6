"""Terminal tables of `tokenledger budgets`, `tokenledger keys` and `tokenledger anomalies`,
read from the warehouse's marts (rich tables: status, burn rate, forecast, owner)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

STATUS_STYLE = {
    "over": "bold red",
    "forecast_over": "red",
    "warning": "yellow",
    "ok": "green",
    "no_data": "dim",
    "unknown": "bold red",
    "idle": "yellow",
    "not_seen": "dim",
    "active": "green",
    "new": "bold red",
    "ongoing": "red",
    "resolved": "dim",
}


def wide_console() -> Console:
    """A console as wide as the terminal, or 220 columns when the output is not a terminal."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=220)


class MissingMart(RuntimeError):
    """The mart a command prints is not in the warehouse yet."""


def read_mart(warehouse: Any, table: str, where: str = "") -> pd.DataFrame:
    """All rows of `marts.<table>` (optionally filtered) as a DataFrame."""
    _, rows = warehouse.query(
        "select count(*) from information_schema.tables "
        f"where table_schema = 'marts' and table_name = '{table}'"
    )
    if not rows[0][0]:
        raise MissingMart(
            f"marts.{table} is not in the warehouse yet: run `tokenledger run` (or the demo) first"
        )
    columns, rows = warehouse.query(f"select * from marts.{table} {where}")
    return pd.DataFrame(rows, columns=columns)


def _money(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    return f"${value:,.0f}" if abs(value) >= 10_000 else f"${value:,.2f}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):.0f}%"


def _styled(status: Any) -> str:
    style = STATUS_STYLE.get(str(status), "")
    return f"[{style}]{status}[/{style}]" if style else str(status)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def print_budgets(status: pd.DataFrame, console: Console | None = None) -> None:
    """One line per budget and limit on its latest as-of day."""
    console = console or wide_console()
    if status.empty:
        console.print("no budgets or limits configured (seeds/budgets.csv, seeds/spend_limits.csv)")
        return
    latest = status[status["as_of_date"] == status["as_of_date"].max()]
    order = {"over": 0, "forecast_over": 1, "warning": 2, "ok": 3, "no_data": 4}
    latest = latest.assign(_o=latest["status"].map(order)).sort_values(
        ["budget_kind", "_o", "budget_id"]
    )
    as_of = latest["as_of_date"].iloc[0]
    table = Table(title=f"Budgets and limits as of {as_of}", show_edge=False)
    for col, justify in (
        ("budget", "left"),
        ("scope", "left"),
        ("period", "left"),
        ("amount", "right"),
        ("actual", "right"),
        ("%", "right"),
        ("burn/day", "right"),
        ("forecast", "right"),
        ("80% interval", "right"),
        ("fc %", "right"),
        ("status", "left"),
        ("owner", "left"),
    ):
        table.add_column(
            col,
            justify=justify,
            no_wrap=col in ("budget", "status", "owner"),
            overflow="fold" if col == "scope" else "ellipsis",
        )
    for r in latest.to_dict("records"):
        amount = f"{float(r['budget_amount']):,.0f} {r['budget_currency']}"
        name = r["budget_id"] + (" [dim](limit)[/dim]" if r["budget_kind"] == "limit" else "")
        table.add_row(
            name,
            _text(r["scope"]),
            f"{r['period']} {str(r['period_start_date'])[:7]}",
            amount,
            _money(r["actual_cost_usd"]),
            _pct(r["actual_percent"]),
            _money(r["burn_rate_usd"]),
            _money(r["forecast_cost_usd"]),
            f"{_money(r['forecast_low_usd'])}–{_money(r['forecast_high_usd'])}",
            _pct(r["forecast_percent"]),
            _styled(r["status"]),
            _text(r["owner_email"]),
        )
    console.print(table)
    notes = sorted({n for n in latest["data_note"] if isinstance(n, str)})
    for note in notes:
        console.print(f"[dim]note: {note}[/dim]")


def print_keys(keys: pd.DataFrame, findings: pd.DataFrame, console: Console | None = None) -> None:
    """The key inventory (one line per key) and the findings below it."""
    console = console or wide_console()
    table = Table(title="API keys", show_edge=False)
    for col, justify in (
        ("provider", "left"),
        ("api key", "left"),
        ("owner", "left"),
        ("team", "left"),
        ("status", "left"),
        ("first seen", "left"),
        ("last seen", "left"),
        ("spend 30d", "right"),
        ("tokens 30d", "right"),
        ("findings", "left"),
    ):
        table.add_column(col, justify=justify)
    order = {"unknown": 0, "idle": 1, "not_seen": 2, "active": 3}
    keys = keys.assign(_o=keys["key_status"].map(order)).sort_values(
        ["_o", "provider", "api_key_id"]
    )
    for r in keys.to_dict("records"):
        table.add_row(
            _text(r["provider"]),
            _text(r["api_key_id"]),
            _text(r["owner_email"]) or "[bold red]unknown[/bold red]",
            _text(r["team"]),
            _styled(r["key_status"]),
            _text(r["first_seen_date"]),
            _text(r["last_seen_date"]),
            _money(r["spend_30d_usd"]),
            f"{float(r['tokens_30d'] or 0):,.0f}",
            _text(r["open_findings"]),
        )
    console.print(table)
    if len(findings):
        ft = Table(title="Key findings", show_edge=False)
        for col in ("finding", "provider", "api key", "owner", "from", "to", "spend", "detail"):
            ft.add_column(col, justify="right" if col == "spend" else "left")
        for r in findings.to_dict("records"):
            ft.add_row(
                f"[red]{r['finding_kind']}[/red]",
                _text(r["provider"]),
                _text(r["api_key_id"]),
                _text(r["owner_email"]) or "[bold red]unknown[/bold red]",
                _text(r["start_date"]),
                _text(r["end_date"]),
                _money(r["spend_usd"]),
                _text(r["detail"]),
            )
        console.print(ft)
    else:
        console.print("no key findings")
    notes = {n for n in keys.get("telemetry_note", []) if isinstance(n, str)}
    for note in sorted(notes):
        console.print(f"[dim]note: {note}[/dim]")


def print_anomalies(
    episodes: pd.DataFrame, console: Console | None = None, limit: int = 30
) -> None:
    """Spend anomaly episodes, largest |impact| first."""
    console = console or wide_console()
    if episodes.empty:
        console.print("no spend anomalies")
        return
    episodes = episodes.assign(_abs=episodes["impact"].astype(float).abs()).sort_values(
        "_abs", ascending=False
    )
    table = Table(title=f"Spend anomalies ({len(episodes)} episodes)", show_edge=False)
    for col, justify in (
        ("series", "left"),
        ("status", "left"),
        ("from", "left"),
        ("to", "left"),
        ("days", "right"),
        ("actual", "right"),
        ("expected", "right"),
        ("impact", "right"),
        ("team", "left"),
        ("largest contributor", "left"),
    ):
        table.add_column(col, justify=justify)
    for r in episodes.head(limit).to_dict("records"):
        cause = ""
        if _text(r.get("root_cause_dimension")) and _text(r.get("root_cause_value")):
            share = r.get("root_cause_share")
            cause = f"{r['root_cause_dimension']}={r['root_cause_value']}"
            if share is not None and not (isinstance(share, float) and math.isnan(share)):
                cause += f" ({float(share) * 100:.0f}%)"
        table.add_row(
            _text(r["series_id"]),
            _styled(r["status"]),
            _text(r["start_date"])[:10],
            _text(r["end_date"])[:10],
            _text(r["days"]),
            _money(r["actual_cost"]),
            _money(r["expected_cost"]),
            _money(r["impact"]),
            _text(r.get("team")),
            cause,
        )
    console.print(table)
    if len(episodes) > limit:
        console.print(f"[dim]… {len(episodes) - limit} more (--limit)[/dim]")
