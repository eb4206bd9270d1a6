"""Register tokenledger's warehouse in Apache Superset and run the dashboard queries through
Superset's own REST API (SQL Lab), saving each one as a Superset saved query.

Runs with dashboards/.venv/bin/python (Superset lives in its own environment; see
scripts/test-setup.d/dashboards.sh). The queries are dashboards/queries/*.sql, one per question in
docs/bi.md. Exit status 1 when any query fails or (with --require-rows) returns no rows.

    dashboards/.venv/bin/python dashboards/superset_dashboards.py \
        --duckdb warehouse/tokenledger.duckdb
    dashboards/.venv/bin/python dashboards/superset_dashboards.py \
        --uri postgresql://tokenledger_bi:PASSWORD@127.0.0.1:5432/tokenledger
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERIES = HERE / "queries"
DATABASE_NAME = "tokenledger"
ADMIN_USER = os.environ.get("SUPERSET_ADMIN_USER", "admin")
ADMIN_PASSWORD = os.environ.get("SUPERSET_ADMIN_PASSWORD", "admin")


def dashboard_queries() -> dict[str, str]:
    """Query name → SQL, from dashboards/queries/*.sql."""
    return {p.stem: p.read_text() for p in sorted(QUERIES.glob("*.sql"))}


def _title(sql: str, name: str) -> str:
    """The question a query answers: its first comment line."""
    first = sql.strip().splitlines()[0]
    return first.removeprefix("--").split(":")[0].strip() if first.startswith("--") else name


class Superset:
    """A logged-in client of a Superset app's REST API (the in-process WSGI app)."""

    def __init__(self) -> None:
        os.environ.setdefault("SUPERSET_CONFIG_PATH", str(HERE / "superset_config.py"))
        from superset.app import create_app

        self.app = create_app()
        self.client = self.app.test_client()
        token = self._call(
            "POST",
            "/api/v1/security/login",
            {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "provider": "db"},
            auth=False,
        )["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, body: dict | None = None, *, auth: bool = True):
        resp = self.client.open(
            path, method=method, json=body, headers=self.headers if auth else {}
        )
        payload = resp.get_json(silent=True)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code}: {payload}")
        return payload

    def _find(self, resource: str, field: str, value: str) -> dict | None:
        page = 0
        while True:
            q = f"(page:{page},page_size:100)"
            result = self._call("GET", f"/api/v1/{resource}/?q={q}")["result"]
            for row in result:
                if row.get(field) == value:
                    return row
            if len(result) < 100:
                return None
            page += 1

    def register_database(self, uri: str, read_only_duckdb: bool) -> int:
        """Create or update the `tokenledger` database connection; its id."""
        extra = {"engine_params": {"connect_args": {"read_only": True}}} if read_only_duckdb else {}
        body = {
            "database_name": DATABASE_NAME,
            "sqlalchemy_uri": uri,
            "expose_in_sqllab": True,
            "allow_run_async": False,
            "allow_dml": False,
            "extra": json.dumps(extra),
        }
        existing = self._find("database", "database_name", DATABASE_NAME)
        if existing:
            self._call("PUT", f"/api/v1/database/{existing['id']}", body)
            return existing["id"]
        return self._call("POST", "/api/v1/database/", body)["id"]

    def run_sql(self, database_id: int, sql: str) -> dict:
        """Run one statement in SQL Lab (synchronously); the JSON result."""
        return self._call(
            "POST",
            "/api/v1/sqllab/execute/",
            {
                "database_id": database_id,
                "sql": sql,
                "runAsync": False,
                "client_id": secrets.token_hex(5),
                "queryLimit": 10000,
                "select_as_cta": False,
            },
        )

    def save_query(self, database_id: int, label: str, sql: str, description: str) -> None:
        """Keep the query as a Superset saved query (create or update by label)."""
        body = {"db_id": database_id, "label": label, "sql": sql, "description": description}
        existing = self._find("saved_query", "label", label)
        if existing:
            self._call("PUT", f"/api/v1/saved_query/{existing['id']}", body)
        else:
            self._call("POST", "/api/v1/saved_query/", body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--duckdb", help="DuckDB warehouse file (opened read-only)")
    where.add_argument("--uri", help="SQLAlchemy URI, e.g. postgresql://tokenledger_bi:…@host/db")
    parser.add_argument("--require-rows", action="store_true", help="fail on an empty result")
    parser.add_argument("--json", action="store_true", help="print a JSON summary only")
    args = parser.parse_args(argv)

    if args.duckdb:
        uri = f"duckdb:///{Path(args.duckdb).resolve()}"
    else:
        uri = args.uri
    superset = Superset()
    database_id = superset.register_database(uri, read_only_duckdb=bool(args.duckdb))

    summary: dict[str, dict] = {}
    ok = True
    for name, sql in dashboard_queries().items():
        try:
            result = superset.run_sql(database_id, sql)
        except RuntimeError as exc:
            summary[name] = {"status": "error", "error": str(exc)[:2000]}
            ok = False
            continue
        rows = result.get("data") or []
        summary[name] = {
            "status": result.get("status"),
            "rows": len(rows),
            "columns": [c.get("column_name") or c.get("name") for c in result.get("columns", [])],
        }
        if result.get("status") != "success" or (args.require_rows and not rows):
            ok = False
        superset.save_query(database_id, f"tokenledger: {name}", sql, _title(sql, name))

    if args.json:
        print(json.dumps({"ok": ok, "database_id": database_id, "queries": summary}))
    else:
        for name, info in summary.items():
            print(f"{name:32} {info.get('status')!s:8} {info.get('rows', '-')} rows")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
