"""The governance seeds, read and checked before anything is computed from them.

`seeds/budgets.csv` (one row per budget), `seeds/api_key_owners.csv` (one row per registered
API key), `seeds/spend_limits.csv` (one row per provider- or key-level monthly limit). They
are read from the CSV files (the same files dbt loads into the `seeds` schema), so that every
problem names its file, line and id: `seeds/budgets.csv line 7 (budget 'x'): ...`. A seed
with any problem is rejected whole (`SeedError` lists every problem), never half-applied.

Budget scope: the dimensions `team`, `cost_centre`, `application`, `feature`, `api_key_id`,
`provider`, `model`; an empty dimension is a wildcard (all empty = the whole organisation).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tokenledger.governance.currency import usd_rate
from tokenledger.paths import PROJECT_DIR

SEEDS_DIR = PROJECT_DIR / "seeds"
SCOPE_DIMS = ("team", "cost_centre", "application", "feature", "api_key_id", "provider", "model")
PERIODS = {"monthly": 1, "quarterly": 3}
BUDGET_COLUMNS = (
    "budget_id",
    "parent_budget_id",
    *SCOPE_DIMS,
    "period",
    "amount",
    "currency",
    "alert_thresholds",
    "effective_from",
    "effective_to",
    "owner_email",
    "description",
)
OWNER_COLUMNS = ("provider", "api_key_id", "sub_account_id", "owner_email", "team", "description")
LIMIT_COLUMNS = ("limit_id", "provider", "api_key_id", "monthly_limit", "currency", "description")
DEFAULT_THRESHOLDS = (50.0, 80.0, 100.0)


class SeedError(ValueError):
    """A governance seed is invalid; `problems` name the file, line and row id of each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid governance seed(s):\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Seeds:
    """The validated governance seeds (frames with one row per seed row, `line` kept)."""

    budgets: pd.DataFrame
    key_owners: pd.DataFrame
    limits: pd.DataFrame
    teams: pd.DataFrame
    rates: pd.DataFrame


def _read(path: Path, columns: tuple[str, ...], required: bool) -> tuple[list[dict], list[str]]:
    """Rows of a CSV (empty strings → None) with their line numbers in `line`."""
    if not path.exists():
        return [], ([f"{path.name}: file missing"] if required else [])
    rows, problems = [], []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            return [], [f"{path.name}: missing column(s) {', '.join(missing)}"]
        start = 2
        for raw in reader:
            row = {
                k: (v.strip() if isinstance(v, str) and v.strip() else None) for k, v in raw.items()
            }
            row["line"] = start
            start = reader.line_num + 1
            rows.append(row)
    return rows, problems


def _number(value: str | None) -> float | None:
    try:
        out = float(value) if value is not None else None
    except ValueError:
        return None
    return out if out is None or math.isfinite(out) else None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _where(file: str, row: dict, id_col: str, kind: str) -> str:
    return f"{file} line {row['line']} ({kind} {row.get(id_col)!r})"


def _scope(row: dict) -> dict[str, str]:
    return {d: row[d] for d in SCOPE_DIMS if isinstance(row.get(d), str) and row[d]}


def describe_scope(row: dict) -> str:
    """`team=search, provider=openai`, or `organisation` for an all-wildcard scope."""
    scope = _scope(row)
    return ", ".join(f"{k}={v}" for k, v in scope.items()) or "organisation"


def _windows_overlap(a: dict, b: dict) -> bool:
    a0, a1 = a["_from"] or dt.date.min, a["_to"] or dt.date.max
    b0, b1 = b["_from"] or dt.date.min, b["_to"] or dt.date.max
    return a0 < b1 and b0 < a1


def _can_share_spend(a: dict[str, str], b: dict[str, str], implied: dict) -> bool:
    """Could one cost row fall in both scopes? (No dimension on which they disagree.)"""
    a, b = implied(a), implied(b)
    return all(a[d] == b[d] for d in set(a) & set(b))


