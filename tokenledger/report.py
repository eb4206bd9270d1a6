"""The cost report: one self-contained HTML file that a manager can read at a glance, offline.

Reads `marts.fct_cost_and_usage` (and, when they exist, an allocation mart and a `budgets`
table) through a read-only connection and draws, with matplotlib, inline SVG charts:
daily spend by provider with unusual days marked, the top teams / features (or, until
allocation lands, projects / workspaces and API keys), the model mix over time, and the
month-to-date burn-up against last month's pace and any budget. The file makes no request
of its own: charts are `data:` URIs, styles are inline.

Queries are portable SQL (no engine-specific casts or functions), so the same code reads the
DuckDB file or the PostgreSQL warehouse; the connection is made in `warehouse_reader` alone.
"""

from __future__ import annotations

import base64
import calendar
import html
import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

FACT = "marts.fct_cost_and_usage"
DEFAULT_OUTPUT = Path("reports/tokenledger-report.html")
DEFAULT_DAYS = 90
TOP_N = 8
MAX_MODELS = 8

PROVIDER_COLOURS = {"OpenAI": "#10a37f", "Anthropic": "#d97757"}
"""One colour per provider, used by every chart."""
OTHER_COLOURS = ["#4e79a7", "#b07aa1", "#edc948", "#76b7b2", "#9c755f", "#e15759"]
PROVIDER_SHADES = {"OpenAI": "Greens", "Anthropic": "Oranges"}
"""Models take shades of their provider's colour family, so the mix reads by provider too."""
OTHER_SHADES = ["Blues", "Purples", "Greys", "BuGn", "RdPu"]
ANOMALY_COLOUR = "#c0392b"
INK, MUTED, GRID = "#1f2933", "#66788a", "#e4e7eb"

# A breakdown column, best first: team and feature once allocation lands, else what the
# provider bills know (project / workspace, API key).
BREAKDOWN_CANDIDATES = [
    ("Top teams", "team", ("x_team", "team", "x_team_name", "team_name")),
    ("Top features", "feature", ("x_feature", "feature", "x_feature_name", "feature_name")),
    ("Top projects / workspaces", "project", ("sub_account_id",)),
    ("Top API keys", "API key", ("x_api_key_id",)),
]
COST_COLUMNS = ("billed_cost", "allocated_cost", "allocated_billed_cost")
BUDGET_AMOUNT_COLUMNS = ("budget_amount", "monthly_budget", "budget_cost", "amount", "budget")
BUDGET_MONTH_COLUMNS = ("budget_month", "month", "billing_period_start", "period_start")


# ---------------------------------------------------------------------- warehouse access
@contextmanager
def warehouse_reader(where: Any = None) -> Iterator[Any]:
    """A read-only connection to the warehouse: `.execute(sql).fetchall()`.

    The one place the report connects. `where` is a DuckDB file path, a
    `tokenledger.warehouse.Warehouse`, or None for the configured warehouse
    (`TOKENLEDGER_WAREHOUSE`, default the DuckDB file `TOKENLEDGER_DUCKDB`).
    """
    try:
        from tokenledger.warehouse import Warehouse
    except ImportError:  # before the configurable-warehouse module: DuckDB only
        import duckdb

        from tokenledger import paths

        db = Path(where) if where is not None else paths.duckdb_path()
        if not db.exists():
            raise FileNotFoundError(
                f"no warehouse at {db}: run `tokenledger run` or `make demo` first, "
                "or set TOKENLEDGER_DUCKDB"
            ) from None
        con = duckdb.connect(str(db), read_only=True)
        try:
            yield con
        finally:
            con.close()
        return
    with Warehouse.resolve(where).reader() as reader:
        yield reader


def _rows(con: Any, sql: str) -> list[tuple]:
    return list(con.execute(sql).fetchall())


def _columns(con: Any, schema: str, table: str) -> list[str]:
    return [
        c.lower()
        for (c,) in _rows(
            con,
            "select column_name from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{table}' "
            "order by ordinal_position",
        )
    ]


def _tables(con: Any) -> list[tuple[str, str]]:
    return [
        (s.lower(), t.lower())
        for s, t in _rows(con, "select table_schema, table_name from information_schema.tables")
    ]


