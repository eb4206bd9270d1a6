"""The Dagster UI a platform engineer opens: `dagster-webserver -m orchestration.definitions`.

Starts the real webserver as a subprocess (its own DAGSTER_HOME, the provider env vars pointed
at a simulator, a tmp DuckDB warehouse), asks its GraphQL API for the asset graph, launches a
partitioned run of `daily_cost_pipeline` the way the UI's "Materialize" button does, waits for
it to succeed, and reads the fact table the run wrote.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tokenledger.demo import SIM_ANTHROPIC_KEY, SIM_OPENAI_KEY
from tokenledger.paths import PROJECT_DIR

STARTUP_TIMEOUT_S = 180
RUN_TIMEOUT_S = 420
JOB = "daily_cost_pipeline"

ASSET_GRAPH = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    isPartitioned
    jobNames
  }
}
"""

REPOSITORIES = """
{
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } } }
    ... on PythonError { message }
  }
}
"""

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on Error { message }
  }
}
"""

RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status tags { key value } }
    ... on Error { message }
  }
}
"""

RUN_FAILURE_EVENTS = """
query RunLogs($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level }
        ... on ExecutionStepFailureEvent { error { message cause { message } } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(url: str, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        payload = json.loads(resp.read())
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


def _dagster_webserver() -> str:
    """The venv's dagster-webserver (beside this Python), so runs use the same environment."""
    beside = Path(sys.executable).parent / "dagster-webserver"
    return str(beside) if beside.exists() else "dagster-webserver"


@pytest.fixture()
def webserver(dbt_manifest, tmp_path):
    """A running `dagster-webserver` on a free port against a simulator and a tmp warehouse."""
    from simulator.server import serve
    from simulator.world import World

    world = World(seed=3, days=6)
    sim = serve(world)
    home = tmp_path / "dagster_home"
    home.mkdir()
    # Runs start at once in a subprocess (no daemon needed); no telemetry from tests.
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n"
        "  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
        "telemetry:\n"
        "  enabled: false\n"
    )
    db = tmp_path / "ui.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TOKENLEDGER_DUCKDB": str(db),
        "TOKENLEDGER_WAREHOUSE": "duckdb",
        "TOKENLEDGER_DBT_TARGET": "duckdb",
        "OPENAI_ADMIN_KEY": SIM_OPENAI_KEY,
        "OPENAI_BASE_URL": f"{sim.url}/v1",
        "ANTHROPIC_ADMIN_KEY": SIM_ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": sim.url,
        "DAGSTER_DISABLE_TELEMETRY": "1",
        # the venv first on PATH: the run worker and dbt resolve to this environment
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    port = _free_port()
    log = (tmp_path / "webserver.log").open("w")
    proc = subprocess.Popen(
        [
            _dagster_webserver(),
            "-m",
            "orchestration.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert proc.poll() is None, (
                f"webserver exited: {(tmp_path / 'webserver.log').read_text()[-3000:]}"
            )
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, "dagster-webserver did not start in time"
            time.sleep(1)
        yield {"url": url, "world": world, "db": db, "log": tmp_path / "webserver.log"}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        log.close()
        sim.shutdown()


def _wait_for_code_location(url: str) -> tuple[str, str]:
    """(location name, repository name) once the code location has loaded."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        repos = _graphql(url, REPOSITORIES)["repositoriesOrError"]
        if repos["__typename"] == "RepositoryConnection" and repos["nodes"]:
            node = repos["nodes"][0]
            return node["location"]["name"], node["name"]
        assert time.monotonic() < deadline, f"code location did not load: {repos}"
        time.sleep(1)


def test_webserver_shows_asset_graph_and_runs_a_partition(webserver):
    url = webserver["url"]
    location, repository = _wait_for_code_location(url)

    nodes = _graphql(url, ASSET_GRAPH)["assetNodes"]
    graph = {
        "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]}
        for n in nodes
    }
    for raw in (
        "raw_openai/costs",
        "raw_openai/usage_completions",
        "raw_openai/usage_embeddings",
        "raw_anthropic/cost_report",
        "raw_anthropic/usage_messages",
    ):
        assert raw in graph, f"dlt asset {raw} missing from the UI graph"
    # dlt -> dbt lineage: the staging models depend on the dlt assets themselves
    assert "raw_openai/costs" in graph["staging/stg_openai__costs"]
    assert "raw_openai/usage_completions" in graph["staging/stg_openai__usage_completions"]
    assert "raw_anthropic/cost_report" in graph["staging/stg_anthropic__costs"]
    assert "raw_anthropic/usage_messages" in graph["staging/stg_anthropic__usage_messages"]
    assert "intermediate/int_cost__unioned" in graph["marts/fct_cost_and_usage"]
    fact = next(n for n in nodes if n["assetKey"]["path"] == ["marts", "fct_cost_and_usage"])
    assert fact["isPartitioned"] and JOB in fact["jobNames"]

    world = webserver["world"]
    day = str(world.start + timedelta(days=world.days - 1))
    launched = _graphql(
        url,
        LAUNCH_RUN,
        {
            "executionParams": {
                "selector": {
                    "repositoryLocationName": location,
                    "repositoryName": repository,
                    "jobName": JOB,
                },
                "mode": "default",
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = _graphql(url, RUN_STATUS, {"runId": run_id})["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(2)
    if run["status"] != "SUCCESS":
        events = _graphql(url, RUN_FAILURE_EVENTS, {"runId": run_id})["logsForRun"]["events"]
        errors = [
            json.dumps(e.get("error")) if e.get("error") else e.get("message")
            for e in events
            if e.get("level") in ("ERROR", "CRITICAL")
        ]
        pytest.fail(f"run {run_id} ended {run['status']}: {errors[-5:]}")
    assert {"key": "dagster/partition", "value": day} in run["tags"]

    con = duckdb.connect(str(webserver["db"]), read_only=True)
    try:
        rows = con.execute(
            "select x_provider, count(*), max(charge_period_start)::date::varchar "
            "from marts.fct_cost_and_usage group by 1"
        ).fetchall()
    finally:
        con.close()
    by_provider = {p: (n, last) for p, n, last in rows}
    assert set(by_provider) == {"openai", "anthropic"}
    assert all(n > 0 and last == day for n, last in by_provider.values())