def validate_budgets(
    rows: list[dict],
    teams: pd.DataFrame,
    currencies: set[str],
    rates: pd.DataFrame,
    providers: set[str],
    app_teams: dict[str, str],
) -> list[str]:
    """Every problem of the budget rows, each naming its line and budget id."""
    file = "budgets.csv"
    problems: list[str] = []
    known_teams = set(teams["team"])
    team_cc = dict(zip(teams["team"], teams["cost_centre"], strict=True))
    known_cc = set(teams["cost_centre"])
    by_id: dict[str, dict] = {}

    def implied(scope: dict[str, str]) -> dict[str, str]:
        out = dict(scope)
        if "application" in out and "team" not in out and out["application"] in app_teams:
            out["team"] = app_teams[out["application"]]
        if "team" in out and "cost_centre" not in out and out["team"] in team_cc:
            out["cost_centre"] = team_cc[out["team"]]
        return out

    for row in rows:
        where = _where(file, row, "budget_id", "budget")
        bid = row.get("budget_id")
        if not bid:
            problems.append(f"{where}: budget_id is empty")
            continue
        if bid in by_id:
            problems.append(f"{where}: budget_id repeats line {by_id[bid]['line']}")
            continue
        by_id[bid] = row
        amount = _number(row.get("amount"))
        if amount is None:
            problems.append(f"{where}: amount {row.get('amount')!r} is not a number")
        elif amount < 0:
            problems.append(f"{where}: amount {row['amount']} is negative")
        elif amount == 0:
            problems.append(f"{where}: amount is 0 (delete the row to drop the budget)")
        row["_amount"] = amount
        currency = row.get("currency")
        if currency not in currencies:
            problems.append(
                f"{where}: unknown currency {currency!r} (not in seeds/currency_codes.csv)"
            )
        elif currency != "USD" and rates[rates["from_currency"] == currency].empty:
            problems.append(f"{where}: no exchange rate {currency}→USD in seeds/exchange_rates.csv")
        if row.get("period") not in PERIODS:
            problems.append(
                f"{where}: period {row.get('period')!r} is not one of {', '.join(PERIODS)}"
            )
        if row.get("team") and row["team"] not in known_teams:
            problems.append(f"{where}: unknown team {row['team']!r} (not in seeds/teams.csv)")
        if row.get("cost_centre") and row["cost_centre"] not in known_cc:
            problems.append(
                f"{where}: unknown cost centre {row['cost_centre']!r} (not in seeds/teams.csv)"
            )
        if row.get("team") and row.get("cost_centre") and row["team"] in team_cc:
            if team_cc[row["team"]] != row["cost_centre"]:
                problems.append(
                    f"{where}: team {row['team']} belongs to cost centre "
                    f"{team_cc[row['team']]}, not {row['cost_centre']}"
                )
        if row.get("provider") and providers and row["provider"] not in providers:
            problems.append(
                f"{where}: unknown provider {row['provider']!r} (not in seeds/providers.csv)"
            )
        thresholds = []
        for part in (row.get("alert_thresholds") or "").replace(",", ";").split(";"):
            if not part.strip():
                continue
            value = _number(part.strip())
            if value is None or value <= 0 or value > 1000:
                problems.append(
                    f"{where}: alert threshold {part.strip()!r} is not a percent in (0, 1000]"
                )
            else:
                thresholds.append(value)
        row["_thresholds"] = tuple(sorted(set(thresholds))) or DEFAULT_THRESHOLDS
        try:
            row["_from"], row["_to"] = (
                _date(row.get("effective_from")),
                _date(row.get("effective_to")),
            )
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            row["_from"] = row["_to"] = None
        if row["_from"] and row["_to"] and row["_to"] <= row["_from"]:
            problems.append(f"{where}: effective_to is not after effective_from")

    budgets = list(by_id.values())
    # the same scope budgeted twice for the same period and days: which one applies?
    for i, a in enumerate(budgets):
        for b in budgets[i + 1 :]:
            if (
                _scope(a) == _scope(b)
                and a.get("period") == b.get("period")
                and _windows_overlap(a, b)
            ):
                problems.append(
                    f"{_where(file, b, 'budget_id', 'budget')}: overlaps line {a['line']} "
                    f"(budget {a['budget_id']!r}): same scope {describe_scope(a)}, both "
                    f"{a.get('period')}, effective days overlap"
                )
    # nesting: the parent exists, the child is inside it, children fit in it and never overlap
    children: dict[str, list[dict]] = {}
    for row in budgets:
        parent_id = row.get("parent_budget_id")
        if not parent_id:
            continue
        where = _where(file, row, "budget_id", "budget")
        parent = by_id.get(parent_id)
        if parent is None:
            problems.append(f"{where}: parent_budget_id {parent_id!r} is not a budget")
            continue
        seen, node = {row["budget_id"]}, parent
        while node is not None and node.get("parent_budget_id"):
            if node["budget_id"] in seen:
                break
            seen.add(node["budget_id"])
            node = by_id.get(node["parent_budget_id"])
        if node is not None and node.get("parent_budget_id") and node["budget_id"] in seen:
            problems.append(f"{where}: parent_budget_id makes a cycle")
            continue
        if row.get("period") != parent.get("period"):
            problems.append(
                f"{where}: period {row.get('period')} differs from its parent "
                f"{parent_id!r} ({parent.get('period')})"
            )
        child_scope, parent_scope = implied(_scope(row)), _scope(parent)
        outside = [d for d, v in parent_scope.items() if child_scope.get(d) != v]
        if outside:
            problems.append(
                f"{where}: scope {describe_scope(row)} is not inside its parent {parent_id!r} "
                f"({describe_scope(parent)})"
            )
        children.setdefault(parent_id, []).append(row)
    for parent_id, kids in children.items():
        parent = by_id[parent_id]
        for i, a in enumerate(kids):
            for b in kids[i + 1 :]:
                if _can_share_spend(_scope(a), _scope(b), implied) and _windows_overlap(a, b):
                    problems.append(
                        f"{_where(file, b, 'budget_id', 'budget')}: overlaps line {a['line']} "
                        f"(budget {a['budget_id']!r}) inside parent {parent_id!r}: scopes "
                        f"{describe_scope(b)} and {describe_scope(a)} can count the same spend"
                    )
        if parent.get("_amount") is None or any(k.get("_amount") is None for k in kids):
            continue
        today = dt.datetime.now(dt.UTC).date()
        rate_p = usd_rate(rates, parent.get("currency") or "USD", today)
        rates_k = [usd_rate(rates, k.get("currency") or "USD", today) for k in kids]
        if rate_p is None or None in rates_k:
            continue
        total = sum(k["_amount"] * r for k, r in zip(kids, rates_k, strict=True))
        if total > parent["_amount"] * rate_p + 0.005:
            names = ", ".join(f"{k['budget_id']!r} (line {k['line']})" for k in kids)
            problems.append(
                f"{_where(file, parent, 'budget_id', 'budget')}: its children {names} add up "
                f"to {total:,.2f} USD, more than its {parent['_amount'] * rate_p:,.2f} USD"
            )
    return problems


