"""Detection assets: spend anomalies scored from the published fact after every build, and
governance (budgets, limits, API keys) evaluated on the published marts."""

import dagster as dg

from orchestration.defs.quality import PUBLISH_KEY
from orchestration.partitions import DAILY, SINGLE_RUN
from orchestration.resources import WarehouseResource
from tokenledger.anomaly.warehouse import ANOMALY_SCHEMA, ANOMALY_TABLE, publish_anomalies
from tokenledger.governance import run_governance
from tokenledger.governance.run import SCHEMA as GOVERNANCE_SCHEMA


@dg.asset(
    key=[ANOMALY_SCHEMA, ANOMALY_TABLE],
    deps=[PUBLISH_KEY],  # the published fact, after the quality gate
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    group_name="detect",
    kinds={"python", "pandas"},
    description=(
        "One row per spend anomaly episode (series × first flagged day): usage cost series at "
        "provider, model, project/workspace, API key and project × token type levels, scored "
        "against a weekly-seasonal baseline, with impact and the largest root cause."
    ),
)
def fct_spend_anomalies(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Rewrite the anomaly mart from the whole fact (restated days are re-scored)."""
    episodes = publish_anomalies(warehouse.warehouse())
    new = episodes[episodes["status"] == "new"] if len(episodes) else episodes
    context.log.info(f"{len(episodes)} anomaly episodes, {len(new)} new")
    return dg.MaterializeResult(
        metadata={
            "episodes": len(episodes),
            "new_episodes": len(new),
            "largest_impact_usd": float(episodes["impact"].abs().max()) if len(episodes) else 0.0,
        }
    )


GOVERNANCE_TABLES = {
    "fct_budget_status": "One row per budget or limit × as-of day: actual to date, period-end "
    "forecast with an 80 % interval, burn rate, status.",
    "dim_api_keys": "One row per provider × API key: owner, team, status, first/last seen, spend.",
    "fct_key_findings": "One row per API key finding: unknown key, spend jump, idle key, shadow "
    "usage.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=[GOVERNANCE_SCHEMA, table],
            deps=[PUBLISH_KEY, dg.AssetKey([ANOMALY_SCHEMA, ANOMALY_TABLE])],
            group_name="detect",
            kinds={"python", "pandas"},
            description=description,
        )
        for table, description in GOVERNANCE_TABLES.items()
    ],
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    name="governance",
)
def governance(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Budgets, limits and API keys on the published marts; each alert goes once (ledger).
    A rejected seed row fails this asset with the row named; the marts stay published."""
    result = run_governance(warehouse.warehouse())
    now = result.current()
    over = int((now["status"] == "over").sum()) if len(now) else 0
    at_risk = int((now["status"] == "forecast_over").sum()) if len(now) else 0
    context.log.info(
        f"as of {result.as_of}: {len(now)} budgets/limits, {over} over, {at_risk} forecast "
        f"over; {len(result.findings)} key findings"
    )
    for note in result.notes:
        context.log.info(note)
    yield dg.MaterializeResult(
        asset_key=[GOVERNANCE_SCHEMA, "fct_budget_status"],
        metadata={"budgets": len(now), "over": over, "forecast_over": at_risk},
    )
    yield dg.MaterializeResult(
        asset_key=[GOVERNANCE_SCHEMA, "dim_api_keys"], metadata={"keys": len(result.keys)}
    )
    yield dg.MaterializeResult(
        asset_key=[GOVERNANCE_SCHEMA, "fct_key_findings"],
        metadata={"findings": len(result.findings)},
    )


defs = dg.Definitions(assets=[fct_spend_anomalies, governance])
