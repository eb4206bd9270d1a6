"""The quality gate: write–audit–publish for the marts.

1. **Write.** dbt builds the marts into the audit schema `marts__audit` (dbt var
   `audit_schema`, macros/generate_schema_name.sql); staging, intermediate and quarantine are
   internal and built in place.
2. **Audit.** Blocking checks judge the batch: Great Expectations suites on the raw cost
   reports and, after the dbt build, on the staging cost models
   (tokenledger.quality.expectations), and every dbt test of severity error, which
   `dbt build` runs on the audited marts (grain, types via the contract, non-negative usage
   cost, known currencies, no missing days, no volume drop, reconciliation with raw).
3. **Publish** only when every check passed: the audited marts replace `marts` in one
   transaction (tokenledger.quality.publish). Otherwise `marts` is untouched, the offending
   rows go to `quarantine.quarantined_batch_rows` with the check and the reason, an alert goes
   out through tokenledger.alerts, and `QualityGateFailed` names the checks.

`tokenledger run` (tokenledger.pipeline) and Dagster (orchestration/defs/transform, quality)
use the same functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tokenledger.quality.checks import (
    AUDIT_SCHEMA,
    DBT_NODE,
    PUBLISHED_SCHEMA,
    Batch,
    CheckFailure,
    QualityGateFailed,
    batch_fingerprint,
    dbt_failures,
    gate_vars,
)
from tokenledger.quality.publish import audited_marts, publish_audited_marts
from tokenledger.quality.quarantine import (
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    ensure_quarantine_table,
    raise_quality_alert,
    write_quarantine,
)

BATCH_ENV = ("TOKENLEDGER_BATCH_START", "TOKENLEDGER_BATCH_END", "TOKENLEDGER_BATCH_PROVIDERS")


def audited_build_args(batch: Batch, audit_schema: str = AUDIT_SCHEMA) -> list[str]:
    """`dbt build` arguments of an audited build of `batch`; run it inside
    `batch_environment(batch)`, which gives the batch-aware tests its days and providers.

    dbt's unit tests are left out: they check the models' SQL on fixed inputs, not the batch,
    so they say nothing new on a run and took about a third of its dbt time. The test suite
    runs them (tests/test_models.py); so does `dbt build` or `dbt test --select test_type:unit`.
    """
    return [
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        json.dumps(gate_vars(audit_schema)),
    ]


def batch_env(batch: Batch) -> dict[str, str]:
    """The env vars the batch-aware dbt tests read (missing days, volume drop)."""
    return {
        "TOKENLEDGER_BATCH_START": batch.start.isoformat() if batch.start else "",
        "TOKENLEDGER_BATCH_END": batch.end.isoformat() if batch.end else "",
        "TOKENLEDGER_BATCH_PROVIDERS": ",".join(batch.providers),
    }


@contextmanager
def batch_environment(batch: Batch) -> Iterator[None]:
    """`batch_env(batch)` in os.environ for one dbt call, then restored."""
    saved = {k: os.environ.get(k) for k in BATCH_ENV}
    os.environ.update(batch_env(batch))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def judge_build(
    warehouse: Any,
    target_path: Path,
    dbt_succeeded: bool,
    dbt_errors: list[str] | None = None,
    earlier: list[CheckFailure] | None = None,
) -> list[CheckFailure]:
    """Every blocking failure of a batch: `earlier` ones (Great Expectations) plus the dbt
    invocation's failing tests and nodes; a failed dbt run with no node to blame still counts."""
    failures = list(earlier or []) + dbt_failures(target_path, warehouse)
    if not dbt_succeeded and not any(f.kind.startswith("dbt") for f in failures):
        detail = "; ".join(dbt_errors or []) or "dbt build failed"
        failures.append(CheckFailure("dbt_build", DBT_NODE, "dbt", detail.splitlines()[0]))
    return failures


def reject_batch(warehouse: Any, failures: list[CheckFailure], batch: Batch) -> QualityGateFailed:
    """Quarantine the offending rows, raise the alert; the exception to raise."""
    batch_id = batch_fingerprint(failures)
    write_quarantine(warehouse, failures, batch_id, batch)
    alerts = raise_quality_alert(warehouse, failures, batch_id, batch)
    return QualityGateFailed(failures, batch_id, batch, alerts)


def publish_batch(warehouse: Any, target_path: Path) -> dict[str, str]:
    """Publish every mart the audited build produced, in one transaction."""
    return publish_audited_marts(warehouse, audited_marts(target_path))


__all__ = [
    "AUDIT_SCHEMA",
    "BATCH_ENV",
    "PUBLISHED_SCHEMA",
    "QUARANTINE_SCHEMA",
    "QUARANTINE_TABLE",
    "Batch",
    "CheckFailure",
    "QualityGateFailed",
    "audited_build_args",
    "audited_marts",
    "batch_env",
    "batch_environment",
    "ensure_quarantine_table",
    "judge_build",
    "publish_audited_marts",
    "publish_batch",
    "reject_batch",
]