def validate_key_owners(rows: list[dict], known_teams: set[str], providers: set[str]) -> list[str]:
    """Every problem of the key ownership rows, each naming its line and key."""
    problems, seen = [], {}
    for row in rows:
        where = _where("api_key_owners.csv", row, "api_key_id", "key")
        if not row.get("provider") or not row.get("api_key_id"):
            problems.append(f"{where}: provider and api_key_id are required")
            continue
        ident = (row["provider"], row["api_key_id"])
        if ident in seen:
            problems.append(f"{where}: key repeats line {seen[ident]}")
        seen[ident] = row["line"]
        if providers and row["provider"] not in providers:
            problems.append(f"{where}: unknown provider {row['provider']!r}")
        if not row.get("owner_email"):
            problems.append(f"{where}: owner_email is empty (every registered key has an owner)")
        if row.get("team") and row["team"] not in known_teams:
            problems.append(f"{where}: unknown team {row['team']!r} (not in seeds/teams.csv)")
    return problems


def validate_limits(
    rows: list[dict], currencies: set[str], rates: pd.DataFrame, providers: set[str]
) -> list[str]:
    """Every problem of the spend-limit rows, each naming its line and limit id."""
    problems, ids, scopes = [], {}, {}
    for row in rows:
        where = _where("spend_limits.csv", row, "limit_id", "limit")
        if not row.get("limit_id"):
            problems.append(f"{where}: limit_id is empty")
            continue
        if row["limit_id"] in ids:
            problems.append(f"{where}: limit_id repeats line {ids[row['limit_id']]}")
        ids[row["limit_id"]] = row["line"]
        if not row.get("provider"):
            problems.append(f"{where}: provider is required")
        elif providers and row["provider"] not in providers:
            problems.append(f"{where}: unknown provider {row['provider']!r}")
        scope = (row.get("provider"), row.get("api_key_id"))
        if scope in scopes:
            problems.append(f"{where}: overlaps line {scopes[scope]}: the same provider/key")
        scopes[scope] = row["line"]
        amount = _number(row.get("monthly_limit"))
        if amount is None:
            problems.append(f"{where}: monthly_limit {row.get('monthly_limit')!r} is not a number")
        elif amount <= 0:
            problems.append(f"{where}: monthly_limit {row['monthly_limit']} is not positive")
        currency = row.get("currency")
        if currency not in currencies:
            problems.append(f"{where}: unknown currency {currency!r}")
        elif currency != "USD" and rates[rates["from_currency"] == currency].empty:
            problems.append(f"{where}: no exchange rate {currency}→USD")
    return problems


