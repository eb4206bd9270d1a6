"""The terminal summary printed after a run: where the money went, with bars, not just numbers.

Reads only `marts.fct_cost_and_usage`, the table analysts and BI tools read.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tokenledger.warehouse import Warehouse

SPARK = "▁▂▃▄▅▆▇█"


@dataclass
class SpendSummary:
    """Spend in the marts, grouped the ways a FinOps lead asks first."""

    total: Decimal
    ai_total: Decimal
    currency: str
    first_day: str
    last_day: str
    by_provider: list[tuple[str, Decimal]]
    top_models: list[tuple[str, str, Decimal]]
    top_api_keys: list[tuple[str, str, Decimal]]
    daily: list[tuple[str, Decimal]]
    last_30: Decimal
    prior_30: Decimal


def load_summary(warehouse: Warehouse | Path | None = None, top: int = 5) -> SpendSummary:
    """Query the fact table for the summary's numbers (read-only connection).

    `warehouse` defaults to the configured one; a Path is a DuckDB file. The SQL is portable:
    DuckDB and PostgreSQL both run it.
    """
    with Warehouse.resolve(warehouse).reader() as con:
        fact = "marts.fct_cost_and_usage"
        # every amount in the reporting currency, so EUR and USD bills add up
        total, ai_total, currency, first_day, last_day = con.execute(
            f"select coalesce(sum(x_billed_cost_reporting), 0), "
            f"coalesce(sum(case when service_category = 'AI and Machine Learning' "
            f"then x_billed_cost_reporting end), 0), "
            f"coalesce(min(x_reporting_currency), 'USD'), "
            f"min(charge_period_start)::date::varchar, max(charge_period_start)::date::varchar "
            f"from {fact}"
        ).fetchone()
        by_provider = con.execute(
            f"select provider_name, sum(x_billed_cost_reporting) as c from {fact} "
            f"group by 1 order by c desc"
        ).fetchall()
        top_models = con.execute(
            f"select x_model, provider_name, sum(x_billed_cost_reporting) as c from {fact} "
            f"where x_model is not null group by 1, 2 order by c desc limit {int(top)}"
        ).fetchall()
        top_keys = con.execute(
            f"select x_api_key_id, provider_name, sum(x_billed_cost_reporting) as c from {fact} "
            f"where x_api_key_id is not null group by 1, 2 order by c desc limit {int(top)}"
        ).fetchall()
        daily = con.execute(
            f"select charge_period_start::date::varchar as d, sum(x_billed_cost_reporting) "
            f"from {fact} group by 1 order by 1"
        ).fetchall()
        last_30, prior_30 = con.execute(
            f"""
            with bounds as (select max(charge_period_start)::date as last_day from {fact})
            select
                coalesce(sum(x_billed_cost_reporting) filter (
                    where charge_period_start::date > last_day - 30), 0),
                coalesce(sum(x_billed_cost_reporting) filter (
                    where charge_period_start::date <= last_day - 30
                      and charge_period_start::date > last_day - 60), 0)
            from {fact}, bounds
            """
        ).fetchone()
    return SpendSummary(
        total=Decimal(total),
        ai_total=Decimal(ai_total),
        currency=currency,
        first_day=first_day or "-",
        last_day=last_day or "-",
        by_provider=[(p, Decimal(c)) for p, c in by_provider],
        top_models=[(m, p, Decimal(c)) for m, p, c in top_models],
        top_api_keys=[(k, p, Decimal(c)) for k, p, c in top_keys],
        daily=[(d, Decimal(c)) for d, c in daily],
        last_30=Decimal(last_30),
        prior_30=Decimal(prior_30),
    )


def _bar(value: Decimal, largest: Decimal, width: int = 28) -> str:
    if largest <= 0:
        return ""
    n = int(round(float(value / largest) * width))
    return "█" * n


def _sparkline(values: list[Decimal], width: int = 60) -> str:
    """One character per day, or per group of days when there are more days than `width`."""
    if not values:
        return ""
    if len(values) > width:
        per = -(-len(values) // width)
        values = [sum(values[i : i + per], Decimal(0)) for i in range(0, len(values), per)]
    hi = max(values)
    if hi <= 0:
        return SPARK[0] * len(values)
    return "".join(
        SPARK[min(len(SPARK) - 1, int(float(v / hi) * (len(SPARK) - 1)))] for v in values
    )


def money(value: Decimal, currency: str = "USD") -> str:
    """Format a money amount for people: $12,345.67."""
    symbol = "$" if currency.upper() == "USD" else f"{currency.upper()} "
    return f"{symbol}{value:,.2f}"


def print_summary(summary: SpendSummary, console: Console | None = None) -> None:
    """Print the summary: totals, bars per provider/model/key, a daily sparkline, 30 vs 30."""
    console = console or Console()
    cur = summary.currency
    console.print(
        f"\n[bold]Spend {summary.first_day} → {summary.last_day}: "
        f"{money(summary.total, cur)}[/bold] (AI and machine learning "
        f"{money(summary.ai_total, cur)}, the rest of the cloud "
        f"{money(summary.total - summary.ai_total, cur)})"
    )
    days = len(summary.daily)
    per = -(-days // 60) if days > 60 else 1
    unit = "day" if per == 1 else f"{per} days"
    console.print(
        f"spend per {unit}: {summary.first_day} {_sparkline([c for _, c in summary.daily])} "
        f"{summary.last_day}"
    )

    def table(title: str, rows: list[tuple], label_cols: list[str]) -> None:
        t = Table(title=title, title_justify="left", show_edge=False)
        for col in label_cols:
            t.add_column(col)
        t.add_column("billed", justify="right")
        t.add_column("")
        largest = max((r[-1] for r in rows), default=Decimal(0))
        for r in rows:
            t.add_row(*[str(x) for x in r[:-1]], money(r[-1], cur), _bar(r[-1], largest))
        console.print(t)

    table("Spend by provider", summary.by_provider, ["provider"])
    table("Top models", summary.top_models, ["model", "provider"])
    table("Top API keys", summary.top_api_keys, ["api key", "provider"])
    change = summary.last_30 - summary.prior_30
    pct = f"{(change / summary.prior_30 * 100):+.1f}%" if summary.prior_30 else "n/a"
    console.print(
        f"Last 30 days {money(summary.last_30, cur)} vs the 30 before "
        f"{money(summary.prior_30, cur)}: {'+' if change >= 0 else '-'}"
        f"{money(abs(change), cur)} ({pct})"
    )
