"""Shared pytest fixtures: the dbt manifest, a simulator on a free port, provider env vars.

Fixtures below the first section may be appended by each area's tests; keep them small.
"""

from __future__ import annotations

import pytest

# `make test` runs two workers, each taking the next whole module from this order
# (`--dist loadfile --no-loadscope-reorder`): the longest modules go first so that no long one
# starts last while the other worker idles. Measured with `--durations`; a module not listed
# runs after these, in file order.
SLOWEST_MODULES_FIRST = (
    "test_end_to_end",
    "test_postgres",
    "test_models",
    "test_postgres_providers",
    "test_quality_gate",
    "test_gcp_vertex_ai",
    "test_dagster_ui",
    "test_pricing",
    "test_governance",
    "test_opencost",
    "test_telemetry",
    "test_aws_bedrock",
    "test_focus",
    "test_allocation",
    "test_orchestration",
    "test_report",
    "test_provider_services",
    "test_dashboards",
    "test_azure_openai",
    "test_dbt_docs",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: order kept


@pytest.fixture(scope="session")
def dbt_manifest():
    """The dbt manifest Dagster needs (`make test` prepares it first; parsed here only when a
    dbt file changed since, so parallel test workers do not rewrite it under each other)."""
    from tokenledger.dbt import manifest_is_fresh, prepare_manifest
    from tokenledger.paths import manifest_path

    return manifest_path() if manifest_is_fresh() else prepare_manifest()


@pytest.fixture()
def provider_env(monkeypatch):
    """A function that points the provider env vars at a running simulator server."""
    from tokenledger.demo import sim_api_env

    def _point_at(server) -> None:
        for key, value in sim_api_env(server).items():
            monkeypatch.setenv(key, value)

    return _point_at


@pytest.fixture()
def simulator_server():
    """A fresh simulator (seed 7, 14 days ending yesterday, UTC) on a free port.

    Function-scoped because tests restate days, inject bad records and set faults on it.
    The world is `simulator_server.world`.
    """
    from simulator.server import serve
    from simulator.world import World

    server = serve(World(seed=7, days=14))
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def pg_warehouse(request, tmp_path_factory):
    """A PostgreSQL warehouse of this test module's own: database `tokenledger_test_<module>_<pid>`
    created empty before the module and dropped after, so runs never touch a user's data or
    each other's. Fails (not skips) when the server is down: `make setup` starts it.
    """
    import os

    from tokenledger.warehouse import PgSettings, Warehouse, create_database_if_missing

    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    pg = PgSettings.from_env(database=f"tokenledger_test_{module}_{os.getpid()}")
    try:
        pg.connect(database="postgres").close()
    except Exception as exc:  # noqa: BLE001 - any connection failure means no server
        pytest.fail(
            f"PostgreSQL not reachable at {pg.host}:{pg.port} ({exc}); start it with "
            "`bash scripts/setup.d/postgres.sh` or deselect with -m 'not postgres'"
        )
    from tokenledger.warehouse import drop_database

    drop_database(pg)
    create_database_if_missing(pg)
    workdir = tmp_path_factory.mktemp(f"pg_{module}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOKENLEDGER_PG_WORKDIR", str(workdir))
        yield Warehouse(engine="postgres", pg=pg)
    drop_database(pg)


VOLATILE = {"_dlt_load_id", "_dlt_id", "detected_at", "_loaded_at"}


@pytest.fixture(scope="session")
def warehouse_snapshot():
    """A function: a content hash per table of a warehouse (DuckDB path or Warehouse), dlt
    load ids and audit timestamps left out, to show that a re-run or a fault storm changed
    nothing. Every raw schema, the marts and the quarantine."""
    import hashlib

    from tokenledger.warehouse import Warehouse

    def snapshot(db) -> dict[str, str]:
        with Warehouse.resolve(db).reader() as con:
            tables = con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' and table_name not like '\\_dlt%' escape '\\' "
                "and (table_schema like 'raw\\_%' escape '\\' "
                "or table_schema in ('marts', 'quarantine'))"
            ).fetchall()
            out = {}
            for schema, table in sorted(tables):
                cols = [
                    c
                    for (c,) in con.execute(
                        "select column_name from information_schema.columns "
                        f"where table_schema = '{schema}' and table_name = '{table}' "
                        "order by ordinal_position"
                    ).fetchall()
                    if c not in VOLATILE
                ]
                col_list = ", ".join(f'"{c}"' for c in cols)
                rows = con.execute(f'select {col_list} from "{schema}"."{table}"').fetchall()
                rows = sorted(rows, key=repr)
                out[f"{schema}.{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
            return out

    return snapshot
