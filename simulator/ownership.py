"""The simulated organisation's ownership, written as the allocation seeds a FinOps team keeps.

`seeds/allocation_rules.csv` and `seeds/teams.csv` are generated from the world of the demo's
default seed (42) by `tokenledger simulate ownership --seed 42 [--table teams]`; real users
write their own CSV. Entity ids depend only on `seed` and `scale`, never on the days covered,
so the same rules fit every `World(seed=42, ...)`.

The rules tell the demo's story:
- OpenAI projects are allocated to their owning team (project rules), except `growth-copy`,
  which is allocated key by key: the key leaked on the leak day belongs to nobody, matches no
  rule and stays *unallocated*.
- The runaway agent's key is its own application inside platform-gateway (a key rule outranks
  the project rule: the most specific rule wins).
- Shared costs use each split method: support-assistant's embeddings are split `even`ly
  between the teams that query that knowledge base; the search-embeddings project by `fixed`
  percentages; the Anthropic default workspace (a shared sandbox) `proportional`ly to each
  team's own Claude tokens that day.
- Anthropic workspaces are allocated to their owning team. The default workspace has no id
  (null), so it is reached by a rule on the Anthropic organisation, which workspace rules
  outrank.
"""

from __future__ import annotations

import csv
import io

from simulator import azure_openai, opencost
from simulator.world import OPENAI_EMBEDDING_MODEL, TEAMS, World

RULE_COLUMNS = (
    "rule_id",
    "provider",
    "billing_account_id",
    "sub_account_id",
    "api_key_id",
    "model",
    "tag_key",
    "tag_value",
    "kubernetes_namespace",
    "effective_from",
    "effective_to",
    "split_method",
    "team",
    "cost_centre",
    "application",
    "split_percent",
    "description",
)
TEAM_COLUMNS = ("team", "cost_centre", "owner_email")

EFFECTIVE_FROM = "2024-01-01"
"""Every demo rule applies from this day on (before any simulated world starts)."""

COST_CENTRES = {
    "search": "CC-1100",
    "support": "CC-1200",
    "growth": "CC-1300",
    "platform": "CC-1400",
    "research": "CC-1500",
}
EVEN_EMBEDDING_TEAMS = ("support", "search", "growth")
FIXED_EMBEDDING_SPLIT = (("search", "60"), ("support", "25"), ("growth", "15"))
SANDBOX_TEAMS = ("support", "research", "search", "growth")


def teams_rows() -> list[dict]:
    """One row per team of the simulated organisation: cost centre and owner."""
    return [
        dict(team=t, cost_centre=COST_CENTRES[t], owner_email=f"{t}-lead@example.com")
        for t in TEAMS
    ]


def _rule(rule_id: str, team: str, application: str, description: str, **match) -> dict:
    row = dict.fromkeys(RULE_COLUMNS)
    row.update(
        rule_id=rule_id,
        effective_from=EFFECTIVE_FROM,
        split_method="direct",
        team=team,
        application=application,
        description=description,
    )
    row.update(match)
    return row


def allocation_rule_rows(world: World) -> list[dict]:
    """The allocation rules (one row per rule × target) of `world`'s organisation."""
    keys = world.api_keys()
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    rows: list[dict] = []
    for sub in world.sub_accounts():
        if sub["provider"] != "openai":
            continue
        name, team, project = sub["sub_account_name"], sub["team"], sub["sub_account_id"]
        slug = name.replace("_", "-")
        if name.startswith("growth-copy"):
            owned = [k for k in keys if k["sub_account_id"] == project and k["team"]]
            for i, key in enumerate(owned, start=1):
                rows.append(
                    _rule(
                        f"openai-key-{slug}-{i}",
                        key["team"],
                        name,
                        f"{name} is allocated key by key; key owner {key['owner_email']}",
                        provider="openai",
                        sub_account_id=project,
                        api_key_id=key["api_key_id"],
                    )
                )
            continue
        if name.startswith("search-embeddings"):
            for target, percent in FIXED_EMBEDDING_SPLIT:
                rows.append(
                    _rule(
                        f"openai-shared-{slug}",
                        target,
                        "embedding-index",
                        f"{name}: a shared embedding index, split by agreed percentages",
                        provider="openai",
                        sub_account_id=project,
                        split_method="fixed",
                        split_percent=percent,
                    )
                )
            continue
        rows.append(
            _rule(
                f"openai-project-{slug}",
                team,
                name,
                f"project {name} belongs to {team}",
                provider="openai",
                sub_account_id=project,
            )
        )
        if name.startswith("support-assistant"):
            for target in EVEN_EMBEDDING_TEAMS:
                rows.append(
                    _rule(
                        f"openai-shared-{slug}-embeddings",
                        target,
                        "knowledge-base",
                        f"{name} embeddings feed a knowledge base three teams query: even split",
                        provider="openai",
                        sub_account_id=project,
                        model=OPENAI_EMBEDDING_MODEL,
                        split_method="even",
                    )
                )
        if project == runaway.sub_account_id:
            rows.append(
                _rule(
                    f"openai-key-{slug}-agent-runner",
                    team,
                    "agent-runner",
                    f"the agent runner's key in {name} is its own application",
                    provider="openai",
                    sub_account_id=project,
                    api_key_id=runaway.api_key_id,
                )
            )
    for sub in world.sub_accounts():
        if sub["provider"] != "anthropic":
            continue
        name, team, workspace = sub["sub_account_name"], sub["team"], sub["sub_account_id"]
        if workspace is None:  # the default workspace: matched through the organisation
            for target in SANDBOX_TEAMS:
                rows.append(
                    _rule(
                        "anthropic-default-workspace",
                        target,
                        "claude-sandbox",
                        "the default workspace is a shared sandbox, recharged by each team's "
                        "own Claude tokens that day",
                        provider="anthropic",
                        billing_account_id=world.anthropic_org_id,
                        split_method="proportional",
                    )
                )
            continue
        rows.append(
            _rule(
                f"anthropic-workspace-{name}",
                team,
                name,
                f"workspace {name} belongs to {team}",
                provider="anthropic",
                billing_account_id=world.anthropic_org_id,
                sub_account_id=workspace,
            )
        )
    rows.extend(focus_rule_rows())
    rows.extend(opencost.allocation_rule_rows())
    rows.extend(cloud_ai_rule_rows(world))
    return rows


