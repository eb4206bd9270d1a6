"""Spend anomalies from the warehouse: usage cost series → detector → episodes + root cause.

Grain of the result: one row per anomaly episode (series × first flagged day). Only usage
charges are scored: credits, tax and purchases are not spend behaviour.
"""

from __future__ import annotations

import pandas as pd

from tokenledger.anomaly.detector import DetectorConfig, detect
from tokenledger.anomaly.episodes import group_episodes
from tokenledger.anomaly.root_cause import root_cause, top_contributor
from tokenledger.anomaly.series import DEFAULT_LEVELS, build_series, series_filter

FACT_QUERY = """
select
    cast(charge_period_start as date) as date,
    x_provider as provider,
    sub_account_id,
    x_api_key_id as api_key_id,
    x_model as model,
    x_token_type as token_type,
    x_service_tier as service_tier,
    sum(billed_cost) as cost
from marts.fct_cost_and_usage
where charge_category = 'Usage'
group by 1, 2, 3, 4, 5, 6, 7
"""


def load_usage_rows(con) -> pd.DataFrame:
    """Daily usage cost rows from `marts.fct_cost_and_usage`.

    `con` is a DuckDB connection or a DB-API one (PostgreSQL via psycopg2); the query is
    portable SQL.
    """
    if hasattr(con, "sql"):
        rows = con.sql(FACT_QUERY).df()
    else:
        with con.cursor() as cur:
            cur.execute(FACT_QUERY)
            names = [c[0] for c in cur.description]
            rows = pd.DataFrame(cur.fetchall(), columns=names)
    rows["cost"] = rows["cost"].astype(float)
    return rows


def anomalies_from_rows(
    rows: pd.DataFrame,
    config: DetectorConfig | None = None,
    levels: tuple[str, ...] = DEFAULT_LEVELS,
    as_of: object = None,
) -> pd.DataFrame:
    """Episodes with series dimensions and root cause, from fact-shaped usage rows."""
    series, meta = build_series(rows, levels)
    scored = detect(series, config, validate=lambda f: f.reset_index(drop=True))
    episodes = group_episodes(scored, as_of=as_of)
    out = episodes.merge(meta, on="series_id", how="left")
    causes = []
    for ep in out.itertuples(index=False):
        breakdown = root_cause(
            rows,
            series_filter(ep._asdict()),
            (ep.start_date, ep.end_date),
        )
        top = top_contributor(breakdown) or {}
        causes.append(
            {
                "root_cause_dimension": top.get("dimension"),
                "root_cause_value": top.get("value"),
                "root_cause_share": top.get("share_of_change"),
            }
        )
    cause_cols = ["root_cause_dimension", "root_cause_value", "root_cause_share"]
    causes_frame = pd.DataFrame(causes, columns=cause_cols, index=out.index)
    return pd.concat([out, causes_frame], axis=1)


def detect_from_warehouse(
    con, config: DetectorConfig | None = None, as_of: object = None
) -> pd.DataFrame:
    """Anomaly episodes over provider, provider × model, sub-account and API-key series of
    the warehouse's usage cost, ranked by |impact|, each with its largest root cause."""
    return anomalies_from_rows(load_usage_rows(con), config, as_of=as_of)


ANOMALY_SCHEMA, ANOMALY_TABLE = "marts", "fct_spend_anomalies"


def publish_anomalies(warehouse, config: DetectorConfig | None = None) -> pd.DataFrame:
    """Score the warehouse's usage cost and replace `marts.fct_spend_anomalies` with the
    episodes (one row per series × first flagged day). Idempotent: a re-run, or a run after
    a provider restated a day, rewrites the whole table from the fact."""
    with warehouse.reader() as reader:
        rows = load_usage_rows(reader.connection)
    episodes = anomalies_from_rows(rows, config)
    warehouse.replace_table(ANOMALY_SCHEMA, ANOMALY_TABLE, episodes)
    return episodes


def describe_episode(ep: dict) -> str:
    """One sentence a person can act on: what moved, by how much, since when, and why."""
    days = max(int(ep.get("days") or 1), 1)
    actual, expected = ep["actual_cost"] / days, ep["expected_cost"] / days
    what = str(ep["series_id"]).split(":", 1)[-1]
    verb = "rose" if ep["direction"] == "spike" else "fell"
    text = (
        f"{ep['level']} {what}: spend {verb} from ${expected:,.0f}/day to ${actual:,.0f}/day "
        f"{ep['start_date']} → {ep['end_date']} ({ep['impact']:+,.0f} USD, {ep['status']})"
    )
    if ep.get("root_cause_dimension"):
        share = ep.get("root_cause_share")
        share_text = f" ({share:.0%} of the change)" if share == share and share else ""
        text += f"; largest contributor {ep['root_cause_dimension']}={ep['root_cause_value']}"
        text += share_text
    return text
