"""Spend anomaly detection: what a user of `detect`, `tokenledger detect` and the warehouse
entry point would notice (quiet rhythms, flagged spikes and drops, gates, clear errors)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from simulator.world import World
from tokenledger.anomaly import (
    OUTPUT_COLUMNS,
    DetectorInputError,
    anomalies_from_rows,
    detect,
    detect_from_warehouse,
    group_episodes,
    root_cause,
)
from tokenledger.cli import main

START = dt.date(2025, 1, 6)  # a Monday


def rhythmic(days: int = 180, base: float = 800.0, batch: float = 2500.0, seed: int = 0):
    """Daily spend with quiet weekends, growth, a month-start batch job on the 1st–2nd,
    holiday dips and 5 % noise: everything a normal AI bill does."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, periods=days, freq="D")
    weekday = np.where(dates.day_of_week == 5, 0.45, np.where(dates.day_of_week == 6, 0.38, 1.0))
    holiday = ((dates.month == 12) & (dates.day == 25)) | ((dates.month == 1) & (dates.day == 1))
    cost = base * weekday * np.where(holiday, 0.5, 1.0) * np.exp(0.6 * np.arange(days) / 365)
    cost = cost * np.exp(rng.normal(0, 0.05, days)) + np.where(dates.day <= 2, batch, 0.0)
    return pd.DataFrame({"series_id": "team-search", "date": dates.date, "cost": cost})


def test_weekly_rhythm_month_start_batch_and_growth_are_not_anomalies():
    frame = rhythmic()
    scored = detect(frame)
    assert len(scored) == len(frame)
    assert not scored["is_anomaly"].any(), scored[scored["is_anomaly"]]
    month_starts = scored[pd.to_datetime(scored["date"]).dt.day <= 2].iloc[2:]
    warm = month_starts.dropna(subset=["expected"])
    assert len(warm) >= 6
    # the batch is expected, not just tolerated: expected cost on the 1st/2nd includes it
    assert (warm["expected"] > 2000).all()


def test_spike_and_drop_are_flagged_on_their_days_with_their_impact():
    frame = rhythmic(seed=1)
    dates = pd.to_datetime(frame["date"])
    spike_day = dt.date(2025, 4, 16)  # a Wednesday
    drop_days = [dt.date(2025, 5, 20), dt.date(2025, 5, 21)]  # Tue, Wed
    normal = frame.set_index("date")["cost"].copy()
    frame.loc[dates.dt.date == spike_day, "cost"] += 4000.0
    dropped = dates.dt.date.isin(drop_days)
    frame.loc[dropped, "cost"] *= 0.1
    scored = detect(frame)
    flagged = scored[scored["is_anomaly"]]
    assert sorted(flagged["date"].map(lambda d: pd.Timestamp(d).date())) == [
        spike_day,
        *drop_days,
    ]
    spike = flagged[flagged["date"] == pd.Timestamp(spike_day)].iloc[0]
    assert spike["score"] > 0
    assert spike["impact"] == pytest.approx(4000.0, rel=0.1)
    for day in drop_days:
        row = flagged[flagged["date"] == pd.Timestamp(day)].iloc[0]
        assert row["score"] < 0 and row["cost"] < row["lower"]
        assert row["impact"] == pytest.approx(-0.9 * normal[day], rel=0.15)
    episodes = group_episodes(scored)
    assert sorted(episodes["direction"]) == ["drop", "spike"]
    drop = episodes[episodes["direction"] == "drop"].iloc[0]
    assert (drop["start_date"], drop["end_date"], drop["days"]) == (*drop_days, 2)
    assert drop["status"] == "resolved"


