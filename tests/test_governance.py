"""Governance on a real run: simulator (seed 42, 40 days to 2026-10-31) → `run_pipeline` (real
dlt, real dbt) → budgets, limits and API keys → alerts to a real loopback webhook receiver.

What a FinOps user would notice: the team whose budget is set below its pace (support) is
warned by the forecast many days before it actually overruns, while teams within budget get no
such warning; the leaked key shows up once, as unknown, however often governance runs; a bad
budget seed row is rejected with its line and id; limits and the terminal tables show the
warehouse's numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import ownership
from simulator.server import serve
from simulator.world import World
from tokenledger.cli import main
from tokenledger.demo import SIM_ANTHROPIC_KEY, SIM_OPENAI_KEY
from tokenledger.governance import SeedError, load_seeds, run_governance
from tokenledger.governance.alerts import send_governance_alerts
from tokenledger.governance.budgets import evaluate_budgets, load_spend
from tokenledger.governance.forecast import forecast_period_end
from tokenledger.warehouse import Warehouse

SEED, DAYS, START = 42, 40, dt.date(2026, 9, 22)
MONTH = dt.date(2026, 10, 1)
SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
SECRET = "gov-webhook-secret-123"
CENT = Decimal("0.01")


class Receiver:
    """A loopback HTTP server recording every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def keys(self) -> list[str]:
        return [b["alert_key"] for b in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, days=DAYS, start=START)


@pytest.fixture(scope="module")
def run(world, tmp_path_factory):
    """One real pipeline run (alerts off), shared by the module's tests."""
    from tokenledger.pipeline import run_pipeline

    tmp = tmp_path_factory.mktemp("governance")
    db = tmp / "wh.duckdb"
    server = serve(world)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(tmp)  # no ./alerts.toml: the pipeline sends nothing
            mp.delenv("TOKENLEDGER_ALERTS_CONFIG", raising=False)
            mp.setenv("OPENAI_ADMIN_KEY", SIM_OPENAI_KEY)
            mp.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
            mp.setenv("ANTHROPIC_ADMIN_KEY", SIM_ANTHROPIC_KEY)
            mp.setenv("ANTHROPIC_BASE_URL", server.url)
            mp.delenv("TOKENLEDGER_WAREHOUSE", raising=False)
            mp.setenv("TOKENLEDGER_DUCKDB", str(db))
            result = run_pipeline(world.start, world.start + dt.timedelta(days=DAYS - 1), db)
    finally:
        server.shutdown()
    return {"db": db, "result": result}


@pytest.fixture()
def receiver(monkeypatch):
    monkeypatch.setenv("GOV_TEST_SECRET", SECRET)
    r = Receiver()
    yield r
    r.close()


def _config(receiver: Receiver) -> dict:
    return {
        "retry": {"attempts": 2, "backoff_seconds": 0.01, "timeout_seconds": 3},
        "channels": {
            "finops-hook": {
                "type": "webhook",
                "url": receiver.url,
                "secret_env": "GOV_TEST_SECRET",
                "kinds": ["budget", "api_key"],
            }
        },
    }


def _query(db: Path, sql: str) -> list[tuple]:
    with Warehouse.resolve(db).reader() as con:
        return con.execute(sql).fetchall()


# ---------------------------------------------------------------------- forecasts and alerts
def test_pipeline_publishes_governance_marts(run):
    result = run["result"]
    assert result.governance_error is None
    assert result.governance.as_of == START + dt.timedelta(days=DAYS - 1)
    tables = {
        r[0]
        for r in _query(
            run["db"],
            "select table_name from information_schema.tables where table_schema = 'marts'",
        )
    }
    assert {"fct_budget_status", "dim_api_keys", "fct_key_findings"} <= tables
    # grain: one row per budget or limit and as-of day
    dupes = _query(
        run["db"],
        "select budget_id, as_of_date, count(*) from marts.fct_budget_status "
        "group by 1, 2 having count(*) > 1",
    )
    assert dupes == []