def _app_teams(seeds_dir: Path) -> dict[str, str]:
    """application → team where every allocation rule naming the application names one team."""
    rows, _ = _read(seeds_dir / "allocation_rules.csv", ("application", "team"), required=False)
    teams: dict[str, set[str]] = {}
    for row in rows:
        if row.get("application") and row.get("team"):
            teams.setdefault(row["application"], set()).add(row["team"])
    return {app: next(iter(t)) for app, t in teams.items() if len(t) == 1}


def load_seeds(seeds_dir: str | Path | None = None) -> Seeds:
    """Read and validate the governance seeds; raise SeedError naming every bad row."""
    seeds_dir = Path(seeds_dir) if seeds_dir is not None else SEEDS_DIR
    problems: list[str] = []
    team_rows, p = _read(seeds_dir / "teams.csv", ("team", "cost_centre", "owner_email"), True)
    problems += p
    teams = pd.DataFrame(team_rows, columns=["team", "cost_centre", "owner_email", "line"])
    cur_rows, p = _read(seeds_dir / "currency_codes.csv", ("currency_code",), True)
    problems += p
    currencies = {r["currency_code"] for r in cur_rows}
    rate_rows, p = _read(
        seeds_dir / "exchange_rates.csv",
        ("rate_date", "from_currency", "to_currency", "rate"),
        False,
    )
    problems += p
    rates = pd.DataFrame(rate_rows, columns=["rate_date", "from_currency", "to_currency", "rate"])
    rates["rate_date"] = pd.to_datetime(rates["rate_date"]).dt.date
    rates["rate"] = rates["rate"].astype(float)
    prov_rows, _ = _read(seeds_dir / "providers.csv", ("provider",), False)
    providers = {r["provider"] for r in prov_rows}
    budget_rows, p = _read(seeds_dir / "budgets.csv", BUDGET_COLUMNS, False)
    problems += [f"budgets.csv: {x}" if not x.startswith("budgets") else x for x in p]
    owner_rows, p = _read(seeds_dir / "api_key_owners.csv", OWNER_COLUMNS, False)
    problems += p
    limit_rows, p = _read(seeds_dir / "spend_limits.csv", LIMIT_COLUMNS, False)
    problems += p
    if not problems:
        problems += validate_budgets(
            budget_rows, teams, currencies, rates, providers, _app_teams(seeds_dir)
        )
        problems += validate_key_owners(owner_rows, set(teams["team"]), providers)
        problems += validate_limits(limit_rows, currencies, rates, providers)
    if problems:
        raise SeedError(problems)
    budgets = pd.DataFrame(
        [
            {
                **{c: r.get(c) for c in BUDGET_COLUMNS},
                "amount": r["_amount"],
                "thresholds": r["_thresholds"],
                "effective_from": r["_from"],
                "effective_to": r["_to"],
                "line": r["line"],
            }
            for r in budget_rows
        ],
        columns=[*BUDGET_COLUMNS, "thresholds", "line"],
    )
    owners = pd.DataFrame(owner_rows, columns=[*OWNER_COLUMNS, "line"])
    limits = pd.DataFrame(limit_rows, columns=[*LIMIT_COLUMNS, "line"])
    limits["monthly_limit"] = limits["monthly_limit"].astype(float)
    return Seeds(budgets, owners, limits, teams, rates)
