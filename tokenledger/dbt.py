"""Run the dbt project (seed, build, parse) in-process with dbt's programmatic runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tokenledger.paths import PROJECT_DIR


class DbtBuildError(RuntimeError):
    """A dbt command failed; the message names every failing node and its error."""


@dataclass
class DbtRunSummary:
    """What one dbt invocation did: node name → status, and the failures with messages."""

    success: bool = False
    statuses: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_dbt(
    args: Sequence[str],
    *,
    duckdb_path: Path | None = None,
    target: str | None = None,
    target_path: Path | None = None,
    on_node: Callable[[str, str], None] | None = None,
    raise_on_failure: bool = True,
) -> DbtRunSummary:
    """Invoke `dbt <args>` against the project; report each finished node to `on_node`.

    With `on_node` (a progress display) dbt's own log lines are silenced except errors.

    `duckdb_path` sets TOKENLEDGER_DUCKDB for the profile; `target_path` keeps run artefacts
    away from the manifest Dagster loads (defaults to a folder beside the warehouse file).
    """
    from dbt.cli.main import dbtRunner

    if duckdb_path is not None:
        os.environ["TOKENLEDGER_DUCKDB"] = str(duckdb_path)
    cli = [
        *args,
        *(["--quiet"] if on_node is not None else []),
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
    ]
    if target:
        cli += ["--target", target]
    if target_path is not None:
        cli += ["--target-path", str(target_path)]
        cli += ["--log-path", str(target_path / "logs")]

    summary = DbtRunSummary()

    def _callback(event) -> None:  # dbt EventMsg
        name = event.info.name
        if name == "NodeFinished" and on_node is not None:
            node = event.data.node_info
            on_node(node.unique_id, node.node_status)

    try:
        result = dbtRunner(callbacks=[_callback]).invoke(cli)
    finally:
        _release_duckdb()
    if result.result is not None and hasattr(result.result, "results"):
        for res in result.result.results:
            status = str(res.status)
            summary.statuses[res.node.unique_id] = status
            if status in ("error", "fail", "runtime error"):
                summary.failures.append(f"{res.node.unique_id}: {status}: {res.message}")
            elif status == "warn":
                summary.warnings.append(f"{res.node.unique_id}: {res.message}")
    summary.success = bool(result.success)
    if raise_on_failure and not result.success:
        detail = "\n".join(summary.failures) or str(result.exception or "dbt failed")
        raise DbtBuildError(f"dbt {' '.join(args)} failed:\n{detail}")
    return summary


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a run, so the
    CLI, tests and the next step can open the file (read-only or read-write) themselves."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing to release
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
            DuckDBConnectionManager._ENV = None


DBT_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests/dbt")
"""What the manifest is parsed from: a change to any of these makes it stale."""


def manifest_is_fresh() -> bool:
    """True when target/manifest.json is newer than every dbt source file."""
    from tokenledger.paths import manifest_path

    manifest = manifest_path()
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    for name in DBT_SOURCES:
        path = PROJECT_DIR / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        if any(f.stat().st_mtime > built for f in files):
            return False
    return True


def prepare_manifest() -> Path:
    """Write target/manifest.json (`dbt parse`), which Dagster's dbt assets need before loading."""
    from tokenledger.paths import manifest_path

    run_dbt(["parse", "--quiet"], target_path=PROJECT_DIR / "target")
    return manifest_path()