def _day_sql(d: date) -> str:
    return f"cast('{d.isoformat()}' as date)"


DAY = "cast(charge_period_start as date)"


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# ---------------------------------------------------------------------- anomalies
@dataclass(frozen=True)
class SpendAnomaly:
    """A day whose spend is far from what the same weekday usually costs."""

    day: date
    cost: float
    expected: float
    score: float
    """The detector's signed robust score (log space)."""

    @property
    def delta(self) -> float:
        return self.cost - self.expected


def flag_spend_anomalies(daily: Sequence[tuple[date, Any]]) -> list[SpendAnomaly]:
    """Days whose total spend the pipeline's anomaly detector flags (tokenledger.anomaly):
    a weekly-seasonal, trend-aware baseline with month-start and holiday rhythms, a robust
    spread and $ / % gates. The same code scores marts.fct_spend_anomalies."""
    import pandas as pd

    from tokenledger.anomaly.detector import detect

    if not daily:
        return []
    frame = pd.DataFrame(
        {
            "series_id": "total",
            "date": [_as_date(d) for d, _ in daily],
            "cost": [float(c) for _, c in daily],
        }
    )
    scored = detect(frame)
    return [
        SpendAnomaly(_as_date(r.date), float(r.cost), float(r.expected), float(r.score))
        for r in scored[scored["is_anomaly"]].itertuples(index=False)
    ]


# ---------------------------------------------------------------------- the data
@dataclass
class Breakdown:
    """Spend by one dimension (team, feature, project, API key) over the report window."""

    title: str
    noun: str
    column: str
    source: str
    rows: list[tuple[str, str, float]]
    """(label, provider, cost), largest first, at most TOP_N."""
    note: str = ""


@dataclass
class Budget:
    amount: float | None
    note: str


@dataclass
class ReportData:
    """Everything the report shows, already aggregated (small: days × providers × models)."""

    generated_at: datetime
    currency: str
    currencies: list[str]
    first_day: date | None
    last_day: date | None
    window_start: date | None
    total: Decimal
    """Σ billed_cost over the window, exact."""
    daily_provider: dict[tuple[date, str], float] = field(default_factory=dict)
    """All days, not only the window (month-over-month and 30-vs-30 need history)."""
    daily_model: dict[tuple[date, str, str], float] = field(default_factory=dict)
    breakdowns: list[Breakdown] = field(default_factory=list)
    movers: list[tuple[str, str, float, float]] = field(default_factory=list)
    """(kind, label, last 30 days, prior 30 days)."""
    budget: Budget | None = None
    anomalies: list[SpendAnomaly] = field(default_factory=list)

    @property
    def providers(self) -> list[str]:
        """The providers present, in a fixed order (so stacks look alike report to report)."""
        totals: dict[str, float] = defaultdict(float)
        for (_, p), c in self.daily_provider.items():
            totals[p] += c
        known = list(PROVIDER_COLOURS)
        return sorted(totals, key=lambda p: (known.index(p) if p in known else len(known), p))

    def daily_total(self) -> dict[date, float]:
        out: dict[date, float] = defaultdict(float)
        for (d, _), c in self.daily_provider.items():
            out[d] += c
        return dict(out)

    def window_days(self) -> list[date]:
        if self.last_day is None:
            return []
        n = (self.last_day - self.window_start).days + 1
        return [self.window_start + timedelta(days=i) for i in range(n)]

    def spend_between(self, first: date, last: date) -> float:
        return sum(c for (d, _), c in self.daily_provider.items() if first <= d <= last)


