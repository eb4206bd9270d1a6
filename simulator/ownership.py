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