def test_small_series_never_page_anyone_and_warm_up_is_quiet():
    def jumpy(base: float) -> pd.DataFrame:
        frame = rhythmic(base=base, batch=0.0, seed=2)
        frame.loc[frame.index % 17 == 5, "cost"] *= 5  # ×5 jumps
        return frame

    assert not detect(jumpy(1.0))["is_anomaly"].any()  # a few dollars: under the $10 gate
    assert detect(jumpy(100.0))["is_anomaly"].sum() >= 5  # the same shape in hundreds pages
    early = rhythmic(seed=3)
    early.loc[10, "cost"] += 50_000.0  # inside the 21-day warm-up: no history to judge by
    scored = detect(early)
    assert not scored["is_anomaly"].iloc[:21].any()
    assert scored["expected"].iloc[:21].isna().all()


def test_episode_lifecycle_new_ongoing_resolved():
    frame = pd.concat(
        [rhythmic(days=120, seed=s).assign(series_id=name) for s, name in enumerate("abc")]
    )
    last = frame["date"].max()
    bump = {
        "a": [last],  # new today
        "b": [last - dt.timedelta(days=2), last - dt.timedelta(days=1), last],  # ongoing
        "c": [last - dt.timedelta(days=30)],  # resolved
    }
    for sid, days in bump.items():
        frame.loc[(frame["series_id"] == sid) & frame["date"].isin(days), "cost"] += 5000.0
    episodes = group_episodes(detect(frame)).set_index("series_id")
    assert episodes.loc["a", "status"] == "new"
    assert episodes.loc["b", "status"] == "ongoing"
    assert episodes.loc["c", "status"] == "resolved"
    again = group_episodes(detect(frame)).set_index("series_id")
    assert (again["episode_id"] == episodes["episode_id"]).all()  # stable across re-runs


# ------------------------------------------------------------------------------ CLI
def _write(path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, index=False)