def _pick_breakdowns(con: Any, tables: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """Up to two (title, noun, source table, column): team/feature when they exist, else the
    bill's own project and API key."""
    sources = []
    allocation = sorted(t for s, t in tables if s == "marts" and "alloc" in t)
    for table in allocation:
        cols = _columns(con, "marts", table)
        if "charge_period_start" in cols and any(c in cols for c in COST_COLUMNS):
            sources.append((f"marts.{table}", cols))
    sources.append((FACT, _columns(con, "marts", "fct_cost_and_usage")))
    picked = []
    for title, noun, names in BREAKDOWN_CANDIDATES:
        for source, cols in sources:
            column = next((c for c in names if c in cols), None)
            if column:
                picked.append((title, noun, source, column))
                break
        if len(picked) == 2:
            break
    return picked


def _cost_column(con: Any, source: str) -> str:
    schema, table = source.split(".")
    cols = _columns(con, schema, table)
    return next(c for c in COST_COLUMNS if c in cols)


def _null_label(column: str, provider: str) -> str:
    if column == "sub_account_id":
        return "default workspace" if provider == "Anthropic" else "(no project)"
    return "(unallocated)" if "team" in column or "feature" in column else "(none)"


def _load_budget(con: Any, tables: list[tuple[str, str]], month: date) -> Budget:
    """The budget for `month` from a `budgets` table, if one exists (marts, then seeds)."""
    found = [(s, t) for s, t in tables if t == "budgets"]
    if not found:
        return Budget(None, "no budgets configured")
    found.sort(key=lambda st: {"marts": 0, "seeds": 1}.get(st[0], 2))
    schema, table = found[0]
    cols = _columns(con, schema, table)
    amount = next((c for c in BUDGET_AMOUNT_COLUMNS if c in cols), None)
    if amount is None:
        return Budget(None, f"{schema}.{table} has no budget amount column the report knows")
    month_col = next((c for c in BUDGET_MONTH_COLUMNS if c in cols), None)
    where = ""
    if month_col:
        nxt = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        where = (
            f" where cast({month_col} as date) >= {_day_sql(month)}"
            f" and cast({month_col} as date) < {_day_sql(nxt)}"
        )
    if {"parent_budget_id", "team", "provider", "period"} <= set(cols):  # seeds/budgets.csv
        # only the organisation-wide monthly budgets: nested or scoped ones would double count
        scoped = " and ".join(
            f"{c} is null"
            for c in (
                "parent_budget_id",
                "team",
                "cost_centre",
                "application",
                "feature",
                "api_key_id",
                "provider",
                "model",
            )
            if c in cols
        )
        where = f" where period = 'monthly' and {scoped}"
    (value,) = _rows(con, f"select sum({amount}) from {schema}.{table}{where}")[0]
    if value is None:
        return Budget(None, f"no budget for {month:%B %Y} in {schema}.{table}")
    return Budget(float(value), f"budget from {schema}.{table}")


def load_report_data(con: Any, days: int | None = DEFAULT_DAYS) -> ReportData:
    """Query the warehouse for the report's numbers (portable SQL, a handful of group-bys)."""
    now = datetime.now(UTC).replace(microsecond=0)
    first, last, n_rows = _rows(con, f"select min({DAY}), max({DAY}), count(*) from {FACT}")[0]
    currencies = [c for (c,) in _rows(con, f"select distinct billing_currency from {FACT}") if c]
    # amounts are read in the reporting currency (x_billed_cost_reporting): a provider that
    # bills in EUR is converted at the fact's dated rate, never added up as if it were USD
    reporting = [c for (c,) in _rows(con, f"select distinct x_reporting_currency from {FACT}") if c]
    currency = reporting[0] if reporting else "USD"
    if not n_rows:
        return ReportData(now, currency, currencies, None, None, None, Decimal(0))
    first, last = _as_date(first), _as_date(last)
    window_start = max(first, last - timedelta(days=days - 1)) if days else first
    in_window = f"{DAY} >= {_day_sql(window_start)}"

    (total,) = _rows(
        con, f"select coalesce(sum(x_billed_cost_reporting), 0) from {FACT} where {in_window}"
    )[0]
    data = ReportData(
        now, currency, currencies, first, last, window_start, Decimal(str(total))
    )
    for d, provider, cost in _rows(
        con, f"select {DAY}, provider_name, sum(x_billed_cost_reporting) from {FACT} group by 1, 2"
    ):
        data.daily_provider[(_as_date(d), provider)] = float(cost or 0)
    for d, provider, model, cost in _rows(
        con,
        f"select {DAY}, provider_name, x_model, sum(x_billed_cost_reporting) from {FACT} "
        f"where {in_window} group by 1, 2, 3",
    ):
        key = (_as_date(d), provider, model or f"{provider} (no model)")
        data.daily_model[key] = float(cost or 0)

    tables = _tables(con)
    last30 = last - timedelta(days=29)
    prior30 = last - timedelta(days=59)
    movers_sql = (
        f"sum(case when {DAY} >= {_day_sql(last30)} then {{cost}} else 0 end), "
        f"sum(case when {DAY} >= {_day_sql(prior30)} and {DAY} < {_day_sql(last30)} "
        f"then {{cost}} else 0 end)"
    )
    for title, noun, source, column in _pick_breakdowns(con, tables):
        cost = _cost_column(con, source)
        rows = _rows(
            con,
            f"select {column}, provider_name, sum({cost}), {movers_sql.format(cost=cost)} "
            f"from {source} where {in_window} or {DAY} >= {_day_sql(prior30)} "
            f"group by 1, 2",
        )
        labelled = [
            (str(v) if v is not None else _null_label(column, p), p, v, c, a, b)
            for v, p, c, a, b in rows
        ]
        shown, note = labelled, ""
        if column == "x_api_key_id":
            keyless = sum(float(c or 0) for _, _, v, c, _, _ in labelled if v is None)
            shown = [r for r in labelled if r[2] is not None]
            if keyless:
                note = (
                    f"{_money(keyless, currency)} has no API key on the bill (Anthropic's cost "
                    "report does not name keys) and is not in this chart."
                )
        top = sorted(
            ((label, p, float(c or 0)) for label, p, _, c, _, _ in shown), key=lambda r: -r[2]
        )
        data.breakdowns.append(
            Breakdown(title, noun, column, source, [r for r in top[:TOP_N] if r[2] > 0], note)
        )
        data.movers += [
            (noun, f"{label} ({p})", float(a or 0), float(b or 0)) for label, p, _, _, a, b in shown
        ]
    for model, a, b in _rows(
        con,
        f"select x_model, {movers_sql.format(cost='x_billed_cost_reporting')} from {FACT} "
        f"where {DAY} >= {_day_sql(prior30)} and x_model is not null group by 1",
    ):
        data.movers.append(("model", model, float(a or 0), float(b or 0)))

    data.budget = _load_budget(con, tables, last.replace(day=1))
    data.anomalies = [
        a for a in flag_spend_anomalies(sorted(data.daily_total().items())) if a.day >= window_start
    ]
    return data


# ---------------------------------------------------------------------- formatting
def _money(value: float | Decimal, currency: str = "USD", cents: bool = True) -> str:
    symbol = "$" if currency.upper() == "USD" else f"{currency.upper()} "
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.{2 if cents else 0}f}"


