"""Publish: the audited marts replace the published ones in ONE transaction.

Both engines have transactional DDL, so a reader sees the old marts or the new ones, never a
mix. A table whose columns (names and types, in order) did not change is refreshed in place
(`delete` + `insert … select`): its grants, constraints and any view that depends on it stay.
A table whose shape changed is dropped and recreated from the audited one (types kept) with the
audited table's NOT NULL constraints. A view is recreated from its audited definition with the
audit schema replaced by the published one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tokenledger.quality.checks import AUDIT_SCHEMA, PUBLISHED_SCHEMA


def audited_marts(target_path: Path, audit_schema: str = AUDIT_SCHEMA) -> list[str]:
    """The marts models this dbt invocation built successfully into the audit schema."""
    results = json.loads((Path(target_path) / "run_results.json").read_text())["results"]
    nodes = json.loads((Path(target_path) / "manifest.json").read_text())["nodes"]
    built = []
    for res in results:
        node = nodes.get(res["unique_id"], {})
        if (
            node.get("resource_type") == "model"
            and node.get("schema") == audit_schema
            and res.get("status") == "success"
        ):
            built.append(node.get("alias") or node["name"])
    return sorted(built)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Tx:
    """The part of a DB-API cursor publishing needs, the same on DuckDB and psycopg2."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        self.cursor.execute(sql, params or [])
        return self.cursor.fetchall()

    def run(self, sql: str) -> None:
        self.cursor.execute(sql)


def _columns(tx: _Tx, schema: str, table: str) -> list[tuple[str, str, str]]:
    return [
        (str(name), str(data_type).lower(), str(nullable))
        for name, data_type, nullable in tx.rows(
            "select column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            [schema, table],
        )
    ]


def _relation_type(tx: _Tx, schema: str, name: str) -> str | None:
    found = tx.rows(
        "select table_type from information_schema.tables "
        "where table_schema = %s and table_name = %s",
        [schema, name],
    )
    return None if not found else ("view" if "VIEW" in found[0][0].upper() else "table")


def _publish_one(tx: _Tx, name: str, audit: str, published: str) -> str:
    source = f"{_q(audit)}.{_q(name)}"
    target = f"{_q(published)}.{_q(name)}"
    kind = _relation_type(tx, audit, name)
    existing = _relation_type(tx, published, name)
    if kind is None:
        raise RuntimeError(f"audited relation {audit}.{name} does not exist")
    if kind == "view":
        (definition,) = tx.rows(
            "select view_definition from information_schema.views "
            "where table_schema = %s and table_name = %s",
            [audit, name],
        )[0]
        body = str(definition).strip().rstrip(";")
        # DuckDB's view_definition is the whole `CREATE VIEW … AS …` statement (PostgreSQL's
        # is the query alone): keep only the query
        body = re.sub(
            r"^create\s+(or\s+replace\s+)?view\s+.+?\s+as\s+", "", body, count=1,
            flags=re.IGNORECASE | re.DOTALL,
        )
        for quoted in (f'"{audit}".', f"{audit}."):
            body = body.replace(quoted, f"{_q(published)}.")
        if existing is not None:
            tx.run(f"drop {existing} {target}")
        tx.run(f"create view {target} as {body}")
        return "view"
    audited_cols = _columns(tx, audit, name)
    if existing == "table" and [c[:2] for c in _columns(tx, published, name)] == [
        c[:2] for c in audited_cols
    ]:
        tx.run(f"delete from {target}")
        tx.run(f"insert into {target} select * from {source}")
        return "refreshed"
    if existing is not None:
        tx.run(f"drop {existing} {target}")
    tx.run(f"create table {target} as select * from {source}")
    for column, _, nullable in audited_cols:
        if nullable.upper() == "NO":
            tx.run(f"alter table {target} alter column {_q(column)} set not null")
    return "created"


def _publish_all(
    tx: _Tx, models: list[str], audit: str, published: str, done: dict[str, str]
) -> None:
    """Tables first, views last; the published copies of the views are dropped before any
    table is replaced, so a view over a mart (the FOCUS export view over the fact) never
    blocks replacing a table whose shape changed (PostgreSQL refuses to drop a table a view
    depends on)."""
    views = [name for name in models if _relation_type(tx, audit, name) == "view"]
    for name in views:
        existing = _relation_type(tx, published, name)
        if existing is not None:
            tx.run(f"drop {existing} {_q(published)}.{_q(name)}")
    for name in [m for m in models if m not in views] + views:
        done[name] = _publish_one(tx, name, audit, published)


def publish_audited_marts(
    warehouse: Any,
    models: list[str],
    audit_schema: str = AUDIT_SCHEMA,
    published_schema: str = PUBLISHED_SCHEMA,
) -> dict[str, str]:
    """Copy each audited mart into the published schema in one transaction; what happened per
    model (`refreshed`, `created`, `view`). Nothing is published when any copy fails."""
    if not models:
        return {}
    done: dict[str, str] = {}
    models = list(models)
    if not warehouse.is_postgres:
        import duckdb

        con = duckdb.connect(str(warehouse.duckdb_path))
        try:
            cur = con.cursor()
            tx = _DuckTx(cur)
            tx.run("begin transaction")
            try:
                tx.run(f"create schema if not exists {_q(published_schema)}")
                _publish_all(tx, models, audit_schema, published_schema, done)
                tx.run("commit")
            except BaseException:
                tx.run("rollback")
                raise
        finally:
            con.close()
        return done
    con = warehouse.pg.connect()
    try:
        with con, con.cursor() as cur:  # one transaction: commit on success, else rollback
            tx = _Tx(cur)
            tx.run(f"create schema if not exists {_q(published_schema)}")
            _publish_all(tx, models, audit_schema, published_schema, done)
    finally:
        con.close()
    return done


class _DuckTx(_Tx):
    """DuckDB takes `?` placeholders."""

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        self.cursor.execute(sql.replace("%s", "?"), params or [])
        return self.cursor.fetchall()
