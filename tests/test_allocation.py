"""Allocation of billed cost to teams, on a real run: simulator (seed 42, the world the demo's
allocation seeds describe) → `tokenledger run` (real dlt, real dbt) → marts.fct_cost_allocated.

What a finance user would notice: every dollar billed is allocated or visibly unallocated
(per provider and day, to the cent, under each split method); the leaked key's spend is
unallocated; each team is charged exactly its own spend per the simulator's ground truth —
plus its share of the shared costs the seed rules split — and never another team's rows.
The expected figures are computed here independently of the SQL, from `World` data.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from simulator.ownership import allocation_rule_rows, allocation_rules_csv, teams_csv
from simulator.server import serve
from simulator.world import World
from tokenledger.cli import main
from tokenledger.demo import SIM_ANTHROPIC_KEY, SIM_OPENAI_KEY
from tokenledger.warehouse import Warehouse

SEED, DAYS = 42, 14
SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
MATCH_DIMS = ("provider", "billing_account_id", "sub_account_id", "api_key_id", "model")
UNUSED_DIMS = ("tag_key", "tag_value", "kubernetes_namespace")
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, days=DAYS)


@pytest.fixture(scope="module")
def warehouse(world, tmp_path_factory) -> Path:
    """One real pipeline run into a DuckDB file, shared by the module's tests."""
    db = tmp_path_factory.mktemp("allocation") / "wh.duckdb"
    server = serve(world)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OPENAI_ADMIN_KEY", SIM_OPENAI_KEY)
            mp.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
            mp.setenv("ANTHROPIC_ADMIN_KEY", SIM_ANTHROPIC_KEY)
            mp.setenv("ANTHROPIC_BASE_URL", server.url)
            mp.setenv("TOKENLEDGER_DUCKDB", str(db))
            mp.delenv("TOKENLEDGER_WAREHOUSE", raising=False)
            last = world.start + timedelta(days=world.days - 1)
            assert main(["run", "--start", str(world.start), "--end", str(last), "--quiet"]) == 0
    finally:
        server.shutdown()
    return db


def _query(db: Path, sql: str) -> list[tuple]:
    with Warehouse.resolve(db).reader() as con:
        return con.execute(sql).fetchall()


# ---------------------------------------------------------------- an independent oracle
def _rules(world: World) -> list[dict]:
    """The seed's rules grouped: one dict per rule with its targets and specificity."""
    rules: dict[str, dict] = {}
    for row in allocation_rule_rows(world):
        rule = rules.setdefault(
            row["rule_id"],
            {
                **{d: row[d] for d in MATCH_DIMS + UNUSED_DIMS},
                "rule_id": row["rule_id"],
                "method": row["split_method"],
                "targets": [],
            },
        )
        rule["targets"].append((row["team"], Decimal(row["split_percent"] or 0)))
    for rule in rules.values():
        rule["specificity"] = sum(rule[d] is not None for d in MATCH_DIMS + UNUSED_DIMS)
    return list(rules.values())


def _winner(rules: list[dict], row: dict) -> dict | None:
    """The most specific rule whose named dimensions equal the row's; ties fail the test."""
    found = [
        r
        for r in rules
        if all(r[d] is None for d in UNUSED_DIMS)
        and all(r[d] is None or r[d] == row[d] for d in MATCH_DIMS)
    ]
    if not found:
        return None
    top = max(r["specificity"] for r in found)
    best = [r for r in found if r["specificity"] == top]
    assert len(best) == 1, f"tie between {[r['rule_id'] for r in best]} on {row}"
    return best[0]


def _org(world: World, provider: str) -> str:
    return world.openai_org_id if provider == "openai" else world.anthropic_org_id


def _owner(world: World, provider: str, sub_account_id, api_key_id) -> str | None:
    """The team that owns a bill row in the simulator's world (None: the leaked key)."""
    for key in world.api_keys():
        if api_key_id is not None and (key["provider"], key["api_key_id"]) == (
            provider,
            api_key_id,
        ):
            return key["team"]
    for sub in world.sub_accounts():
        if (sub["provider"], sub["sub_account_id"]) == (provider, sub_account_id):
            return sub["team"]
    raise AssertionError(f"unknown sub account {provider} {sub_account_id}")