def _money_short(value: float, currency: str = "USD") -> str:
    """$950, $1.2k, $12k, $1.3M — for axis ticks and bar labels."""
    symbol = "$" if currency.upper() == "USD" else f"{currency.upper()} "
    v = abs(value)
    sign = "-" if value < 0 else ""
    if v >= 1e6:
        text = f"{v / 1e6:.1f}M"
    elif v >= 1e4:
        text = f"{v / 1e3:.0f}k"
    elif v >= 1e3:
        text = f"{v / 1e3:.1f}k"
    else:
        text = f"{v:.0f}"
    return f"{sign}{symbol}{text.replace('.0k', 'k').replace('.0M', 'M')}"


def _pct(now: float, before: float) -> str:
    return f"{(now - before) / before * 100:+.1f}%" if before else "new"


def provider_colours(providers: Sequence[str]) -> dict[str, str]:
    """The fixed colour of each provider; unknown providers take the next spare colour."""
    spare = iter(OTHER_COLOURS)
    return {p: PROVIDER_COLOURS.get(p) or next(spare, "#888888") for p in sorted(providers)}


# ---------------------------------------------------------------------- charts
def _figure(height: float = 3.4, width: float = 11.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color("#9aa5b1")
    ax.tick_params(colors=MUTED, labelsize=9)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _money_axis(ax, currency: str, axis: str = "y") -> None:
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: _money_short(v, currency))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _date_axis(ax) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=5, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator)
    formatter.show_offset = False
    ax.xaxis.set_major_formatter(formatter)


