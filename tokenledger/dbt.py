"""Run the dbt project (seed, build, parse) in-process with dbt's programmatic runner."""

from __future__ import annotations

import os
import pprint
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
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
    _leave_path_out_of_parse_state()
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

    sharing = shared_parse(target_path, target) if target_path is not None else nullcontext()
    try:
        with sharing:
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


# --- one parse for every warehouse ------------------------------------------------------------
# dbt keeps its parse of the project in <target-path>/partial_parse.msgpack and parses the whole
# project again (about 10 CPU-s here) in a new target folder, or when the profile's connection
# values differ from those the file was parsed with. Every warehouse has its own target folder
# (its run artefacts must not mix), and the DuckDB file's path is one of those values, so each
# new warehouse (every test, every `--warehouse` path) paid the full parse. Two steps avoid it:
# the path is left out of dbt's check (nothing in the project's parse reads it; the database
# name, which node relations carry, stays in), and a new target folder starts from the newest
# parse of the same target and database name. dbt still checks every file, env var and var
# against that parse and re-parses what changed, so a stale or mismatched copy costs only time.
PARSE_STATE = "partial_parse.msgpack"


def _leave_path_out_of_parse_state() -> None:
    """Make dbt's partial-parse check ignore the DuckDB file's path (once per process)."""
    from dbt.contracts.files import FileHash
    from dbt.parser.manifest import ManifestLoader

    original = ManifestLoader.build_manifest_state_check
    if getattr(original, "tokenledger_path_free", False):
        return

    def build_manifest_state_check(self):
        check = original(self)
        info = sorted(
            (k, v) for k, v in self.root_project.credentials.connection_info() if k != "path"
        )
        check.profile_hash = FileHash.from_contents(pprint.pformat(info))
        return check

    build_manifest_state_check.tokenledger_path_free = True
    ManifestLoader.build_manifest_state_check = build_manifest_state_check


def _shared_parse_file(target: str | None) -> Path:
    """Where the newest parse for this dbt target and database name is kept."""
    target = target or os.environ.get("TOKENLEDGER_DBT_TARGET", "duckdb")
    if target == "postgres":
        database = os.environ.get("TOKENLEDGER_PG_DATABASE", "tokenledger")
    else:
        from tokenledger.paths import duckdb_path

        database = duckdb_path().stem
    return PROJECT_DIR / "target" / "parse_cache" / f"{target}-{database}.msgpack"


@contextmanager
def shared_parse(target_path: Path, target: str | None, *, replace: bool = False) -> Iterator[None]:
    """Around one dbt call in `target_path`: start from the newest parse of this target and
    database (when the folder has none, or always with `replace`), and keep the parse the call
    wrote for the next new folder (atomic: test workers share it). A parse the call did not
    write is not shared: it may be another warehouse's."""
    _leave_path_out_of_parse_state()
    shared = _shared_parse_file(target)
    own = target_path / PARSE_STATE
    if shared.exists() and (replace or not own.exists()):
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared, own)
    started = time.time()
    try:
        yield
    finally:
        if own.exists() and own.stat().st_mtime >= started:
            shared.parent.mkdir(parents=True, exist_ok=True)
            tmp = shared.with_name(f"{shared.name}.{os.getpid()}.tmp")
            shutil.copyfile(own, tmp)
            os.replace(tmp, shared)


def cli_main() -> None:
    """`tokenledger-dbt`: dbt's command line with the shared parse, for dbt run as a program
    (Dagster's dbt steps run it: orchestration.resources). dagster-dbt gives every step a new
    target folder (DBT_TARGET_PATH) holding a copy of the parse `tokenledger prepare` made
    for the default warehouse; dbt parses the whole project again when the warehouse differs.
    Here the folder starts from the newest parse of this target and database instead, the
    DuckDB path is left out of the check, and a parse the run wrote is kept for the next one
    (not the project's own target folder's: `tokenledger prepare` owns that one)."""
    import sys

    from dbt.cli.main import cli

    target_path = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    if not target_path.is_absolute():  # dbt reads it relative to the project
        target_path = PROJECT_DIR / target_path
    target = os.environ.get("TOKENLEDGER_DBT_TARGET")
    if "--target" in sys.argv[1:-1]:
        target = sys.argv[sys.argv.index("--target") + 1]
    if target_path.resolve() == (PROJECT_DIR / "target").resolve():
        _leave_path_out_of_parse_state()  # the project's own folder (`dbt --version`):
        cli()  # `tokenledger prepare` owns its parse
    else:
        with shared_parse(target_path, target, replace=True):  # over dagster-dbt's copy
            cli()


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