def _direct_token_drivers(world: World, db: Path, rules: list[dict]) -> dict:
    """Tokens per (provider, day, team) on fact rows a direct rule places (proportional's
    driver), from the fact's quantities (the truth has none)."""
    drivers: dict = defaultdict(Decimal)
    rows = _query(
        db,
        "select x_provider, cast(charge_period_start as date)::varchar, sub_account_id, "
        "x_api_key_id, x_model, cast(consumed_quantity as varchar) "
        "from marts.fct_cost_and_usage where consumed_unit = 'Tokens' "
        "and consumed_quantity is not null",
    )
    for provider, day, sub, key, model, quantity in rows:
        row = dict(
            provider=provider,
            billing_account_id=_org(world, provider),
            sub_account_id=sub,
            api_key_id=key,
            model=model,
        )
        rule = _winner(rules, row)
        if rule and rule["method"] == "direct":
            drivers[(provider, day, rule["targets"][0][0])] += Decimal(quantity)
    return drivers


def _expected_by_team_day(world: World, db: Path) -> dict[tuple[str, str, str], Decimal]:
    """Σ expected allocated cost per (team, provider, day) from the truth and the rules."""
    rules = _rules(world)
    drivers = _direct_token_drivers(world, db, rules)
    out: dict = defaultdict(Decimal)
    for t in world.truth_billed_cost():
        day = str(t["date"])
        row = dict(t, billing_account_id=_org(world, t["provider"]))
        rule = _winner(rules, row)
        cost = t["billed_cost"]
        if rule is None:
            out[("unallocated", t["provider"], day)] += cost
            continue
        teams = [team for team, _ in rule["targets"]]
        if rule["method"] == "direct":
            weights = [Decimal(1)]
        elif rule["method"] == "even":
            weights = [Decimal(1)] * len(teams)
        elif rule["method"] == "fixed":
            weights = [pct for _, pct in rule["targets"]]
        else:
            weights = [drivers.get((t["provider"], day, team), Decimal(0)) for team in teams]
            if sum(weights) == 0:
                weights = [Decimal(1)] * len(teams)
        for team, weight in zip(teams, weights, strict=True):
            out[(team, t["provider"], day)] += cost * weight / sum(weights)
    return out


# ---------------------------------------------------------------- tests
def test_seed_files_are_the_worlds_ownership(capsys):
    """The committed seeds are exactly what the generator writes for seed 42 (CLI too)."""
    assert (SEEDS_DIR / "allocation_rules.csv").read_text() == allocation_rules_csv(42)
    assert (SEEDS_DIR / "teams.csv").read_text() == teams_csv()
    assert main(["simulate", "ownership", "--seed", "42"]) == 0
    assert capsys.readouterr().out == allocation_rules_csv(42)


def test_every_direct_rule_names_the_true_owner(world):
    """Where a direct rule places a bill row, it is the team the world says owns it."""
    rules = _rules(world)
    checked = 0
    for t in world.truth_billed_cost():
        rule = _winner(rules, dict(t, billing_account_id=_org(world, t["provider"])))
        owner = _owner(world, t["provider"], t["sub_account_id"], t["api_key_id"])
        if rule is None:
            assert owner is None, f"owned row left unallocated: {t}"
        elif rule["method"] == "direct":
            assert rule["targets"][0][0] == owner, f"{rule['rule_id']} charges the wrong team"
            checked += 1
    assert checked > 0


def test_conservation_per_provider_day_under_every_method(warehouse, world):
    """Σ allocated (unallocated included) = Σ billed per provider and day, exactly; and per
    split method, the shares of its rows add up to those rows' billed cost."""
    allocated = dict(
        ((p, d), Decimal(c))
        for p, d, c in _query(
            warehouse,
            "select x_provider, cast(charge_period_start as date)::varchar, "
            "sum(allocated_cost)::varchar from marts.fct_cost_allocated group by 1, 2",
        )
    )
    billed = dict(
        ((p, d), Decimal(c))
        for p, d, c in _query(
            warehouse,
            "select x_provider, cast(charge_period_start as date)::varchar, "
            "sum(billed_cost)::varchar from marts.fct_cost_and_usage group by 1, 2",
        )
    )
    assert allocated == billed
    assert len(billed) == 2 * DAYS
    truth: dict = defaultdict(Decimal)
    for t in world.truth_billed_cost():
        truth[(t["provider"], str(t["date"]))] += t["billed_cost"]
    assert {k: v.quantize(CENT) for k, v in allocated.items()} == {
        k: v.quantize(CENT) for k, v in truth.items()
    }

    per_method = _query(
        warehouse,
        """
        with shares as (
            select x_cost_row_key, min(x_allocation_method) as method,
                   sum(allocated_cost) as allocated, count(*) as n
            from marts.fct_cost_allocated group by x_cost_row_key
        )
        select shares.method, fact.x_provider, cast(fact.charge_period_start as date),
               sum(shares.allocated)::varchar, sum(fact.billed_cost)::varchar,
               max(shares.n)
        from shares join marts.fct_cost_and_usage as fact using (x_cost_row_key)
        group by 1, 2, 3
        """,
    )
    methods = {m for m, *_ in per_method}
    assert methods == {"direct", "even", "fixed", "proportional", "unallocated"}
    for method, provider, day, alloc, bill, n in per_method:
        assert Decimal(alloc) == Decimal(bill), (method, provider, day)
        if method in ("direct", "unallocated"):
            assert n == 1, (method, provider, day)
    assert max(n for m, *_, n in per_method if m != "direct") > 1  # splits really split