def _svg(fig) -> str:
    """The figure as a base64 `data:` URI of an SVG (text drawn as paths: no font needed)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "tokenledger", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def chart_daily_by_provider(data: ReportData) -> str:
    """Stacked daily spend per provider; unusual days marked above their bar."""
    fig, ax = _figure(3.6)
    days = data.window_days()
    colours = provider_colours(data.providers)
    bottom = [0.0] * len(days)
    for provider in data.providers:
        values = [data.daily_provider.get((d, provider), 0.0) for d in days]
        ax.bar(days, values, bottom=bottom, width=0.8, color=colours[provider], label=provider)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    top = max(bottom, default=0) or 1
    for a in data.anomalies:
        ax.bar([a.day], [a.cost], width=0.8, fill=False, edgecolor=ANOMALY_COLOUR, linewidth=1.4)
    if data.anomalies:
        ax.scatter(
            [a.day for a in data.anomalies],
            [a.cost + top * 0.04 for a in data.anomalies],
            marker="v",
            s=28,
            color=ANOMALY_COLOUR,
            zorder=3,
        )
    ax.set_ylim(0, top * 1.15)
    _money_axis(ax, data.currency)
    _date_axis(ax)
    ax.set_ylabel(f"spend per day ({data.currency})", color=MUTED, fontsize=9)
    ax.margins(x=0.01)
    handles, labels = ax.get_legend_handles_labels()
    if data.anomalies:
        from matplotlib.patches import Patch

        handles.append(Patch(fill=False, edgecolor=ANOMALY_COLOUR, linewidth=1.4))
        labels.append(f"unusual day ({len(data.anomalies)}, listed below)")
    ax.legend(handles, labels, loc="upper left", frameon=False, fontsize=9, ncols=4)
    return _svg(fig)


def chart_breakdown(data: ReportData, breakdown: Breakdown) -> str:
    """Horizontal bars of the top spenders of one dimension, coloured by provider."""
    rows = list(reversed(breakdown.rows))
    fig, ax = _figure(0.42 * max(len(rows), 3) + 0.8, 5.4)
    colours = provider_colours(data.providers)
    labels = [_short_label(label) for label, _, _ in rows]
    values = [c for _, _, c in rows]
    ax.barh(labels, values, color=[colours.get(p, "#888") for _, p, _ in rows], height=0.65)
    largest = max(values, default=1)
    for y, v in enumerate(values):
        ax.text(
            v + largest * 0.01,
            y,
            _money_short(v, data.currency),
            va="center",
            fontsize=8.5,
            color=INK,
        )
    ax.set_xlim(0, largest * 1.18)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    _money_axis(ax, data.currency, "x")
    ax.tick_params(axis="y", labelsize=8.5, colors=INK)
    ax.set_xlabel(f"spend, {_window_text(data)}", color=MUTED, fontsize=9)
    return _svg(fig)


def _short_label(label: str, width: int = 30) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def model_colours(data: ReportData, models: list[tuple[str, str]]) -> dict[str, str]:
    """Each model a shade of its provider's colour family (darker = more spend)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    families = dict(PROVIDER_SHADES)
    spare = iter(OTHER_SHADES)
    by_provider: dict[str, list[str]] = defaultdict(list)
    for model, provider in models:
        by_provider[provider].append(model)
    out = {}
    for provider, names in by_provider.items():
        cmap = colormaps[families.get(provider) or next(spare, "Greys")]
        n = len(names)
        for i, model in enumerate(names):
            out[model] = to_hex(cmap(0.85 - 0.5 * (i / max(n - 1, 1))))
    return out


def chart_model_mix(data: ReportData) -> str:
    """Daily spend stacked by model (the biggest MAX_MODELS; the rest as 'other models')."""
    fig, ax = _figure(3.6)
    days = data.window_days()
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for (_, provider, model), c in data.daily_model.items():
        totals[(model, provider)] += c
    ranked = sorted(totals, key=lambda mp: -totals[mp])
    keep = ranked[:MAX_MODELS] if len(ranked) <= MAX_MODELS + 1 else ranked[: MAX_MODELS - 1]
    order = {p: i for i, p in enumerate(data.providers)}
    keep.sort(key=lambda mp: (order.get(mp[1], 99), -totals[mp]))
    colours = model_colours(data, keep)
    kept = {m for m, _ in keep}
    series = {m: [0.0] * len(days) for m, _ in keep}
    other = [0.0] * len(days)
    index = {d: i for i, d in enumerate(days)}
    for (d, _, model), c in data.daily_model.items():
        if d in index:
            (series[model] if model in kept else other)[index[d]] += c
    stacks = [series[m] for m, _ in keep]
    labels = [f"{m}" for m, _ in keep]
    cols = [colours[m] for m, _ in keep]
    if any(other):
        stacks.append(other)
        labels.append(f"other models ({len(ranked) - len(keep)})")
        cols.append("#c3cad3")
    ax.stackplot(days, stacks, labels=labels, colors=cols, linewidth=0)
    _money_axis(ax, data.currency)
    _date_axis(ax)
    ax.margins(x=0)
    ax.set_ylabel(f"spend per day ({data.currency})", color=MUTED, fontsize=9)
    handles, names = ax.get_legend_handles_labels()
    ax.legend(
        handles[::-1],
        names[::-1],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=8.5,
    )
    return _svg(fig)


