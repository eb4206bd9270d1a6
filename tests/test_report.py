"""The cost report: built from a real pipeline run over the simulator, opened in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright; `scripts/test-setup.d/chromium.sh`
installs it), and checked the way a reader would notice a broken one: charts that did not
draw, blank chart areas, console errors, requests leaving the file, a wrong headline total.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from simulator.server import serve
from simulator.world import World
from tokenledger.cli import main
from tokenledger.report import flag_spend_anomalies, load_report_data, render_html

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHART_IDS = ["chart-daily", "chart-top-1", "chart-top-2", "chart-models", "chart-burn-up"]


@pytest.fixture()
def report_from_pipeline(provider_env, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """The real pipeline over 40 simulated days (this month and part of the last) into a
    fresh DuckDB file, then `tokenledger report`: (warehouse, report)."""
    world = World(seed=5, days=40)
    server = serve(world)
    try:
        provider_env(server)
        db = tmp_path / "wh.duckdb"
        monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(db))
        last = world.start + timedelta(days=world.days - 1)
        assert main(["run", "--start", str(world.start), "--end", str(last), "--quiet"]) == 0
    finally:
        server.shutdown()
    report = tmp_path / "out" / "report.html"
    assert main(["report", "--output", str(report), "--days", "90"]) == 0
    return db, report


def _pixel_spread(png: bytes) -> tuple[float, int]:
    """(variance of the grey levels, number of distinct colours) of a screenshot."""
    import io

    from PIL import Image, ImageStat

    image = Image.open(io.BytesIO(png)).convert("RGB")
    grey = ImageStat.Stat(image.convert("L"))
    colours = image.getcolors(maxcolors=1 << 20) or []
    return grey.var[0], len(colours)


def test_report_renders_in_headless_chromium(report_from_pipeline, tmp_path):
    from playwright.sync_api import sync_playwright

    db, report = report_from_pipeline
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make test-setup` (scripts/test-setup.d/chromium.sh)"
        )
    html = report.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # nothing to fetch, even by mistake

    problems: list[str] = []
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console",
                lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None,
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("request", lambda r: requested.append(r.url))
            page.goto(report.as_uri(), wait_until="load")

            for chart_id in CHART_IDS:
                section = page.locator(f"#{chart_id}")
                img = section.locator("img")
                assert img.count() == 1, chart_id
                box = img.bounding_box()
                assert box and box["width"] > 200 and box["height"] > 100, (chart_id, box)
                decoded = img.evaluate("i => i.complete && i.naturalWidth > 0")
                assert decoded, f"{chart_id}: the chart image did not decode"
                variance, colours = _pixel_spread(section.screenshot())
                assert variance > 50 and colours > 20, (chart_id, variance, colours)

            headline = page.locator("#kpi-total")
            shown_value = headline.get_attribute("data-billed-cost")
            shown_text = headline.locator(".value").inner_text()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()

    assert problems == []
    assert all(u.startswith(("file:", "data:")) for u in requested), requested

    con = duckdb.connect(str(db), read_only=True)
    try:
        (fact_total,) = con.execute(
            "select sum(billed_cost) from marts.fct_cost_and_usage"
        ).fetchone()
    finally:
        con.close()
    expected = Decimal(fact_total).quantize(Decimal("0.01"))
    assert expected > 0
    assert Decimal(shown_value) == expected
    assert shown_text == f"${expected:,.2f}"


def test_unusual_days_are_flagged_against_the_same_weekday():
    start = date(2026, 3, 2)  # a Monday
    costs = {}
    for i in range(56):
        day = start + timedelta(days=i)
        costs[day] = 300.0 if day.weekday() >= 5 else 1000.0 + 10 * (i % 3)
    spike = start + timedelta(days=45)  # a Thursday at 3x its usual spend
    dip = start + timedelta(days=47)  # a Saturday at a tenth of a usual Saturday
    small = start + timedelta(days=54)  # a Saturday +$60: 20%, under the 25% gate
    costs[spike], costs[dip], costs[small] = 3000.0, 30.0, 360.0
    flagged = flag_spend_anomalies(sorted(costs.items()))
    assert [a.day for a in flagged] == [spike, dip]
    assert flagged[0].expected == pytest.approx(1010.0, abs=10) and flagged[0].score > 4
    assert flagged[1].delta == pytest.approx(-270.0, abs=5) and flagged[1].score < -4
    # quiet weekends are the weekly rhythm, not anomalies
    assert not any(d.weekday() >= 5 for d in (a.day for a in flagged) if d != dip)


def test_month_start_batch_is_not_flagged_once_seen():
    start = date(2026, 1, 5)
    costs = {start + timedelta(days=i): 1000.0 + 5 * (i % 4) for i in range(90)}
    for day in costs:
        if day.day == 1:
            costs[day] += 1500.0  # the month-start batch job
    flagged = {a.day for a in flag_spend_anomalies(sorted(costs.items()))}
    # a recurring month-start batch is the monthly rhythm: never flagged
    assert not {date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)} & flagged


def _fake_warehouse(path: Path, with_team: bool, with_budget: bool) -> None:
    """A tiny warehouse with the fact's columns the report reads (plus team / budgets)."""
    con = duckdb.connect(str(path))
    team = ", x_team varchar" if with_team else ""
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_cost_and_usage (charge_period_start timestamp, "
        "provider_name varchar, sub_account_id varchar, x_api_key_id varchar, "
        f"x_model varchar, billed_cost decimal(38, 9), billing_currency varchar, "
        f"x_billed_cost_reporting decimal(38, 9), x_reporting_currency varchar{team})"
    )
    rows = []
    for i in range(70):
        day = date(2026, 9, 1) + timedelta(days=i)
        for provider, model, team_name, cost in [
            ("OpenAI", "gpt-4o", "search", 40 + i),
            ("Anthropic", "claude-sonnet-4", "support", 25),
        ]:
            rows.append(
                (day, provider, "proj_1", "key_1", model, cost, "USD", cost, "USD")
                + ((team_name,) if with_team else ())
            )
    marks = ", ".join(["?"] * len(rows[0]))
    con.executemany(f"insert into marts.fct_cost_and_usage values ({marks})", rows)
    if with_budget:
        con.execute("create schema seeds")
        con.execute("create table seeds.budgets (budget_month date, budget_amount decimal)")
        con.execute("insert into seeds.budgets values ('2026-11-01', 5000), ('2026-10-01', 1)")
    con.close()


def test_breakdowns_switch_to_teams_and_budget_line_appears(tmp_path):
    plain, teamed = tmp_path / "plain.duckdb", tmp_path / "teamed.duckdb"
    _fake_warehouse(plain, with_team=False, with_budget=False)
    _fake_warehouse(teamed, with_team=True, with_budget=True)

    with duckdb.connect(str(plain), read_only=True) as con:
        data = load_report_data(con, days=30)
    assert [b.title for b in data.breakdowns] == ["Top projects / workspaces", "Top API keys"]
    assert data.budget.amount is None
    page = render_html(data)
    assert "no budgets configured" in page
    assert data.total == Decimal(sum(40 + i + 25 for i in range(40, 70)))

    with duckdb.connect(str(teamed), read_only=True) as con:
        data = load_report_data(con, days=30)
    assert [b.title for b in data.breakdowns] == ["Top teams", "Top projects / workspaces"]
    assert [r[0] for r in data.breakdowns[0].rows] == ["search", "support"]
    assert data.budget.amount == 5000.0
    assert "of a $5k budget" in render_html(data)


def test_report_needs_a_warehouse(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(tmp_path / "none.duckdb"))
    assert main(["report", "--output", str(tmp_path / "r.html")]) == 1
    assert "no warehouse" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
