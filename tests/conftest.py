"""Shared pytest fixtures: the dbt manifest, a simulator on a free port, provider env vars.

Fixtures below the first section may be appended by each area's tests; keep them small.
"""

from __future__ import annotations

import pytest


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
    from tokenledger.demo import SIM_ANTHROPIC_KEY, SIM_OPENAI_KEY

    def _point_at(server) -> None:
        monkeypatch.setenv("OPENAI_ADMIN_KEY", SIM_OPENAI_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", SIM_ANTHROPIC_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)

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
