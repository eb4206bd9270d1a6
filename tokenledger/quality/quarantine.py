"""Quarantine of a failed batch and its alert.

`quarantine.quarantined_batch_rows`: one row per offending row per failing check of a batch
that the gate stopped (a check that has no rows of its own — a model that did not build, a
missing column — gets one row with `row_data` null). Keyed by `batch_id`, the fingerprint of
what failed: a re-run of the same bad batch replaces its rows instead of adding copies, and its
alert is not sent twice (tokenledger.alerts keeps the ledger).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from tokenledger.quality.checks import Batch, CheckFailure, row_json

log = logging.getLogger(__name__)

QUARANTINE_SCHEMA = "quarantine"
QUARANTINE_TABLE = "quarantined_batch_rows"
COLUMNS = (
    ("quarantine_row_key", "varchar"),
    ("batch_id", "varchar"),
    ("check_name", "varchar"),
    ("check_kind", "varchar"),
    ("checked_relation", "varchar"),
    ("row_number", "integer"),
    ("row_data", "varchar"),
    ("reason", "varchar"),
    ("failing_row_count", "bigint"),
    ("batch_start_date", "date"),
    ("batch_end_date", "date"),
    ("detected_at", "timestamp"),
)
_DDL = (
    f"create table if not exists {QUARANTINE_SCHEMA}.{QUARANTINE_TABLE} ("
    + ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    + ")"
)


def quarantine_rows(
    failures: list[CheckFailure], batch_id: str, batch: Batch, now: dt.datetime | None = None
) -> list[tuple]:
    """The rows to write, in COLUMNS order."""
    detected = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None, microsecond=0)
    out = []
    for failure in failures:
        payloads = [row_json(r) for r in failure.rows] or [None]
        for number, payload in enumerate(payloads, start=1):
            key = hashlib.sha256(
                f"{batch_id}\x1f{failure.check_name}\x1f{failure.relation}\x1f{number}".encode()
            ).hexdigest()[:32]
            out.append(
                (
                    key,
                    batch_id,
                    failure.check_name,
                    failure.kind,
                    failure.relation,
                    number,
                    payload,
                    failure.reason,
                    failure.failing_rows or len(failure.rows),
                    batch.start,
                    batch.end,
                    detected,
                )
            )
    return out


def ensure_quarantine_table(warehouse: Any) -> None:
    """Create quarantine.quarantined_batch_rows when missing (empty until a batch fails)."""
    _write(warehouse, None, [])


def write_quarantine(
    warehouse: Any, failures: list[CheckFailure], batch_id: str, batch: Batch
) -> int:
    """Replace the quarantined rows of `batch_id` with these failures' rows; rows written."""
    rows = quarantine_rows(failures, batch_id, batch)
    _write(warehouse, batch_id, rows)
    return len(rows)


def _write(warehouse: Any, batch_id: str | None, rows: list[tuple]) -> None:
    target = f"{QUARANTINE_SCHEMA}.{QUARANTINE_TABLE}"
    if not warehouse.is_postgres:
        import duckdb

        con = duckdb.connect(str(warehouse.duckdb_path))
        try:
            con.execute("begin transaction")
            con.execute(f"create schema if not exists {QUARANTINE_SCHEMA}")
            con.execute(_DDL)
            if batch_id is not None:
                con.execute(f"delete from {target} where batch_id = ?", [batch_id])
            if rows:
                marks = ", ".join("?" for _ in COLUMNS)
                con.executemany(f"insert into {target} values ({marks})", rows)
            con.execute("commit")
        finally:
            con.close()
        return
    from psycopg2.extras import execute_values

    con = warehouse.pg.connect()
    try:
        with con, con.cursor() as cur:
            cur.execute(f"create schema if not exists {QUARANTINE_SCHEMA}")
            cur.execute(_DDL)
            if batch_id is not None:
                cur.execute(f"delete from {target} where batch_id = %s", [batch_id])
            if rows:
                execute_values(cur, f"insert into {target} values %s", rows)
    finally:
        con.close()


def alert_detail(failures: list[CheckFailure], batch: Batch) -> str:
    """The alert text: the batch, then one line per failing check with a sample row."""
    lines = [f"Batch {batch.describe()} was not published; the last good marts stay."]
    for failure in failures:
        lines.append(f"• {failure.summary()}")
        if failure.rows:
            lines.append(f"  e.g. {row_json(failure.rows[0])[:300]}")
    lines.append("Offending rows: quarantine.quarantined_batch_rows.")
    return "\n".join(lines)


def alert_check_name(failures: list[CheckFailure]) -> str:
    """The checks an alert names in its title (the first three, then a count)."""
    names = sorted({f.check_name for f in failures})
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def raise_quality_alert(
    warehouse: Any, failures: list[CheckFailure], batch_id: str, batch: Batch
) -> list[Any]:
    """Send one alert for the failed batch through tokenledger.alerts (every channel that
    takes quality alerts); an alerting problem is logged, never hides the gate's failure."""
    try:
        from tokenledger.alerts import send_quality_alert
    except ImportError:  # alerts not installed in this build: the failure still raises
        log.warning("tokenledger.alerts is not available: quality gate failure not alerted")
        return []
    try:
        return send_quality_alert(
            warehouse,
            alert_check_name(failures),
            alert_detail(failures, batch),
            batch_id=batch_id,
        )
    except Exception as exc:  # noqa: BLE001 - a broken alerts file must not mask the failure
        log.error("could not send the quality gate alert: %s", exc)
        return []