def cloud_ai_rule_rows(world: World) -> list[dict]:
    """The cloud AI services: Bedrock by the `team` cost-allocation tag (CUR spells it
    `user_team`), Vertex AI by the projects' `team` label, Azure OpenAI by the subscription
    each team runs its accounts in. Untagged Bedrock calls match no rule and stay
    *unallocated*."""
    rows = []
    for team in TEAMS:
        rows.append(
            _rule(
                f"aws-bedrock-tag-team-{team}",
                team,
                None,
                f"Bedrock calls tagged user:team={team} belong to {team}",
                provider="aws_bedrock",
                tag_key="user_team",
                tag_value=team,
            )
        )
        rows.append(
            _rule(
                f"gcp-vertex-ai-label-team-{team}",
                team,
                None,
                f"Vertex AI usage of projects labelled team={team} belongs to {team}",
                provider="gcp_vertex_ai",
                tag_key="team",
                tag_value=team,
            )
        )
    for team, subscription in sorted(azure_openai.billing_of(world).subscriptions.items()):
        rows.append(
            _rule(
                f"azure-openai-subscription-{team}",
                team,
                None,
                f"the {team} team's Azure subscription (its Azure OpenAI accounts)",
                provider="azure_openai",
                sub_account_id=subscription,
            )
        )
    return rows


def focus_rule_rows() -> list[dict]:
    """The rest of the cloud (FOCUS exports) is allocated by the `team` tag (AWS spells user
    tags `user:team`) and, on the shared GKE cluster, by Kubernetes namespace. Untagged
    resources and the AWS support fee and tax match no rule and stay *unallocated*."""
    rows = []
    for team in TEAMS:
        for cloud, key in (("aws", "user:team"), ("azure-gcp", "team")):
            rows.append(
                _rule(
                    f"focus-tag-{cloud}-team-{team}",
                    team,
                    None,
                    f"cloud resources tagged {key}={team} belong to {team}",
                    provider="focus",
                    tag_key=key,
                    tag_value=team,
                )
            )
        rows.append(
            _rule(
                f"focus-namespace-{team}",
                team,
                None,
                f"the {team} namespace of the shared GKE cluster belongs to {team}",
                provider="focus",
                kubernetes_namespace=team,
            )
        )
    return rows


def _csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return out.getvalue()


def allocation_rules_csv(seed: int = 42, scale: int = 1) -> str:
    """`seeds/allocation_rules.csv` for the world of `seed` (deterministic, byte for byte)."""
    return _csv(allocation_rule_rows(World(seed=seed, days=1, scale=scale)), RULE_COLUMNS)


def teams_csv() -> str:
    """`seeds/teams.csv`: the simulated organisation's teams."""
    return _csv(teams_rows(), TEAM_COLUMNS)