def test_cli_round_trips_a_csv(tmp_path, capsys):
    a = rhythmic(days=90, seed=4)
    b = rhythmic(days=60, base=50.0, seed=5).assign(series_id="team-support")
    b.loc[b.index[45], "cost"] += 900.0
    frame = pd.concat([a, b]).sample(frac=1.0, random_state=1)  # any row order
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    _write(src, frame)
    assert main(["detect", "--input", str(src), "--output", str(dst)]) == 0
    out = pd.read_csv(dst, keep_default_na=False, dtype=str)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert len(out) == len(frame)
    assert list(out["series_id"]) == list(frame["series_id"])
    assert list(out["date"]) == [str(d) for d in frame["date"]]
    assert set(out["is_anomaly"]) <= {"true", "false"}
    hit = out[out["is_anomaly"] == "true"]
    assert list(zip(hit["series_id"], hit["date"], strict=True)) == [
        ("team-support", str(b["date"].iloc[45]))
    ]
    assert "1 anomalous days" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns="cost"), "missing column(s) cost"),
        (lambda f: f.assign(cost=f["cost"].astype(str).where(f.index != 7, "12,50")), "line 9"),
        (lambda f: f.assign(date=f["date"].astype(str).where(f.index != 3, "03/31/25x")), "line 5"),
        (lambda f: f.drop(index=20), "line 22: series 'team-search' has a gap"),
        (lambda f: pd.concat([f.iloc[:11], f.iloc[[10]], f.iloc[11:]]), "line 13"),
    ],
    ids=["missing column", "non-numeric cost", "bad date", "gap", "duplicate date"],
)
def test_cli_bad_csv_gives_a_clear_error_naming_the_row(tmp_path, capsys, edit, message):
    src = tmp_path / "in.csv"
    _write(src, edit(rhythmic(days=40)).reset_index(drop=True))
    assert main(["detect", "--input", str(src), "--output", str(tmp_path / "out.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tokenledger: error:") and message in err, err
    assert not (tmp_path / "out.csv").exists()


def test_detect_rejects_duplicate_dates_naming_both_rows():
    frame = pd.DataFrame(
        {
            "series_id": ["k", "k", "k"],
            "date": ["2025-01-01", "2025-01-02", "2025-01-02"],
            "cost": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(DetectorInputError, match=r"row 2: .*2025-01-02 twice \(also row 1\)"):
        detect(frame)


# ------------------------------------------------------------------------------ real world
@pytest.fixture(scope="module")
def world_rows():
    world = World(seed=5, days=150, start=dt.date(2025, 2, 3))
    rows = world.truth_billed_cost_frame()
    rows["cost"] = rows.pop("billed_cost_nano").to_numpy() / 1e9
    return world, rows


def test_runaway_loop_is_flagged_on_its_key_and_root_cause_names_the_key(world_rows):
    world, rows = world_rows
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    episodes = anomalies_from_rows(rows)
    key_eps = episodes[
        (episodes["level"] == "api_key") & (episodes["api_key_id"] == runaway.api_key_id)
    ]
    assert len(key_eps) == 1
    ep = key_eps.iloc[0]
    assert runaway.start_date <= ep["start_date"] <= runaway.end_date
    assert ep["direction"] == "spike" and ep["impact"] > 0
    project = episodes[
        (episodes["level"] == "sub_account")
        & (episodes["sub_account_id"] == runaway.sub_account_id)
        & (episodes["start_date"] <= runaway.end_date)
        & (episodes["end_date"] >= runaway.start_date)
    ].iloc[0]
    assert project["root_cause_dimension"] == "api_key_id"
    assert project["root_cause_value"] == runaway.api_key_id
    assert project["root_cause_share"] > 0.9
    breakdown = root_cause(
        rows,
        {"provider": "openai", "sub_account_id": runaway.sub_account_id},
        (runaway.start_date, runaway.end_date),
    )
    keys = breakdown[breakdown["dimension"] == "api_key_id"]
    assert keys.iloc[0]["value"] == runaway.api_key_id
    assert keys["share_of_change"].sum() == pytest.approx(1.0)


def test_detect_from_warehouse_reads_usage_only(world_rows):
    world, rows = world_rows
    con = duckdb.connect()
    fact = rows.rename(
        columns={
            "provider": "x_provider",
            "api_key_id": "x_api_key_id",
            "model": "x_model",
            "token_type": "x_token_type",
            "service_tier": "x_service_tier",
            "cost": "billed_cost",
        }
    ).assign(charge_category="Usage", charge_period_start=pd.to_datetime(rows["date"]))
    credit = fact.iloc[[0]].assign(
        charge_category="Credit", billed_cost=-1e6, charge_period_start=pd.Timestamp("2025-05-14")
    )
    fact = pd.concat([fact, credit]).drop(columns="date")  # noqa: F841 — read by DuckDB below
    con.execute("create schema marts")
    con.execute("create table marts.fct_cost_and_usage as select * from fact")
    episodes = detect_from_warehouse(con)
    assert not episodes.empty
    leaked = next(i for i in world.incidents() if i.kind == "leaked_key")
    hit = episodes[episodes["api_key_id"] == leaked.api_key_id]
    assert len(hit) == 1 and hit.iloc[0]["start_date"] == leaked.start_date
    assert hit.iloc[0]["status"] in {"ongoing", "resolved"}
    # a −$1M credit is not usage: no drop anywhere on that day
    day = dt.date(2025, 5, 14)
    assert not (
        (episodes["start_date"] <= day)
        & (episodes["end_date"] >= day)
        & (episodes["impact"] < -1e5)
    ).any()


def test_restated_days_are_re_evaluated():
    world = World(seed=5, days=150, start=dt.date(2025, 2, 3))
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")

    def key_episodes() -> pd.DataFrame:
        rows = world.truth_billed_cost_frame()
        rows["cost"] = rows.pop("billed_cost_nano").to_numpy() / 1e9
        eps = anomalies_from_rows(rows, levels=("api_key",))
        return eps[eps["api_key_id"] == runaway.api_key_id]

    assert len(key_episodes()) == 1
    # the provider restates the two runaway days down to normal: the alert goes away
    for day in (runaway.start_date, runaway.end_date):
        world.restate("openai", day, 0.05)
    assert key_episodes().empty
