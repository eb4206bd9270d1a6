"""Every provider on PostgreSQL: the shared warehouse gets the same bill as DuckDB.

One small world with every provider the simulator projects (OpenAI, Anthropic, AWS Bedrock's
CUR on moto's S3, Vertex AI export files, Azure OpenAI in EUR, OpenCost, FOCUS exports, app
telemetry) is run through `tokenledger run --warehouse postgres` into this module's own
database. What a user would notice: the fact equals the simulator's truth to the cent per
provider and day on PostgreSQL too (each provider's raw tables, staging SQL and the CUR's
delivery retirement run on PostgreSQL). A re-run is tested on PostgreSQL in
tests/test_postgres.py, and per provider on DuckDB in each provider's module.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from simulator.server import serve
from simulator.world import World, all_providers
from tokenledger.cli import main
from tokenledger.demo import (
    compare_to_the_cent,
    configure_env_for,
    fact_cost_by_provider_day,
    truth_cost_by_provider_day,
)

pytestmark = pytest.mark.postgres

SEED, DAYS = 13, 5


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, days=DAYS, providers=all_providers())


@pytest.fixture(scope="module")
def fact(world, pg_warehouse, tmp_path_factory):
    """One run of the world's days into the module's PostgreSQL database; the fact after it."""
    saved = dict(os.environ)
    server = serve(world)
    try:
        configure_env_for(server, tmp_path_factory.mktemp("exports"))
        os.environ["TOKENLEDGER_PG_DATABASE"] = pg_warehouse.pg.database
        last = world.start + timedelta(days=DAYS - 1)
        args = ["run", "--start", str(world.start), "--end", str(last), "--quiet"]
        assert main([*args, "--warehouse", "postgres"]) == 0
    finally:
        server.shutdown()
        os.environ.clear()
        os.environ.update(saved)
    return fact_cost_by_provider_day(pg_warehouse)


def test_every_provider_matches_the_truth_to_the_cent_on_postgres(world, fact):
    truth = truth_cost_by_provider_day(world.truth_billed_cost())
    assert compare_to_the_cent(fact, truth) == []
    expected = set(all_providers()) - {"telemetry"}  # telemetry attributes cost, bills none
    assert {provider for provider, _ in fact} >= expected
    assert len({day for _, day in fact}) == DAYS
