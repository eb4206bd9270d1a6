"""Shared pytest fixtures: the dbt manifest, a simulator on a free port, provider env vars.

Fixtures below the first section may be appended by each area's tests; keep them small.
"""

from __future__ import annotations

import pytest



@pytest.fixture(scope="session")
def dbt_manifest():
    """The dbt manifest Dagster needs; parsed once per test session (like `tokenledger prepare`)."""
    from tokenledger.dbt import prepare_manifest

    return prepare_manifest()


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
