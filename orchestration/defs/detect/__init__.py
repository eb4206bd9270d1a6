"""Detection assets: spend anomalies scored from the published fact after every build."""

import dagster as dg

from orchestration.defs.quality import PUBLISH_KEY
from orchestration.partitions import DAILY, SINGLE_RUN
from orchestration.resources import WarehouseResource
from tokenledger.anomaly.warehouse import ANOMALY_SCHEMA, ANOMALY_TABLE, publish_anomalies


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


defs = dg.Definitions(assets=[fct_spend_anomalies])
