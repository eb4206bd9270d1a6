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


ROOT_CAUSE_BASELINE_DAYS = 14
"""Days before an episode that its root cause compares against."""


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


def _by_date(rows: pd.DataFrame) -> tuple[pd.DataFrame, object]:
    """`rows` sorted by date and a function (first, last) → the rows of those days (inclusive),
    so per-episode work touches only its own days instead of scanning every row."""
    import datetime as dt

    import numpy as np

    ordered = rows.assign(_day=pd.to_datetime(rows["date"]).dt.date).sort_values(
        "_day", kind="stable"
    )
    days = ordered["_day"].to_numpy()
    ordered = ordered.drop(columns="_day").reset_index(drop=True)

    def between(first: dt.date, last: dt.date) -> pd.DataFrame:
        lo = int(np.searchsorted(days, first, side="left"))
        hi = int(np.searchsorted(days, last, side="right"))
        return ordered.iloc[lo:hi]

    return ordered, between


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
    _, rows_between = _by_date(rows) if len(rows) else (rows, None)
    for ep in out.itertuples(index=False):
        first = pd.Timestamp(ep.start_date).date()
        baseline_first = first - pd.Timedelta(days=ROOT_CAUSE_BASELINE_DAYS)
        breakdown = root_cause(
            rows_between(baseline_first, pd.Timestamp(ep.end_date).date()),
            series_filter(ep._asdict()),
            (ep.start_date, ep.end_date),
            baseline_days=ROOT_CAUSE_BASELINE_DAYS,
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


ALLOCATION_QUERY = """
select
    cast(charge_period_start as date) as date,
    x_provider as provider,
    sub_account_id,
    x_api_key_id as api_key_id,
    x_model as model,
    x_token_type as token_type,
    team,
    sum(allocated_cost) as cost
from marts.fct_cost_allocated
group by 1, 2, 3, 4, 5, 6, 7
"""


def _has_table(con, schema: str, table: str) -> bool:
    sql = (
        "select count(*) from information_schema.tables "
        f"where table_schema = '{schema}' and table_name = '{table}'"
    )
    return bool(_frame(con, sql).iloc[0, 0])


def _frame(con, sql: str) -> pd.DataFrame:
    if hasattr(con, "sql"):
        return con.sql(sql).df()
    with con.cursor() as cur:
        cur.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[c[0] for c in cur.description])


def attach_teams(episodes: pd.DataFrame, allocated: pd.DataFrame) -> pd.DataFrame:
    """Add `team`: the team whose allocated cost carries the episode — within its series and
    window, narrowed to its root-cause value when the allocation knows that dimension.
    `allocated` has ALLOCATION_QUERY's columns; `unallocated` is a team like any other here."""
    out = episodes.copy()
    if out.empty or allocated.empty:
        out["team"] = pd.Series([None] * len(out), dtype=object)
        return out
    _, allocated_between = _by_date(allocated.assign(cost=allocated["cost"].astype(float)))
    teams = []
    for ep in out.to_dict("records"):
        window = allocated_between(
            pd.Timestamp(ep["start_date"]).date(), pd.Timestamp(ep["end_date"]).date()
        )
        mask = pd.Series(True, index=window.index)
        for dim, value in series_filter(ep).items():
            mask &= window[dim].isna() if value is None else window[dim] == value
        dim, value = ep.get("root_cause_dimension"), ep.get("root_cause_value")
        if dim in window.columns and value is not None:
            narrowed = mask & (window[dim] == value)
            mask = narrowed if narrowed.any() else mask
        by_team = window.loc[mask].groupby("team")["cost"].sum()
        teams.append(by_team.idxmax() if len(by_team) else None)
    out["team"] = teams
    return out


def publish_anomalies(warehouse, config: DetectorConfig | None = None) -> pd.DataFrame:
    """Score the warehouse's usage cost and replace `marts.fct_spend_anomalies` with the
    episodes (one row per series × first flagged day), each with the team that carries it
    (from marts.fct_cost_allocated when allocation has run). Idempotent: a re-run, or a run
    after a provider restated a day, rewrites the whole table from the fact."""
    with warehouse.reader() as reader:
        con = reader.connection
        rows = load_usage_rows(con)
        allocated = (
            _frame(con, ALLOCATION_QUERY)
            if _has_table(con, "marts", "fct_cost_allocated")
            else pd.DataFrame()
        )
    episodes = attach_teams(anomalies_from_rows(rows, config), allocated)
    warehouse.replace_table(ANOMALY_SCHEMA, ANOMALY_TABLE, episodes)
    return episodes
