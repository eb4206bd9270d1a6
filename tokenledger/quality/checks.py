"""What the quality gate found: one `CheckFailure` per failing blocking check, the batch it
judged, and `QualityGateFailed`, which names every failing check.

A batch is the UTC days one run (re)loaded, [start, end], for the configured providers. The
batch-aware dbt tests read those from env vars (tokenledger.quality.batch_env); the failures of
a dbt invocation are read back from its artefacts (`run_results.json` + `manifest.json`), with
the offending rows fetched by re-running each failing test's compiled SQL while the audited
marts still exist — the rows `dbt --store-failures` would keep, fetched only when one fails.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PUBLISHED_SCHEMA = "marts"
"""What BI tools read; only a batch that passed the gate reaches it."""
AUDIT_SCHEMA = "marts__audit"
"""Where dbt builds and tests the marts of a batch before they are published."""
MAX_ROWS_PER_CHECK = 1000
"""Offending rows kept per failing check (the count is always reported in full)."""

DBT_TEST = "dbt_test"
DBT_NODE = "dbt_node"
GREAT_EXPECTATIONS = "great_expectations"


@dataclass(frozen=True)
class Batch:
    """The UTC days [start, end] a run loaded, for these providers (None = not bounded)."""

    start: dt.date | None = None
    end: dt.date | None = None
    providers: tuple[str, ...] = ()

    def describe(self) -> str:
        days = f"{self.start or '…'} .. {self.end or '…'}"
        return f"{days} ({', '.join(self.providers) or 'no provider'})"


@dataclass
class CheckFailure:
    """One blocking check that failed: its name, what it checked, why, and the offending rows
    (at most MAX_ROWS_PER_CHECK of `failing_rows`)."""

    check_name: str
    kind: str  # dbt_test | dbt_node | great_expectations
    relation: str
    reason: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    failing_rows: int = 0

    def summary(self) -> str:
        count = f" ({self.failing_rows} offending rows)" if self.failing_rows else ""
        return f"{self.check_name} on {self.relation}: {self.reason}{count}"


class QualityGateFailed(RuntimeError):
    """A batch failed blocking checks: the marts were not replaced. Names every failing check,
    the batch id the offending rows carry in quarantine.quarantined_batch_rows, and alerts."""

    def __init__(
        self,
        failures: list[CheckFailure],
        batch_id: str,
        batch: Batch | None = None,
        alerts: list[Any] | None = None,
    ) -> None:
        self.failures = failures
        self.batch_id = batch_id
        self.batch = batch
        self.alerts = alerts or []
        names = ", ".join(f.check_name for f in failures)
        lines = [
            f"quality gate failed ({len(failures)} blocking check(s): {names}); "
            f"marts left unchanged, offending rows in quarantine.quarantined_batch_rows "
            f"(batch_id {batch_id})"
        ]
        lines += [f"  - {f.summary()}" for f in failures]
        super().__init__("\n".join(lines))

    @property
    def check_names(self) -> list[str]:
        return [f.check_name for f in self.failures]


def gate_vars(audit_schema: str = AUDIT_SCHEMA) -> dict[str, Any]:
    """The dbt vars of an audited build: the marts go to `audit_schema`. The batch's days and
    providers travel as env vars (`tokenledger.quality.batch_env`), not vars: a changed var
    re-parses the whole project, a changed env var only the two files that read it."""
    return {"audit_schema": audit_schema}


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return str(value)


def row_json(row: dict[str, Any]) -> str:
    """One offending row as JSON text (decimals exact, dates ISO, NaN as null)."""
    clean = {}
    for key, value in row.items():
        try:
            missing = value is None or value != value
        except (TypeError, ValueError):
            missing = False
        clean[str(key)] = None if missing else value
    return json.dumps(clean, default=_json_default, sort_keys=True)


def batch_fingerprint(failures: list[CheckFailure]) -> str:
    """A stable id of what failed: the same bad data failing the same checks again (a re-run)
    gets the same id, so its quarantine rows are replaced and its alert is not re-sent."""
    digest = hashlib.sha256()
    for failure in sorted(failures, key=lambda f: (f.check_name, f.relation)):
        digest.update(f"{failure.check_name}\x1f{failure.relation}\x1f{failure.reason}".encode())
        for text in sorted(row_json(r) for r in failure.rows):
            digest.update(text.encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------- dbt artefacts
def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def dbt_failures(target_path: Path, warehouse: Any) -> list[CheckFailure]:
    """The blocking failures of the dbt invocation whose artefacts are in `target_path`:
    failing tests of severity error (with their offending rows) and models/seeds that errored.
    Warnings do not block."""
    results = _load(Path(target_path) / "run_results.json").get("results", [])
    nodes = _load(Path(target_path) / "manifest.json").get("nodes", {})
    failures = []
    for res in results:
        status = res.get("status")
        if status not in ("fail", "error", "runtime error"):
            continue
        node = nodes.get(res["unique_id"], {})
        name = node.get("name") or res["unique_id"].split(".")[-1]
        message = (res.get("message") or status).strip().splitlines()[0]
        if node.get("resource_type") != "test":
            failures.append(CheckFailure(name, DBT_NODE, res.get("relation_name") or name, message))
            continue
        tested = node.get("attached_node") or next(
            iter(node.get("depends_on", {}).get("nodes", [])), ""
        )
        relation = nodes.get(tested, {}).get("relation_name") or tested.split(".")[-1] or name
        description = (node.get("description") or "").strip()
        reason = f"{message} — {description}" if description else message
        failure = CheckFailure(name, DBT_TEST, str(relation).replace('"', ""), reason)
        failure.failing_rows = int(res.get("failures") or 0)
        if status == "fail" and res.get("compiled_code"):
            failure.rows = _offending_rows(warehouse, res["compiled_code"], name)
        failures.append(failure)
    return failures


def _offending_rows(warehouse: Any, compiled_sql: str, name: str) -> list[dict[str, Any]]:
    """The rows a failing test returns, read while the audited relations still exist."""
    sql = (
        f"select * from ({compiled_sql.strip().rstrip(';')}) as failing limit {MAX_ROWS_PER_CHECK}"
    )
    try:
        columns, rows = warehouse.query(sql)
    except Exception as exc:  # noqa: BLE001 - the failure is reported even without its rows
        log.warning("could not read the offending rows of %s: %s", name, exc)
        return []
    return [dict(zip(columns, row, strict=True)) for row in rows]