def burn_up_numbers(data: ReportData) -> dict[str, Any]:
    """Month to date vs last month at the same day, the run-rate forecast and the budget."""
    last = data.last_day
    month = last.replace(day=1)
    prev_last = month - timedelta(days=1)
    prev = prev_last.replace(day=1)
    totals = data.daily_total()
    this_cum, running = [], 0.0
    for i in range(last.day):
        running += totals.get(month + timedelta(days=i), 0.0)
        this_cum.append(running)
    prev_cum, running = [], 0.0
    prev_from = max(prev, data.first_day)
    for i in range(prev_last.day):
        day = prev + timedelta(days=i)
        running += totals.get(day, 0.0)
        prev_cum.append(running if day >= prev_from else None)
    days_in_month = calendar.monthrange(last.year, last.month)[1]
    trailing = [totals.get(last - timedelta(days=k), 0.0) for k in range(7)]
    run_rate = sum(trailing) / 7
    forecast = this_cum[-1] + run_rate * (days_in_month - last.day)
    return {
        "month": month,
        "prev": prev,
        "this": this_cum,
        "prev_cum": prev_cum,
        "prev_from": prev_from,
        "days_in_month": days_in_month,
        "forecast": forecast,
        "budget": data.budget.amount if data.budget else None,
    }


def chart_burn_up(data: ReportData) -> str:
    """Cumulative spend this month vs last month's pace, a run-rate forecast, any budget."""
    b = burn_up_numbers(data)
    fig, ax = _figure(3.4)
    x_prev = [i + 1 for i, v in enumerate(b["prev_cum"]) if v is not None]
    y_prev = [v for v in b["prev_cum"] if v is not None]
    partial = "" if b["prev_from"] == b["prev"] else f", data from {b['prev_from']:%d %b} only"
    x_this = list(range(1, len(b["this"]) + 1))
    if x_prev:
        ax.plot(
            x_prev,
            y_prev,
            color="#9aa5b1",
            linewidth=2,
            linestyle=(0, (4, 3)),
            label=f"{b['prev']:%B} (last month{partial})",
        )
    ax.plot(x_this, b["this"], color=INK, linewidth=2.6, label=f"{b['month']:%B} to date")
    ax.plot(
        [x_this[-1], b["days_in_month"]],
        [b["this"][-1], b["forecast"]],
        color=INK,
        linewidth=1.4,
        linestyle=":",
        label="forecast at the last 7 days' run rate",
    )
    ax.scatter([x_this[-1]], [b["this"][-1]], color=INK, zorder=3, s=18)
    ax.annotate(
        _money_short(b["this"][-1], data.currency),
        (x_this[-1], b["this"][-1]),
        xytext=(-6, 8),
        textcoords="offset points",
        ha="right",
        fontsize=9,
        color=INK,
        fontweight="bold",
    )
    ax.annotate(
        _money_short(b["forecast"], data.currency),
        (b["days_in_month"], b["forecast"]),
        xytext=(4, 0),
        textcoords="offset points",
        va="center",
        fontsize=8.5,
        color=INK,
    )
    if b["budget"] is not None:
        ax.axhline(b["budget"], color=ANOMALY_COLOUR, linewidth=1.4, label="monthly budget")
    ax.set_xlim(1, 31.9)
    ax.set_ylim(bottom=0)
    ax.set_xticks([1, 5, 10, 15, 20, 25, 31])
    ax.set_xlabel("day of month", color=MUTED, fontsize=9)
    ax.set_ylabel(f"cumulative spend ({data.currency})", color=MUTED, fontsize=9)
    _money_axis(ax, data.currency)
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    return _svg(fig)