def test_forecast_warns_days_before_the_overrun_and_not_teams_within_budget(run, receiver):
    """Replay October day by day as daily runs would see it: the forecast alert for support
    (budget below its pace) comes ≥ 7 days before its actual spend crosses 100 %; the teams
    within budget get neither a forecast nor an overrun alert; nothing is sent twice."""
    db = run["db"]
    seeds = load_seeds()
    with Warehouse.resolve(db).reader() as reader:
        spend, _ = load_spend(reader.connection, seeds.rates)
    empty = pd.DataFrame(columns=["finding_id"])
    first_day: dict[str, dt.date] = {}
    for offset in range(31):
        day = MONTH + dt.timedelta(days=offset)
        status = evaluate_budgets(seeds, spend, day, status_days=1)
        before = len(receiver.bodies)
        send_governance_alerts(db, status, empty, _config(receiver))
        for key in receiver.keys()[before:]:
            first_day.setdefault(key, day)
    keys = receiver.keys()
    assert len(keys) == len(set(keys)), "an alert was sent twice"

    forecast_key = f"budget:forecast:team-support-monthly:{MONTH}"
    overrun_key = f"budget:actual:team-support-monthly:{MONTH}:100"
    assert forecast_key in first_day and overrun_key in first_day
    # the overrun alert came on the day allocated spend really crossed the budget
    amount = float(seeds.budgets.set_index("budget_id").loc["team-support-monthly", "amount"])
    daily = _query(
        db,
        "select cast(charge_period_start as date) as d, sum(allocated_cost) from "
        f"marts.fct_cost_allocated where team = 'support' and charge_period_start >= '{MONTH}' "
        "group by 1 order by 1",
    )
    cumulative = np.cumsum([float(c) for _, c in daily])
    crossed = daily[int(np.argmax(cumulative >= amount))][0]
    assert first_day[overrun_key] == crossed
    lead = (first_day[overrun_key] - first_day[forecast_key]).days
    assert lead >= 7, f"forecast alert only {lead} days before the overrun"
    for team in ("search", "growth", "platform", "research"):
        assert f"budget:forecast:team-{team}-monthly:{MONTH}" not in first_day
        assert f"budget:actual:team-{team}-monthly:{MONTH}:100" not in first_day
    body = next(b for b in receiver.bodies if b["alert_key"] == forecast_key)
    assert body["fields"]["Owner"] == "support-lead@example.com"
    assert "forecast to reach" in body["text"]

    # a re-run of the last day sends nothing new
    sent = len(receiver.bodies)
    send_governance_alerts(
        db, evaluate_budgets(seeds, spend, day, status_days=1), empty, _config(receiver)
    )
    assert len(receiver.bodies) == sent


