"""OpenCost (GPU / Kubernetes cost) end to end: simulator `/allocation` (real HTTP) → dlt →
dbt → marts, on DuckDB.

What a user would notice: the GPU cluster's cost sits in the fact beside the API bills and
equals the simulator's truth to the cent per provider and day; idle capacity stays visible
(`is_idle`) and is shared by the stated method without creating or losing a cent
(allocated + unallocated = billed under every method); a 5xx/garbled-page storm lands the same
raw table; a restated day is corrected by the next run; an allocation without prices is
quarantined with its reason, and the rest still reconciles.

One module-scoped pipeline run is reused; later tests re-run only the OpenCost ingestion and
the dbt models between the OpenCost staging and the marts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from ingestion.pipeline import run_ingestion
from simulator import opencost
from simulator.server import serve
from simulator.world import World
from tokenledger.cli import main
from tokenledger.dbt import run_dbt
from tokenledger.demo import (
    compare_to_the_cent,
    configure_env_for,
    fact_cost_by_provider_day,
    truth_cost_by_provider_day,
)

SEED, DAYS = 23, 14
PROVIDERS = ("openai", "anthropic", "opencost")
NANO = Decimal("0.000000001")
# the OpenCost models (after the staging view) to the marts a user reads (dbt run)
SPLIT_TO_MARTS = [
    "int_opencost__resource_costs+,+fct_cost_and_usage",
    "int_opencost__resource_costs+,+fct_cost_allocated",
    "int_opencost__resource_costs+,+quarantined_cost_rows",
]


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, days=DAYS, providers=PROVIDERS)


@pytest.fixture(scope="module")
def server(world):
    srv = serve(world)
    yield srv
    srv.shutdown()


@pytest.fixture(scope="module")
def warehouse(world, server, tmp_path_factory):
    """One full `tokenledger run` over the whole world (all three providers)."""
    db = tmp_path_factory.mktemp("opencost") / "wh.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("OPENAI_ADMIN_KEY", "OPENAI_BASE_URL", "ANTHROPIC_ADMIN_KEY",
                     "ANTHROPIC_BASE_URL", "OPENCOST_BASE_URL"):  # fmt: skip
            mp.setenv(name, "unset")  # restored after the module, whatever configure sets
        configure_env_for(server)
        mp.setenv("TOKENLEDGER_DUCKDB", str(db))
        last = world.start + dt.timedelta(days=DAYS - 1)
        assert main(["run", "--start", str(world.start), "--end", str(last), "--quiet"]) == 0
        yield db


def _query(db, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _truth(world: World) -> dict[tuple[str, str], Decimal]:
    return truth_cost_by_provider_day(world.truth_billed_cost())


def _allocated_vs_billed(db) -> list[str]:
    """Provider-days where Σ allocated (teams + unallocated) ≠ Σ billed, to the cent."""
    allocated = {
        (p, d): Decimal(c)
        for p, d, c in _query(
            db,
            "select x_provider, charge_period_start::date::varchar, sum(allocated_cost)::varchar"
            " from marts.fct_cost_allocated group by 1, 2",
        )
    }
    return compare_to_the_cent(allocated, fact_cost_by_provider_day(db))


def _rebuild_from_split(db, method: str) -> None:
    """Re-run the models from the idle split to the marts with another stated method
    (TOKENLEDGER_DUCKDB must point at `db`)."""
    run_dbt(
        ["run", "--select", *SPLIT_TO_MARTS, "--vars", f"{{opencost_idle_split_method: {method}}}"],
        target_path=db.parent / "dbt_target_split",
    )


def test_gpu_cluster_cost_equals_truth_per_provider_and_day(world, warehouse):
    problems = compare_to_the_cent(fact_cost_by_provider_day(warehouse), _truth(world))
    assert problems == []
    days = {d for p, d in fact_cost_by_provider_day(warehouse) if p == "opencost"}
    assert len(days) == DAYS
    # self-hosted GPU cost is in the same fact, by resource, with FOCUS service names
    rows = _query(
        warehouse,
        "select distinct x_token_type, consumed_unit, service_name, service_category "
        "from marts.fct_cost_and_usage where x_provider = 'opencost' order by 1",
    )
    assert rows == [
        ("cpu_core_hours", "Core-Hours", "Kubernetes", "AI and Machine Learning"),
        ("gpu_hours", "GPU-Hours", "Kubernetes", "AI and Machine Learning"),
        ("ram_gib_hours", "GiB-Hours", "Kubernetes", "AI and Machine Learning"),
    ]


def test_idle_is_visible_and_shared_by_gpu_hours(world, warehouse):
    """The seed's method (proportional): each day's idle GPU cost lands on the namespaces
    that used GPUs, in proportion to their GPU-hours, exactly; rows stay marked idle."""
    cluster = opencost.cluster_of(world)
    served = cluster.namespace_truth(0, DAYS - 1)
    idle_truth = {
        world.date_of(int(r.day)).isoformat(): Decimal(int(r.gpu_nano)) * NANO
        for r in served[served["namespace"] == opencost.IDLE].itertuples()
    }
    shares = _query(
        warehouse,
        "select bucket_date::varchar, kubernetes_namespace, idle_split_method, "
        "billed_cost::varchar from intermediate.int_opencost__idle_shared "
        "where is_idle and source_token_type = 'gpuCost'",
    )
    by_day: dict[str, dict[str, Decimal]] = {}
    for day, namespace, method, cost in shares:
        assert method == "proportional"
        by_day.setdefault(day, {})[namespace] = Decimal(cost)
    # Σ shares = the idle GPU cost OpenCost served, per day, exactly (1e-9)
    assert {d: sum(v.values()) for d, v in by_day.items()} == idle_truth
    # shares follow GPU-hours: the CPU-only namespaces get none of the idle GPU cost
    gpu_users = set(
        served[(served["namespace"] != opencost.IDLE) & (served["gpu_nano"] > 0)]["namespace"]
    )
    assert set().union(*by_day.values()) == gpu_users
    day, shared = max(by_day.items(), key=lambda kv: len(kv[1]))
    hours = dict(
        _query(
            warehouse,
            "select kubernetes_namespace, sum(consumed_quantity)::double "
            "from intermediate.int_opencost__resource_costs where not is_idle "
            f"and source_token_type = 'gpuCost' and bucket_date = '{day}' group by 1",
        )
    )
    total_idle, total_hours = sum(shared.values()), sum(hours.values())
    for namespace, cost in shared.items():
        expected = float(total_idle) * hours[namespace] / total_hours
        assert abs(float(cost) - expected) < 1e-6
    assert _allocated_vs_billed(warehouse) == []


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"server_error_every": 2, "malformed_every": 3}, id="5xx-and-garbled"),
        pytest.param({"rate_limit_every": 2, "retry_after": 0}, id="429-retry-after"),
    ],
)
def test_fault_storm_lands_the_same_raw_table(world, warehouse, tmp_path, faults):
    stormy = serve(world)
    try:
        stormy.control("/_sim/faults", faults)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OPENCOST_BASE_URL", stormy.url)
            last = world.start + dt.timedelta(days=DAYS - 1)
            run_ingestion(world.start, last, tmp_path / "storm.duckdb", providers=["opencost"])
    finally:
        stormy.shutdown()
    sql = (
        "select _row_key, name, total_cost, gpu_cost, cpu_cost, ram_cost, _bucket_date "
        "from raw_opencost.allocations order by _row_key"
    )
    clean = _query(warehouse, sql)
    assert len(clean) > DAYS
    assert _query(tmp_path / "storm.duckdb", sql) == clean


def test_restated_day_and_unpriced_allocation_under_every_idle_method(
    world, server, warehouse, monkeypatch
):
    """OpenCost re-prices a past day and serves one allocation without prices; the next run
    (lookback re-read) corrects the day, quarantines the entry with its reason, and the fact
    still equals the truth; then the idle split is re-run under each method: allocated +
    unallocated = billed per provider and day, to the cent, every time."""
    last = world.start + dt.timedelta(days=DAYS - 1)
    restated, broken = last - dt.timedelta(days=1), last
    before = _truth(world)[("opencost", restated.isoformat())]
    server.control("/_sim/restate", {"provider": "opencost", "date": str(restated), "factor": 1.3})
    server.control(
        "/_sim/inject", {"provider": "opencost", "kind": "missing_field", "date": str(broken)}
    )
    after = _truth(world)[("opencost", restated.isoformat())]
    assert after != before

    monkeypatch.setenv("OPENCOST_BASE_URL", server.url)
    monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(warehouse))
    run_ingestion(last - dt.timedelta(days=2), last, warehouse, providers=["opencost"])
    # the seed's method (proportional) was checked on the first run; now the other two
    for method in ("even", "unallocated"):
        _rebuild_from_split(warehouse, method)
        assert compare_to_the_cent(fact_cost_by_provider_day(warehouse), _truth(world)) == []
        assert _allocated_vs_billed(warehouse) == []
        methods = {
            m
            for (m,) in _query(
                warehouse,
                "select distinct idle_split_method from intermediate.int_opencost__idle_shared "
                "where is_idle",
            )
        }
        assert methods == {method}
        unshared = _query(
            warehouse,
            "select count(*) from intermediate.int_opencost__idle_shared "
            "where is_idle and kubernetes_namespace is null and billed_cost is not null",
        )[0][0]
        assert (unshared > 0) == (method == "unallocated")

    quarantined = _query(
        warehouse,
        "select charge_date::varchar, reason, source_token_type from "
        "quarantine.quarantined_cost_rows where provider = 'opencost' order by 3",
    )
    assert quarantined == [
        (broken.isoformat(), "null_amount", "cpuCost"),
        (broken.isoformat(), "null_amount", "gpuCost"),
        (broken.isoformat(), "null_amount", "ramCost"),
    ]