# ---------------------------------------------------------------------- HTML
CSS = """
:root { --ink: #1f2933; --muted: #66788a; --line: #e4e7eb; --bad: #c0392b; --good: #1e7d4f; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f7fa; color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 40px; }
header h1 { margin: 0; font-size: 24px; }
header p { margin: 4px 0 0; color: var(--muted); }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr));
  gap: 12px; margin: 20px 0; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
.kpi .label { color: var(--muted); font-size: 13px; }
.kpi .value { font-size: 26px; font-weight: 650; margin: 2px 0; white-space: nowrap; }
.kpi .sub { color: var(--muted); font-size: 13px; }
.up { color: var(--bad); } .down { color: var(--good); }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px 10px; margin: 0 0 14px; }
.chart h2 { font-size: 16px; margin: 0 0 2px; }
.chart .about { color: var(--muted); font-size: 13px; margin: 0 0 8px; }
.chart img { display: block; width: 100%; height: auto; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 14px; }
.pair .chart { margin: 0 0 14px; }
.note { color: var(--muted); font-size: 13px; margin: 6px 0 0; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { padding: 3px 12px 3px 0; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 600; }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
.empty { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 24px; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _window_text(data: ReportData) -> str:
    return f"{data.window_start:%d %b} – {data.last_day:%d %b %Y}"


def _kpi(id_: str, label: str, value: str, sub: str, attrs: str = "") -> str:
    return (
        f'<div class="kpi" id="{id_}"{attrs}><div class="label">{label}</div>'
        f'<div class="value">{value}</div><div class="sub">{sub}</div></div>'
    )


def _headlines(data: ReportData) -> str:
    cur = data.currency
    totals = defaultdict(float)
    for (d, p), c in data.daily_provider.items():
        if d >= data.window_start:
            totals[p] += c
    split = " · ".join(f"{_e(p)} {_money_short(totals[p], cur)}" for p in data.providers)
    last30 = data.spend_between(data.last_day - timedelta(days=29), data.last_day)
    prior30 = data.spend_between(
        data.last_day - timedelta(days=59), data.last_day - timedelta(days=30)
    )
    change = last30 - prior30
    direction = "up" if change > 0 else "down"
    comparison = (
        f'<span class="{direction}">{_pct(last30, prior30)}</span> vs the 30 before '
        f"({_money(prior30, cur, cents=False)})"
        if data.first_day <= data.last_day - timedelta(days=59)
        else "less than 60 days of data: no comparison yet"
    )
    cards = [
        _kpi(
            "kpi-total",
            f"Total spend, {_e(_window_text(data))}",
            _money(data.total, cur),
            split,
            f' data-billed-cost="{data.total.quantize(Decimal("0.01"))}"',
        ),
        _kpi("kpi-last30", "Last 30 days", _money(last30, cur, cents=False), comparison),
    ]
    if data.movers:
        kind, label, a, b = max(data.movers, key=lambda m: abs(m[2] - m[3]))
        delta = a - b
        cards.append(
            _kpi(
                "kpi-mover",
                f"Top mover ({_e(kind)}), last 30 vs prior 30",
                f'<span class="{"up" if delta > 0 else "down"}">'
                f"{'+' if delta >= 0 else '−'}{_money_short(abs(delta), cur)}</span>",
                f"{_e(_short_label(label, 44))}: {_money_short(b, cur)} → {_money_short(a, cur)}",
            )
        )
    bu = burn_up_numbers(data)
    budget = data.budget
    if budget and budget.amount is not None:
        budget_text = (
            f"forecast {_money_short(bu['forecast'], cur)} of a "
            f"{_money_short(budget.amount, cur)} budget "
            f"({bu['forecast'] / budget.amount * 100:.0f}%)"
        )
    else:
        budget_text = f"forecast {_money_short(bu['forecast'], cur)} by month end"
    cards.append(
        _kpi(
            "kpi-mtd",
            f"{bu['month']:%B} to date",
            _money(bu["this"][-1], cur, cents=False),
            budget_text,
        )
    )
    return '<section class="kpis">' + "".join(cards) + "</section>"


def _chart(id_: str, title: str, about: str, uri: str, note: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    return (
        f'<section class="chart" id="{id_}"><h2>{_e(title)}</h2>'
        f'<p class="about">{about}</p><img alt="{_e(title)}" src="{uri}">{note_html}</section>'
    )


def _anomaly_table(data: ReportData) -> str:
    if not data.anomalies:
        return "No day in the window was unusual by this check."
    rows = "".join(
        f"<tr><td>{a.day:%a %d %b}</td><td>{_money(a.cost, data.currency, cents=False)}</td>"
        f"<td>{_money(a.expected, data.currency, cents=False)}</td>"
        f'<td class="{"up" if a.delta > 0 else "down"}">'
        f"{'+' if a.delta > 0 else '−'}{_money(abs(a.delta), data.currency, cents=False)}</td>"
        f"<td>{a.score:+.1f}</td></tr>"
        for a in data.anomalies
    )
    return (
        "<table><tr><th>day</th><th>spend</th><th>expected</th><th>difference</th>"
        f"<th>score</th></tr>{rows}</table>"
    )


def render_html(data: ReportData) -> str:
    """The report page: headline numbers, then the charts, each titled and explained."""
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>tokenledger — spend report</title><style>{CSS}</style></head><body><main>"
    )
    generated = f"generated {data.generated_at:%Y-%m-%d %H:%M} UTC from {FACT}"
    if data.last_day is None:
        return (
            head + "<header><h1>Spend report</h1>"
            f"<p>{_e(generated)}</p></header>"
            '<div class="empty">The cost table has no rows yet: run <code>tokenledger run'
            "</code> (or <code>make demo</code>) first.</div></main></body></html>"
        )
    cur_note = (
        ""
        if len(data.currencies) <= 1
        else f" Amounts mix currencies ({', '.join(data.currencies)}) without conversion."
    )
    parts = [
        head,
        f"<header><h1>Spend report</h1><p>{_e(_window_text(data))} · billed cost in "
        f"{_e(data.currency)} · {_e(generated)}{_e(cur_note)}</p></header>",
        _headlines(data),
        _chart(
            "chart-daily",
            "Daily spend by provider",
            "Billed cost per UTC day, stacked by provider. Outlined bars are days the anomaly "
            "detector flags on total spend: far from a baseline that knows the weekly rhythm, "
            "trend, month-start batch jobs and holidays (robust score ≥ 4, at least $10 and "
            "25% away). Per-series anomalies are in marts.fct_spend_anomalies.",
            chart_daily_by_provider(data),
            _anomaly_table(data),
        ),
    ]
    pair = []
    for i, b in enumerate(data.breakdowns):
        about = f"The {len(b.rows)} biggest by billed cost over the window, coloured by provider."
        if b.column in ("sub_account_id", "x_api_key_id"):
            about += " Team and feature appear here instead once cost allocation lands."
        pair.append(
            _chart(f"chart-top-{i + 1}", b.title, about, chart_breakdown(data, b), _e(b.note))
        )
    if pair:
        parts.append('<div class="pair">' + "".join(pair) + "</div>")
    parts.append(
        _chart(
            "chart-models",
            "Model mix over time",
            "Billed cost per day by model; shades of green are OpenAI models, oranges "
            "Anthropic's (darker = more spend).",
            chart_model_mix(data),
        )
    )
    budget_note = data.budget.note if data.budget else "no budgets configured"
    parts.append(
        _chart(
            "chart-burn-up",
            "Month-to-date burn-up",
            "Cumulative billed cost this month against last month's pace by day of month, "
            f"with a straight-line forecast to month end. Budget: {_e(budget_note)}.",
            chart_burn_up(data),
        )
    )
    parts.append(
        f"<footer>tokenledger · {_e(generated)} · self-contained: this file makes no network "
        "requests.</footer></main></body></html>"
    )
    return "".join(parts)


def write_report(
    output: Path = DEFAULT_OUTPUT, days: int | None = DEFAULT_DAYS, warehouse: Any = None
) -> Path:
    """Read the warehouse, render the report, write it to `output`; the written path."""
    with warehouse_reader(warehouse) as con:
        data = load_report_data(con, days)
    page = render_html(data)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    return output.resolve()