def test_leaked_key_spend_is_unallocated(warehouse, world):
    """The leaked key (owned by nobody) matches no rule: its spend shows as `unallocated`,
    to the nano, and nothing else is unallocated in the demo world."""
    leaked = next(k for k in world.api_keys() if k["is_leaked"])
    truth = sum(
        (
            t["billed_cost"]
            for t in world.truth_billed_cost()
            if t["api_key_id"] == leaked["api_key_id"]
        ),
        Decimal(0),
    )
    assert truth > 0
    rows = _query(
        warehouse,
        "select team, x_allocation_rule_id, x_allocation_method, sum(allocated_cost)::varchar "
        f"from marts.fct_cost_allocated where x_api_key_id = '{leaked['api_key_id']}' "
        "group by 1, 2, 3",
    )
    assert rows == [("unallocated", None, "unallocated", str(truth))]
    (other,) = _query(
        warehouse,
        "select count(*) from marts.fct_cost_allocated where team = 'unallocated' "
        f"and x_api_key_id is distinct from '{leaked['api_key_id']}'",
    )[0]
    assert other == 0


def test_team_cost_matches_truth_and_no_cross_charging(warehouse, world):
    """Per team, provider and day, allocated cost = the truth's cost of the team's own rows
    (direct rules) plus its share of shared rows, to the cent; a direct row is never charged
    to anyone but its owner, and a split row only to its rule's targets."""
    expected = _expected_by_team_day(world, warehouse)
    actual = {
        (team, p, d): Decimal(c)
        for team, p, d, c in _query(
            warehouse,
            "select team, x_provider, cast(charge_period_start as date)::varchar, "
            "sum(allocated_cost)::varchar from marts.fct_cost_allocated group by 1, 2, 3",
        )
    }
    keys = {k for k, v in expected.items() if v.quantize(CENT) != 0} | {
        k for k, v in actual.items() if v.quantize(CENT) != 0
    }
    wrong = {
        k: (actual.get(k, Decimal(0)), expected.get(k, Decimal(0)))
        for k in keys
        if actual.get(k, Decimal(0)).quantize(CENT) != expected.get(k, Decimal(0)).quantize(CENT)
    }
    assert wrong == {}
    assert {team for team, _, _ in keys} == {
        "search",
        "support",
        "growth",
        "platform",
        "research",
        "unallocated",
    }

    targets = {r["rule_id"]: {t for t, _ in r["targets"]} for r in _rules(world)}
    rows = _query(
        warehouse,
        "select distinct x_provider, sub_account_id, x_api_key_id, team, "
        "x_allocation_rule_id, x_allocation_method from marts.fct_cost_allocated "
        "where team <> 'unallocated'",
    )
    for provider, sub, key, team, rule_id, method in rows:
        if method == "direct":
            assert team == _owner(world, provider, sub, key), (rule_id, sub, key)
        else:
            assert team in targets[rule_id], (rule_id, team)


def test_report_charts_spend_by_team(warehouse, tmp_path):
    """The HTML report's top breakdown reads the allocation mart's `team` column, and the
    report is written from it (`unallocated` shown as a team)."""
    from tokenledger.report import _pick_breakdowns, warehouse_reader, write_report

    with warehouse_reader(warehouse) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        picked = _pick_breakdowns(con, [tuple(t) for t in tables])
    assert picked[0][:4] == ("Top teams", "team", "marts.fct_cost_allocated", "team")
    html = write_report(tmp_path / "report.html", warehouse=warehouse).read_text()
    assert "Top teams" in html