def test_forecast_interval_covers_a_seasonal_month():
    """A weekly-seasonal series (weekends at 40 %): the month-end forecast made on day 10 is
    within a few percent of the truth and the 80 % interval contains it."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2026-08-04", "2026-10-31", freq="D")
    level = np.where(days.day_of_week >= 5, 40.0, 100.0)
    cost = level * rng.normal(1, 0.05, len(days))
    as_of = days.get_loc(pd.Timestamp("2026-10-10"))
    history = cost[None, as_of - 55 : as_of + 1]
    actual = cost[days.get_loc(pd.Timestamp("2026-10-01")) : as_of + 1].sum()
    remaining = days[as_of + 1 :].day_of_week.to_numpy()[None, :]
    fc = forecast_period_end(
        history, days[as_of - 55 : as_of + 1].day_of_week.to_numpy(), np.array([actual]), remaining
    )
    truth = cost[days.get_loc(pd.Timestamp("2026-10-01")) :].sum()
    assert abs(fc["forecast"][0] - truth) / truth < 0.03
    assert fc["forecast_low"][0] <= truth <= fc["forecast_high"][0]


# ---------------------------------------------------------------------- API keys
def test_leaked_key_is_one_unknown_finding_across_runs(run, world, receiver):
    db = run["db"]
    leaked = next(k for k in world.api_keys() if k["is_leaked"])["api_key_id"]
    for _ in range(2):
        result = run_governance(db, alerts_config=_config(receiver))
        assert (result.findings["api_key_id"] == leaked).sum() == 1
    rows = _query(
        db,
        "select finding_kind, owner_email, owner_status, start_date, spend_usd "
        f"from marts.fct_key_findings where api_key_id = '{leaked}'",
    )
    assert len(rows) == 1
    kind, owner, owner_status, start, spend = rows[0]
    assert (kind, owner, owner_status) == ("unknown_key", None, "unknown")
    assert start == world.date_of(world.leak_day)
    truth = sum(r["billed_cost"] for r in world.truth_billed_cost() if r["api_key_id"] == leaked)
    assert Decimal(str(spend)).quantize(CENT) == truth.quantize(CENT)
    (status,) = _query(
        db, f"select key_status from marts.dim_api_keys where api_key_id = '{leaked}'"
    )
    assert status == ("unknown",)
    leak_alerts = [b for b in receiver.bodies if b["data"].get("api_key_id") == leaked]
    assert len(leak_alerts) == 1
    assert "owner unknown" in leak_alerts[0]["title"]
    # the runaway agent's key jumped: reported with its owner, once
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    owner = next(k for k in world.api_keys() if k["api_key_id"] == runaway.api_key_id)
    jumps = _query(
        db,
        "select owner_email, start_date from marts.fct_key_findings "
        f"where finding_kind = 'spend_jump' and api_key_id = '{runaway.api_key_id}'",
    )
    assert jumps == [(owner["owner_email"], runaway.start_date)]
    # every registered key of the world is in the inventory with its owner
    inventory = dict(_query(db, "select api_key_id, owner_email from marts.dim_api_keys"))
    for key in world.api_keys():
        if not key["is_leaked"]:
            assert inventory[key["api_key_id"]] == key["owner_email"]


# ---------------------------------------------------------------------- limits
def test_limits_compare_spend_with_the_truth(run, world):
    rows = _query(
        run["db"],
        "select budget_id, actual_cost_usd, forecast_cost_usd, status "
        "from marts.fct_budget_status where budget_kind = 'limit' "
        "and as_of_date = '2026-10-31'",
    )
    by_id = {r[0]: r[1:] for r in rows}
    assert set(by_id) == {"openai-org-monthly", "anthropic-org-monthly", "openai-agent-runner-key"}
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    october = [r for r in world.truth_billed_cost(start=MONTH, end=dt.date(2026, 11, 1))]
    truth = {
        "openai-org-monthly": sum(r["billed_cost"] for r in october if r["provider"] == "openai"),
        "anthropic-org-monthly": sum(
            r["billed_cost"] for r in october if r["provider"] == "anthropic"
        ),
        "openai-agent-runner-key": sum(
            r["billed_cost"] for r in october if r["api_key_id"] == runaway.api_key_id
        ),
    }
    limits = load_seeds().limits.set_index("limit_id")["monthly_limit"]
    for limit_id, (actual, forecast, status) in by_id.items():
        assert Decimal(str(actual)).quantize(CENT) == truth[limit_id].quantize(CENT)
        assert forecast == pytest.approx(actual)  # the last day of the month: nothing remains
        expected = "over" if actual >= limits[limit_id] else status
        assert status == expected and status in ("ok", "warning", "over")


def test_a_tight_key_limit_is_forecast_over_mid_month(run, world, tmp_path):
    """A limit on the agent runner's key below its pace: the forecast flags it before spend
    crosses it; the status names it."""
    seeds_dir = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds_dir)
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    (seeds_dir / "spend_limits.csv").write_text(
        "limit_id,provider,api_key_id,monthly_limit,currency,description\n"
        f"tight-key,openai,{runaway.api_key_id},3000,USD,tight\n"
    )
    seeds = load_seeds(seeds_dir)
    with Warehouse.resolve(run["db"]).reader() as reader:
        spend, _ = load_spend(reader.connection, seeds.rates)
    status = evaluate_budgets(seeds, spend, dt.date(2026, 10, 31), status_days=31)
    tight = status[status["budget_id"] == "tight-key"].set_index("as_of_date")
    first_forecast = tight.index[tight["status"] == "forecast_over"].min()
    first_over = tight.index[tight["status"] == "over"].min()
    assert first_forecast < first_over


# ---------------------------------------------------------------------- seeds
def test_demo_seeds_are_generated_from_the_world_and_valid():
    assert (SEEDS_DIR / "budgets.csv").read_text() == ownership.budgets_csv(SEED)
    assert (SEEDS_DIR / "spend_limits.csv").read_text() == ownership.spend_limits_csv(SEED)
    assert (SEEDS_DIR / "api_key_owners.csv").read_text() == ownership.api_key_owners_csv(SEED)
    seeds = load_seeds()
    leaked = next(k for k in World(seed=SEED, days=1).api_keys() if k["is_leaked"])
    assert leaked["api_key_id"] not in set(seeds.key_owners["api_key_id"])


BUDGET_HEADER = (SEEDS_DIR / "budgets.csv").read_text().splitlines()[0]


def _budget(
    budget_id,
    amount="100",
    currency="USD",
    team="",
    cost_centre="",
    parent="",
    period="monthly",
    provider="",
    model="",
):
    cols = dict(
        budget_id=budget_id,
        parent_budget_id=parent,
        team=team,
        cost_centre=cost_centre,
        application="",
        feature="",
        api_key_id="",
        provider=provider,
        model=model,
        period=period,
        amount=amount,
        currency=currency,
        alert_thresholds="50;100",
        effective_from="",
        effective_to="",
        owner_email="",
        description="",
    )
    return ",".join(cols[c] for c in BUDGET_HEADER.split(","))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [_budget("neg", amount="-500")],
            "budgets.csv line 2 (budget 'neg'): amount -500 is negative",
        ),
        (
            [_budget("ok"), _budget("ghost", team="marketing")],
            "budgets.csv line 3 (budget 'ghost'): unknown team 'marketing'",
        ),
        (
            [_budget("xyz", currency="XYZ")],
            "budgets.csv line 2 (budget 'xyz'): unknown currency 'XYZ'",
        ),
        (
            [_budget("chf", currency="CHF")],
            "budgets.csv line 2 (budget 'chf'): no exchange rate CHF→USD",
        ),
        (
            [_budget("a", team="search"), _budget("b", team="search")],
            "budgets.csv line 3 (budget 'b'): overlaps line 2 (budget 'a'): same scope team=search",
        ),
        (
            [
                _budget("cc", cost_centre="CC-1100"),
                _budget("t1", team="search", parent="cc", provider="openai"),
                _budget("t2", team="search", parent="cc", model="gpt-4o-2024-08-06"),
            ],
            "budgets.csv line 4 (budget 't2'): overlaps line 3 (budget 't1') inside parent 'cc'",
        ),
        (
            [
                _budget("cc", amount="100", cost_centre="CC-1100"),
                _budget("kid", amount="150", team="search", parent="cc"),
            ],
            "budgets.csv line 2 (budget 'cc'): its children 'kid' (line 3) add up to 150.00 USD",
        ),
        (
            [_budget("cc", cost_centre="CC-1100"), _budget("wrong", team="support", parent="cc")],
            "budgets.csv line 3 (budget 'wrong'): scope team=support is not inside its parent 'cc'",
        ),
    ],
    ids=[
        "negative",
        "unknown-team",
        "unknown-currency",
        "currency-without-rate",
        "overlap",
        "sibling-overlap",
        "children-exceed-parent",
        "outside-parent",
    ],
)
def test_bad_budget_rows_are_rejected_naming_the_row(tmp_path, rows, message, capsys):
    seeds_dir = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds_dir)
    (seeds_dir / "budgets.csv").write_text("\n".join([BUDGET_HEADER, *rows]) + "\n")
    with pytest.raises(SeedError) as err:
        load_seeds(seeds_dir)
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems
    assert main(["budgets", "--check", "--seeds-dir", str(seeds_dir)]) == 2
    assert message in capsys.readouterr().err


def test_a_rejected_seed_never_blocks_publishing(run, tmp_path, monkeypatch):
    """Governance with a bad seed raises naming the row; the pipeline reports it and keeps
    the published marts (its wrapper turns it into `governance_error`)."""
    from tokenledger import pipeline

    seeds_dir = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds_dir)
    with (seeds_dir / "budgets.csv").open("a") as fh:
        fh.write(_budget("broken", amount="-1") + "\n")
    monkeypatch.setattr("tokenledger.governance.seeds.SEEDS_DIR", seeds_dir)
    governance, error = pipeline._run_governance(Warehouse.resolve(run["db"]))
    assert governance is None
    assert "budgets.csv line 16 (budget 'broken'): amount -1 is negative" in error


# ---------------------------------------------------------------------- terminal
def test_cli_tables_show_status_forecast_and_owner(run, world, monkeypatch, capsys):
    monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(run["db"]))
    monkeypatch.delenv("TOKENLEDGER_WAREHOUSE", raising=False)
    assert main(["budgets"]) == 0
    out = capsys.readouterr().out
    support = next(line for line in out.splitlines() if "team-support-monthly" in line)
    assert "over" in support and "support-lead@example.com" in support
    assert "provider-anthropic-quarterly" in out and "EUR" in out
    assert main(["keys"]) == 0
    out = capsys.readouterr().out
    leaked = next(k for k in world.api_keys() if k["is_leaked"])["api_key_id"]
    line = next(line for line in out.splitlines() if leaked in line and "unknown_key" in line)
    assert "unknown" in line
    assert "shadow-usage check skipped" in out  # no telemetry in this warehouse: said so
    assert main(["anomalies", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    assert runaway.api_key_id in out and "platform" in out


# ---------------------------------------------------------------------- PostgreSQL
def test_same_results_on_postgresql_and_bi_role_reads_them(run, pg_warehouse):
    """The marts governance reads, copied to PostgreSQL: the same budgets, keys and findings
    come out, and the read-only BI role can read the governance marts."""
    import duckdb

    from tokenledger.warehouse import BI_ROLE, grant_bi_read

    con = duckdb.connect(str(run["db"]), read_only=True)
    try:
        copies = {
            ("marts", "fct_cost_allocated"): "select charge_period_start, team, cost_centre, "
            "application, x_api_key_id, x_provider, x_model, billing_currency, allocated_cost "
            "from marts.fct_cost_allocated",
            ("marts", "fct_cost_and_usage"): "select charge_period_start, x_provider, "
            "x_api_key_id, sub_account_id, billed_cost from marts.fct_cost_and_usage",
            ("marts", "fct_spend_anomalies"): "select * from marts.fct_spend_anomalies",
        }
        for name in ("stg_openai__usage_completions", "stg_anthropic__usage_messages"):
            copies[("staging", name)] = (
                "select api_key_id, sub_account_id, bucket_date, token_quantity "
                f"from staging.{name}"
            )
        frames = {k: con.sql(sql).df() for k, sql in copies.items()}
    finally:
        con.close()
    for (schema, table), df in frames.items():
        for col in df.columns:
            if col.endswith("_cost") or col == "cost":
                df[col] = df[col].astype(float)
        pg_warehouse.replace_table(schema, table, df)
    on_duckdb = run_governance(run["db"], send_alerts=False)
    on_pg = run_governance(pg_warehouse, send_alerts=False)
    a = on_duckdb.current().set_index("budget_id")["actual_cost_usd"]
    b = on_pg.current().set_index("budget_id")["actual_cost_usd"]
    assert (a - b.loc[a.index]).abs().max() < 0.01
    assert sorted(on_pg.findings["finding_id"]) == sorted(on_duckdb.findings["finding_id"])
    grant_bi_read(pg_warehouse.pg)
    con = pg_warehouse.pg.connect()
    try:
        with con.cursor() as cur:
            for table in ("fct_budget_status", "dim_api_keys", "fct_key_findings"):
                cur.execute(
                    "select has_table_privilege(%s, %s, 'select')", [BI_ROLE, f"marts.{table}"]
                )
                assert cur.fetchone()[0], f"{BI_ROLE} cannot read marts.{table}"
            cur.execute("select count(*) from marts.fct_key_findings")
            assert cur.fetchone()[0] == len(on_pg.findings)
    finally:
        con.close()


def test_feature_budgets_say_they_need_telemetry(run, tmp_path):
    """No telemetry attribution in this warehouse: a feature budget is `no_data` and says
    why, instead of showing $0 spent."""
    seeds_dir = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds_dir)
    with (seeds_dir / "budgets.csv").open("a") as fh:
        fh.write(_budget("feature-chat", amount="500", team="support") + "\n")
    text = (
        (seeds_dir / "budgets.csv")
        .read_text()
        .replace("feature-chat,,support,,,,", "feature-chat,,,,,chat-summaries,")
    )
    (seeds_dir / "budgets.csv").write_text(text)
    seeds = load_seeds(seeds_dir)
    with Warehouse.resolve(run["db"]).reader() as reader:
        spend, has_features = load_spend(reader.connection, seeds.rates)
    assert not has_features
    status = evaluate_budgets(
        seeds, spend, dt.date(2026, 10, 31), has_features=has_features, status_days=1
    )
    row = status.set_index("budget_id").loc["feature-chat"]
    assert row["feature"] == "chat-summaries"
    assert row["status"] == "no_data" and "marts.fct_cost_attributed" in row["data_note"]
    assert np.isnan(row["actual_cost_usd"])


def test_idle_unknown_and_shadow_keys_from_activity():
    """Key rules on small activity frames: a registered key unused for 30 days is idle, an
    unregistered one is unknown (once: not also shadow usage), and with telemetry a key that
    spends without any telemetry is shadow usage (a key with telemetry is not)."""
    from tokenledger.governance.keys import assess_keys

    as_of = dt.date(2026, 10, 31)
    days = [as_of - dt.timedelta(days=d) for d in range(40)]
    owners = pd.DataFrame(
        [
            ("openai", "key_busy", "proj_a", "a@example.com", "search", ""),
            ("openai", "key_quiet", "proj_a", "b@example.com", "search", ""),
            ("openai", "key_traced", "proj_a", "c@example.com", "search", ""),
        ],
        columns=["provider", "api_key_id", "sub_account_id", "owner_email", "team", "description"],
    )
    cost = pd.DataFrame(
        [("openai", "key_busy", "proj_a", d, 10.0) for d in days]
        + [("openai", "key_traced", "proj_a", d, 5.0) for d in days]
        + [("openai", "key_quiet", "proj_a", days[-1], 1.0)]  # last used 39 days ago
        + [("openai", "key_stranger", "proj_a", d, 3.0) for d in days[:4]],
        columns=["provider", "api_key_id", "sub_account_id", "date", "cost"],
    )
    usage = pd.DataFrame(columns=["provider", "api_key_id", "sub_account_id", "date", "tokens"])
    telemetry = pd.DataFrame(
        [("openai", "key_traced", d, 100) for d in days[:7]],
        columns=["provider", "api_key_id", "date", "calls"],
    )
    activity = {"cost": cost, "usage": usage, "telemetry": telemetry}
    inventory, findings = assess_keys(owners, activity, as_of)
    status = inventory.set_index("api_key_id")["key_status"].to_dict()
    assert status == {
        "key_busy": "active",
        "key_quiet": "idle",
        "key_stranger": "unknown",
        "key_traced": "active",
    }
    kinds = sorted(zip(findings["finding_kind"], findings["api_key_id"], strict=True))
    assert kinds == [
        ("idle_key", "key_quiet"),
        ("shadow_usage", "key_busy"),
        ("unknown_key", "key_stranger"),
    ]
    stranger = findings[findings["finding_kind"] == "unknown_key"].iloc[0]
    assert stranger["owner_status"] == "unknown" and stranger["spend_usd"] == 12.0