# ---------------------------------------------------------------------- governance seeds
KEY_OWNER_COLUMNS = (
    "provider", "api_key_id", "sub_account_id", "owner_email", "team", "description"
)
BUDGET_COLUMNS = (
    "budget_id",
    "parent_budget_id",
    "team",
    "cost_centre",
    "application",
    "feature",
    "api_key_id",
    "provider",
    "model",
    "period",
    "amount",
    "currency",
    "alert_thresholds",
    "effective_from",
    "effective_to",
    "owner_email",
    "description",
)
LIMIT_COLUMNS = ("limit_id", "provider", "api_key_id", "monthly_limit", "currency", "description")

OVERRUN_TEAM = "support"
"""The demo team whose budget is set below its spend pace: it overruns every month."""
OVERRUN_FACTOR = 0.75
WITHIN_FACTOR = 2.0
REFERENCE_START = "2026-01-01"
REFERENCE_DAYS = 90
"""Budgets are sized on a fixed reference world (seed, 90 days from REFERENCE_START) so the
seed file does not change with today's date; spend levels drift little between worlds."""
ANTHROPIC_QUARTER_EUR_RATE = 1.08
"""EUR→USD rate used only to size the demo's one EUR budget (a round number of euros)."""


def api_key_owner_rows(world: World) -> list[dict]:
    """One row per API key the organisation registered: owner and team. The leaked key was
    never registered, so it is absent (it shows up as an *unknown* key)."""
    return [
        dict(
            provider=k["provider"],
            api_key_id=k["api_key_id"],
            sub_account_id=k["sub_account_id"],
            owner_email=k["owner_email"],
            team=k["team"],
            description=f"{k['provider']} key of {k['sub_account_name']}",
        )
        for k in world.api_keys()
        if not k["is_leaked"]
    ]


def _monthly_estimates(world: World) -> dict[str, float]:
    """Average-month spend (USD) of each team, provider, the agent runner's key and gpt-4o,
    from the world's last 56 days (so one month-start batch run is in it). Team spend follows
    the allocation rules' story: projects and workspaces to their team, the shared embedding
    index by its fixed split, support-assistant's embeddings evenly, the default workspace by
    each sandbox team's share of Claude spend; the leaked key to nobody."""
    import datetime as dt

    days = min(56, world.days)
    frame = world.truth_billed_cost_frame(
        start=world.end - dt.timedelta(days=days), end=world.end
    )
    subs = {s["sub_account_id"]: s for s in world.sub_accounts() if s["sub_account_id"]}
    leaked = {k["api_key_id"] for k in world.api_keys() if k["is_leaked"]}
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    usd = frame["billed_cost_nano"] / 1e9 / days * 30.44
    owned = ~frame["api_key_id"].isin(leaked)
    name = frame["sub_account_id"].map(lambda s: subs[s]["sub_account_name"] if s in subs else "")
    team = frame["sub_account_id"].map(lambda s: subs[s]["team"] if s in subs else None)
    shared_index = name.str.startswith("search-embeddings")
    kb = name.str.startswith("support-assistant") & (frame["model"] == OPENAI_EMBEDDING_MODEL)
    sandbox = (frame["provider"] == "anthropic") & frame["sub_account_id"].isna()
    direct = owned & ~shared_index & ~kb & ~sandbox
    out: dict[str, float] = {f"team:{t}": float(usd[direct & (team == t)].sum()) for t in TEAMS}
    for target, percent in FIXED_EMBEDDING_SPLIT:
        out[f"team:{target}"] += float(usd[shared_index].sum()) * float(percent) / 100
    for target in EVEN_EMBEDDING_TEAMS:
        out[f"team:{target}"] += float(usd[kb].sum()) / len(EVEN_EMBEDDING_TEAMS)
    claude = {
        t: float(usd[(frame["provider"] == "anthropic") & (team == t)].sum())
        for t in SANDBOX_TEAMS
    }
    for target in SANDBOX_TEAMS:
        share = claude[target] / sum(claude.values()) if sum(claude.values()) else 0.0
        out[f"team:{target}"] += float(usd[sandbox].sum()) * share
    for provider in ("openai", "anthropic"):
        out[f"provider:{provider}"] = float(usd[frame["provider"] == provider].sum())
    out["key:runaway"] = float(usd[frame["api_key_id"] == runaway.api_key_id].sum())
    out["model:gpt-4o"] = float(usd[frame["model"] == "gpt-4o-2024-08-06"].sum())
    return out


def _round_up(amount: float, step: float = 10.0) -> str:
    import math

    return f"{math.ceil(amount / step) * step:.2f}"


