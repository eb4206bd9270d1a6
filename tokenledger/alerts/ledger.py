"""The alert ledger `alerts.sent_alerts`: what was delivered where, so a re-run never repeats it.

Grain: one row per alert (`alert_key`) and channel. `status` is `sent` (delivered: never sent
again), `grouped` (an episode covered by the alert of a related one of the same incident: never
sent alone) or `failed` (tried on the next run again); `attempts` counts every try over all runs;
`last_error` is the scrubbed reason of the last failure (never a secret). Same SQL on DuckDB
and PostgreSQL; the connection comes from `tokenledger.warehouse.Warehouse` or the caller.

Delivery is at least once: a crash between a successful send and its ledger row means the next
run sends it again; webhook receivers can drop repeats by `alert_key`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "alerts"
TABLE = f"{SCHEMA}.sent_alerts"

CREATE_TABLE = f"""
create table if not exists {TABLE} (
    alert_key varchar not null,
    channel varchar not null,
    kind varchar not null,
    subject varchar,
    status varchar not null,
    attempts integer not null,
    first_attempt_at timestamp not null,
    last_attempt_at timestamp not null,
    sent_at timestamp,
    last_error varchar,
    primary key (alert_key, channel)
)
"""


@dataclass(frozen=True)
class LedgerRow:
    alert_key: str
    channel: str
    status: str
    attempts: int
    sent_at: dt.datetime | None
    last_error: str | None


def _utcnow() -> dt.datetime:
    """Naive UTC (the `_at` columns are UTC timestamps without zone on both engines)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class AlertLedger:
    """Reads and writes `alerts.sent_alerts` over a DuckDB or psycopg2 connection."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._duckdb = type(connection).__module__.split(".")[0] in ("duckdb", "_duckdb")
        self.ensure_table()

    # -------------------------------------------------------------- engine-neutral SQL
    def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self._duckdb:
            cur = self.connection.execute(sql, list(params))
            return cur.fetchall() if cur.description else []
        with self.connection.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            rows = cur.fetchall() if cur.description else []
        if not self.connection.autocommit:
            self.connection.commit()
        return rows

    def ensure_table(self) -> None:
        self._execute(f"create schema if not exists {SCHEMA}")
        self._execute(CREATE_TABLE)

    # -------------------------------------------------------------- reads and writes
    def get(self, alert_key: str, channel: str) -> LedgerRow | None:
        rows = self._execute(
            f"select alert_key, channel, status, attempts, sent_at, last_error from {TABLE} "
            "where alert_key = ? and channel = ?",
            (alert_key, channel),
        )
        return LedgerRow(*rows[0]) if rows else None

    def pending_keys(self, kind: str) -> set[str]:
        """Alert keys of `kind` whose delivery failed on some channel (retry them)."""
        rows = self._execute(
            f"select distinct alert_key from {TABLE} where kind = ? and status = 'failed'", (kind,)
        )
        return {r[0] for r in rows}

    def record(
        self,
        alert_key: str,
        channel: str,
        kind: str,
        subject: str,
        status: str,
        attempts: int,
        error: str | None,
    ) -> LedgerRow:
        """Add this run's attempts to the row of (alert_key, channel); `status` is `sent`,
        `failed` or `grouped` (covered by the alert of a related episode: never sent alone)."""
        now = _utcnow()
        sent_at = None if status == "failed" else now
        before = self.get(alert_key, channel)
        if before is None:
            self._execute(
                f"insert into {TABLE} (alert_key, channel, kind, subject, status, attempts, "
                "first_attempt_at, last_attempt_at, sent_at, last_error) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (alert_key, channel, kind, subject, status, attempts, now, now, sent_at, error),
            )
        else:
            self._execute(
                f"update {TABLE} set status = ?, attempts = ?, last_attempt_at = ?, "
                "sent_at = ?, last_error = ?, subject = ? where alert_key = ? and channel = ?",
                (
                    status,
                    before.attempts + attempts,
                    now,
                    sent_at,
                    error,
                    subject,
                    alert_key,
                    channel,
                ),
            )
        return self.get(alert_key, channel)


@contextmanager
def open_ledger(con_or_warehouse: Any = None) -> Iterator[AlertLedger]:
    """An AlertLedger on a writable connection.

    `con_or_warehouse`: a DuckDB or psycopg2 connection (used as is, not closed), a
    `Warehouse`, a DuckDB file path, or None (the configured warehouse: TOKENLEDGER_WAREHOUSE,
    TOKENLEDGER_DUCKDB / TOKENLEDGER_PG_*). Connections opened here are closed after.
    """
    if con_or_warehouse is not None and not isinstance(con_or_warehouse, str | Path):
        from tokenledger.warehouse import Warehouse

        if not isinstance(con_or_warehouse, Warehouse):
            yield AlertLedger(con_or_warehouse)
            return
    from tokenledger.warehouse import Warehouse

    warehouse = Warehouse.resolve(con_or_warehouse)
    if warehouse.is_postgres:
        con = warehouse.pg.connect()
        con.autocommit = True
    else:
        import duckdb

        warehouse.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(warehouse.duckdb_path))
    try:
        yield AlertLedger(con)
    finally:
        con.close()