def budget_rows(world: World) -> list[dict]:
    """The demo's budgets: an organisation budget ⊃ one per cost centre ⊃ one per team, plus
    an application, a model and a quarterly EUR provider budget. Team budgets are 2× the
    team's pace, except OVERRUN_TEAM's (0.75×): it overruns, the others stay within."""
    est = _monthly_estimates(world)
    rows: list[dict] = []

    def add(**row) -> dict:
        full = dict.fromkeys(BUDGET_COLUMNS)
        full.update(period="monthly", currency="USD", alert_thresholds="50;80;100")
        full.update(effective_from=EFFECTIVE_FROM)
        full.update(row)
        rows.append(full)
        return full

    team_amounts = {
        t: float(
            _round_up(est[f"team:{t}"] * (OVERRUN_FACTOR if t == OVERRUN_TEAM else WITHIN_FACTOR))
        )
        for t in TEAMS
    }
    cc_amounts = {t: float(_round_up(team_amounts[t] * 1.2, 100)) for t in TEAMS}
    add(
        budget_id="org-monthly",
        amount=_round_up(sum(cc_amounts.values()) * 1.1, 1000),
        owner_email="finops@example.com",
        description="the whole organisation's AI spend, every provider",
    )
    for t in TEAMS:
        add(
            budget_id=f"cc-{COST_CENTRES[t].lower()}-monthly",
            parent_budget_id="org-monthly",
            cost_centre=COST_CENTRES[t],
            amount=f"{cc_amounts[t]:.2f}",
            owner_email=f"{t}-lead@example.com",
            description=f"cost centre {COST_CENTRES[t]} ({t})",
        )
    for t in TEAMS:
        add(
            budget_id=f"team-{t}-monthly",
            parent_budget_id=f"cc-{COST_CENTRES[t].lower()}-monthly",
            team=t,
            amount=f"{team_amounts[t]:.2f}",
            owner_email=f"{t}-lead@example.com",
            description=(
                f"team {t}: set below its pace, it overruns"
                if t == OVERRUN_TEAM
                else f"team {t}: comfortably above its pace"
            ),
        )
    add(
        budget_id="app-agent-runner-monthly",
        parent_budget_id="team-platform-monthly",
        application="agent-runner",
        amount=_round_up(est["key:runaway"] * 4),
        alert_thresholds="80;100",
        owner_email="platform-lead@example.com",
        description="the agent runner (its own key in platform-gateway)",
    )
    add(
        budget_id="model-gpt-4o-monthly",
        provider="openai",
        model="gpt-4o-2024-08-06",
        amount=_round_up(est["model:gpt-4o"] * 1.5, 100),
        owner_email="finops@example.com",
        description="gpt-4o across every team",
    )
    add(
        budget_id="provider-anthropic-quarterly",
        provider="anthropic",
        period="quarterly",
        amount=_round_up(est["provider:anthropic"] * 3 * 2 / ANTHROPIC_QUARTER_EUR_RATE, 1000),
        currency="EUR",
        alert_thresholds="80;100",
        owner_email="finops@example.com",
        description="Anthropic, budgeted per quarter in euros by the EU entity",
    )
    return rows


def spend_limit_rows(world: World) -> list[dict]:
    """Monthly hard limits as configured at the providers: one per provider, one on the agent
    runner's key (tight: the runaway loop breaks it)."""
    est = _monthly_estimates(world)
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    return [
        dict(
            limit_id="openai-org-monthly",
            provider="openai",
            api_key_id=None,
            monthly_limit=_round_up(est["provider:openai"] * 2, 1000),
            currency="USD",
            description="OpenAI organization monthly usage limit",
        ),
        dict(
            limit_id="anthropic-org-monthly",
            provider="anthropic",
            api_key_id=None,
            monthly_limit=_round_up(est["provider:anthropic"] * 2, 1000),
            currency="USD",
            description="Anthropic organization monthly spend limit",
        ),
        dict(
            limit_id="openai-agent-runner-key",
            provider="openai",
            api_key_id=runaway.api_key_id,
            monthly_limit=_round_up(est["key:runaway"] * 1.5),
            currency="USD",
            description="per-key limit on the agent runner's key",
        ),
    ]


def _reference_world(seed: int, scale: int) -> World:
    return World(seed=seed, days=REFERENCE_DAYS, start=REFERENCE_START, scale=scale)


def api_key_owners_csv(seed: int = 42, scale: int = 1) -> str:
    """`seeds/api_key_owners.csv` for the world of `seed` (deterministic)."""
    return _csv(api_key_owner_rows(World(seed=seed, days=1, scale=scale)), KEY_OWNER_COLUMNS)


def budgets_csv(seed: int = 42, scale: int = 1) -> str:
    """`seeds/budgets.csv` for the world of `seed` (deterministic, independent of today)."""
    return _csv(budget_rows(_reference_world(seed, scale)), BUDGET_COLUMNS)


def spend_limits_csv(seed: int = 42, scale: int = 1) -> str:
    """`seeds/spend_limits.csv` for the world of `seed` (deterministic)."""
    return _csv(spend_limit_rows(_reference_world(seed, scale)), LIMIT_COLUMNS)
