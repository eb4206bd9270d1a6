"""Which warehouse tokenledger reads and writes: DuckDB (default) or PostgreSQL — in one place.

`TOKENLEDGER_WAREHOUSE=duckdb|postgres` picks the engine. Everything that touches the
warehouse (the CLI, the pipeline, the summary, the demo's reconciliation, Dagster's resources,
the benchmark) asks a `Warehouse` for what it needs: the dlt destination, the dbt target and
the env vars of dbt's profile, a read-only connection for queries, and the work folder for
dlt's pipeline state and dbt's run artefacts.

- DuckDB: the file `TOKENLEDGER_DUCKDB` (default `warehouse/tokenledger.duckdb`). DuckDB has no
  roles: BI tools read the file read-only.
- PostgreSQL: `TOKENLEDGER_PG_HOST` / `_PORT` / `_USER` / `_PASSWORD` / `_DATABASE` (the same
  variables dbt's `postgres` profile target reads). The database is created when missing.
  After every successful dbt build, `grant_bi_read` (re)creates the login role
  `tokenledger_bi` (password `TOKENLEDGER_BI_PASSWORD`) that can read `marts` and nothing else.

Settings are read when `from_env` is called, never at import time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tokenledger import paths

Engine = Literal["duckdb", "postgres"]
ENGINES: tuple[Engine, ...] = ("duckdb", "postgres")

BI_ROLE = "tokenledger_bi"
DEFAULT_BI_PASSWORD = "tokenledger_bi"
BI_SCHEMA = "marts"
"""The one schema the BI role may read."""

DEFAULT_PG_WORK_ROOT = "warehouse/postgres"


class WarehouseNotFound(RuntimeError):
    """There is no warehouse to read yet (no DuckDB file, no PostgreSQL database or marts)."""


@dataclass(frozen=True)
class PgSettings:
    """Where the PostgreSQL warehouse is (env vars of dbt's `postgres` profile target)."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = field(default="", repr=False)
    database: str = "tokenledger"

    @classmethod
    def from_env(cls, database: str | None = None) -> PgSettings:
        """The TOKENLEDGER_PG_* settings; `database` overrides TOKENLEDGER_PG_DATABASE."""
        env = os.environ
        return cls(
            host=env.get("TOKENLEDGER_PG_HOST", cls.host),
            port=int(env.get("TOKENLEDGER_PG_PORT", cls.port)),
            user=env.get("TOKENLEDGER_PG_USER", cls.user),
            password=env.get("TOKENLEDGER_PG_PASSWORD", ""),
            database=database or env.get("TOKENLEDGER_PG_DATABASE", cls.database),
        )

    def connect(self, database: str | None = None, **kwargs: Any):
        """A psycopg2 connection (to `database`, default the warehouse), session in UTC."""
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=database or self.database,
            connect_timeout=5,
            options="-c TimeZone=UTC",
            **kwargs,
        )

    def url(self) -> str:
        """Where, for people: `postgresql://user@host:port/db` (never the password)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Warehouse:
    """The configured warehouse: engine plus its location."""

    engine: Engine
    duckdb_path: Path | None = None
    pg: PgSettings | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_env(
        cls,
        engine: str | None = None,
        *,
        duckdb_path: str | Path | None = None,
        pg_database: str | None = None,
    ) -> Warehouse:
        """The warehouse named by TOKENLEDGER_WAREHOUSE (or `engine`), default DuckDB."""
        chosen = (engine or os.environ.get("TOKENLEDGER_WAREHOUSE") or "duckdb").strip().lower()
        if chosen not in ENGINES:
            raise ValueError(
                f"unknown warehouse {chosen!r} (TOKENLEDGER_WAREHOUSE): use one of {ENGINES}"
            )
        if chosen == "postgres":
            return cls(engine="postgres", pg=PgSettings.from_env(pg_database))
        path = Path(duckdb_path).resolve() if duckdb_path else paths.duckdb_path()
        return cls(engine="duckdb", duckdb_path=path)

    @classmethod
    def resolve(cls, where: Warehouse | str | Path | None) -> Warehouse:
        """A Warehouse as given; a path is a DuckDB file; None is the configured warehouse."""
        if isinstance(where, Warehouse):
            return where
        if where is None:
            return cls.from_env()
        return cls.from_env("duckdb", duckdb_path=where)

    # ------------------------------------------------------------------ descriptions
    @property
    def is_postgres(self) -> bool:
        return self.engine == "postgres"

    def describe(self) -> str:
        """Where the warehouse is, for people (a file path or a password-free URL)."""
        return self.pg.url() if self.is_postgres else str(self.duckdb_path)

    @property
    def dbt_target(self) -> str:
        """The profiles.yml output dbt runs against."""
        return self.engine

    def work_dir(self) -> Path:
        """dlt's pipeline state (`.dlt_pipelines/`) and dbt's run artefacts live here.

        One folder per warehouse, so the incremental state of a DuckDB file never resumes a
        PostgreSQL database's load or the other way round.
        """
        if not self.is_postgres:
            return self.duckdb_path.parent
        root = Path(os.environ.get("TOKENLEDGER_PG_WORKDIR", DEFAULT_PG_WORK_ROOT)).resolve()
        return root / f"{self.pg.host}_{self.pg.port}_{self.pg.database}"

    # ------------------------------------------------------------------ writing
    def dbt_env(self) -> dict[str, str]:
        """The env vars dbt's profile reads to reach this warehouse."""
        if not self.is_postgres:
            return {"TOKENLEDGER_DBT_TARGET": "duckdb", "TOKENLEDGER_DUCKDB": str(self.duckdb_path)}
        env = {
            "TOKENLEDGER_DBT_TARGET": "postgres",
            "TOKENLEDGER_PG_HOST": self.pg.host,
            "TOKENLEDGER_PG_PORT": str(self.pg.port),
            "TOKENLEDGER_PG_USER": self.pg.user,
            "TOKENLEDGER_PG_DATABASE": self.pg.database,
        }
        if self.pg.password:
            env["TOKENLEDGER_PG_PASSWORD"] = self.pg.password
        return env

    def export_env(self) -> None:
        """Put `dbt_env()` into os.environ for good (Dagster's dbt subprocess inherits it)."""
        os.environ.update(self.dbt_env())

    @contextmanager
    def dbt_environment(self) -> Iterator[None]:
        """`dbt_env()` in os.environ for the duration of an in-process dbt call, then restored,
        so one run's warehouse does not leak into the next (tests run both engines)."""
        env = self.dbt_env()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def ensure_exists(self) -> None:
        """Create what a first run needs: the DuckDB folder, or the PostgreSQL database."""
        self.work_dir().mkdir(parents=True, exist_ok=True)
        if self.is_postgres:
            create_database_if_missing(self.pg)
        elif not self.duckdb_path.exists():
            create_duckdb_file(self.duckdb_path)

    def dlt_destination(self):
        """The dlt destination that lands the raw tables in this warehouse."""
        import dlt

        if not self.is_postgres:
            from ingestion.pipeline import duckdb_destination

            return duckdb_destination(self.duckdb_path)
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        creds = PostgresCredentials()
        creds.host, creds.port, creds.username = self.pg.host, self.pg.port, self.pg.user
        # dlt insists on a password; with trust or peer auth any value (even empty) is fine
        creds.password = self.pg.password
        creds.database = self.pg.database
        return dlt.destinations.postgres(credentials=creds)

    def ingestion_path(self) -> Path:
        """The `duckdb_path` argument of `ingestion.pipeline.run_ingestion`: the DuckDB file,
        or (PostgreSQL, with an explicit destination) a path whose folder holds dlt's state."""
        return self.duckdb_path if not self.is_postgres else self.work_dir() / "postgres"

    def after_build(self) -> None:
        """Run after a successful dbt build: on PostgreSQL, grant the BI role read on marts."""
        if self.is_postgres:
            grant_bi_read(self.pg)

    def replace_table(self, schema: str, table: str, frame: Any) -> int:
        """Replace `schema.table` with a pandas DataFrame in one transaction; returns rows.

        For tables tokenledger computes in Python (spend anomalies, alert ledgers): a reader
        sees the old table or the new one, never a half-written one.
        """
        target = f"{_quote_ident(schema)}.{_quote_ident(table)}"
        if not self.is_postgres:
            import duckdb

            con = duckdb.connect(str(self.duckdb_path))
            try:
                con.execute("begin")
                con.execute(f"create schema if not exists {_quote_ident(schema)}")
                con.register("incoming_frame", frame)
                con.execute(f"create or replace table {target} as select * from incoming_frame")
                con.execute("commit")
            finally:
                con.close()
            return len(frame)
        from psycopg2.extras import execute_values

        columns = ", ".join(
            f"{_quote_ident(name)} {_pg_type(frame[name])}" for name in frame.columns
        )
        con = self.pg.connect()
        try:
            with con, con.cursor() as cur:  # one transaction
                cur.execute(f"create schema if not exists {_quote_ident(schema)}")
                cur.execute(f"drop table if exists {target}")
                cur.execute(f"create table {target} ({columns})")
                rows = [
                    tuple(None if _is_missing(v) else v for v in row)
                    for row in frame.itertuples(index=False, name=None)
                ]
                if rows:
                    execute_values(cur, f"insert into {target} values %s", rows)
        finally:
            con.close()
        return len(frame)

    # ------------------------------------------------------------------ reading
    def ensure_readable(self) -> None:
        """Raise WarehouseNotFound, with what to do, when there is nothing to read yet."""
        if not self.is_postgres:
            if not self.duckdb_path.exists():
                raise WarehouseNotFound(
                    f"no warehouse at {self.duckdb_path}: run `tokenledger run` or `make demo` "
                    "first, or set TOKENLEDGER_DUCKDB"
                )
            return
        import psycopg2

        try:
            self.pg.connect().close()
        except psycopg2.OperationalError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise WarehouseNotFound(
                f"cannot open the PostgreSQL warehouse {self.pg.url()} ({first_line}): run "
                "`tokenledger run` or `tokenledger demo --warehouse postgres` first, or set "
                "TOKENLEDGER_PG_*"
            ) from exc

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A read-only connection: `reader.execute(sql).fetchall()` on either engine."""
        self.ensure_readable()
        if not self.is_postgres:
            import duckdb

            con = duckdb.connect(str(self.duckdb_path), read_only=True)
            try:
                yield Reader(con, con)
            finally:
                con.close()
            return
        con = self.pg.connect()
        con.set_session(readonly=True, autocommit=True)
        try:
            with con.cursor() as cur:
                yield Reader(con, cur)
        finally:
            con.close()

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Run one read-only query; (column names, rows)."""
        with self.reader() as r:
            cur = r.execute(sql)
            columns = [d[0] for d in cur.description] if cur.description else []
            return columns, cur.fetchall()


def _pg_type(series: Any) -> str:
    """The PostgreSQL column type for a pandas column (dates stay dates, text stays text)."""
    import datetime as dt

    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "bigint"
    if pd.api.types.is_float_dtype(series):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "timestamp"
    sample = series.dropna()
    if len(sample) and isinstance(sample.iloc[0], dt.date):
        return "date"
    return "text"


def _is_missing(value: Any) -> bool:
    """None, NaN and NaT all land as SQL NULL."""
    try:
        return value is None or value != value  # NaN/NaT are not equal to themselves
    except (TypeError, ValueError):
        return False


class Reader:
    """The part of a DB-API connection the readers use, the same on DuckDB and psycopg2."""

    def __init__(self, connection: Any, cursor: Any) -> None:
        self.connection = connection
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Execute and return something with fetchone/fetchall/description."""
        if params is None:
            result = self._cursor.execute(sql)
        else:
            result = self._cursor.execute(sql, params)
        return self._cursor if result is None else result


# ---------------------------------------------------------------------- PostgreSQL admin
DUCKDB_STORAGE_VERSION = "v1.4.0"
"""The on-disk format of a new warehouse file: readable by DuckDB 1.4 and later, so BI tools
whose drivers bundle DuckDB 1.4 (Metabase's, DBeaver's, Evidence's) open it directly. DuckDB
keeps a file's format on every later write."""


def create_duckdb_file(path: Path) -> None:
    """Create an empty DuckDB warehouse file in the `DUCKDB_STORAGE_VERSION` format."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        quoted = str(path).replace("'", "''")
        con.execute(
            f"attach '{quoted}' as warehouse (storage_version '{DUCKDB_STORAGE_VERSION}')"
        )
        con.execute("detach warehouse")
    finally:
        con.close()


def create_database_if_missing(pg: PgSettings) -> bool:
    """CREATE DATABASE `pg.database` unless it exists; True when it was created."""
    from psycopg2 import errors

    con = pg.connect(database="postgres")
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", [pg.database])
            if cur.fetchone():
                return False
            try:
                cur.execute(f"create database {_quote_ident(pg.database)}")
            except (errors.DuplicateDatabase, errors.UniqueViolation):  # created meanwhile
                return False
            return True
    finally:
        con.close()


def drop_database(pg: PgSettings) -> None:
    """DROP DATABASE `pg.database` if it exists, closing other sessions (tests only)."""
    con = pg.connect(database="postgres")
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(f"drop database if exists {_quote_ident(pg.database)} with (force)")
    finally:
        con.close()


def bi_password() -> str:
    """The BI role's password: TOKENLEDGER_BI_PASSWORD, default `tokenledger_bi`."""
    return os.environ.get("TOKENLEDGER_BI_PASSWORD") or DEFAULT_BI_PASSWORD


def grant_bi_read(pg: PgSettings, role: str = BI_ROLE, password: str | None = None) -> None:
    """Make `role` a login that can SELECT on `marts` (current and future tables) only.

    Idempotent; run after every dbt build. Revokes whatever else the role may have been given
    (table and schema privileges outside marts, write privileges in marts, CREATE on the
    database or any schema, membership in other roles), so re-running it restores least
    privilege. The password travels as a query parameter, never in a log.
    """
    from psycopg2 import errors, sql

    ident = sql.Identifier(role)
    con = pg.connect()
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = %s", [role])
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("create role {} login").format(ident))
                except errors.DuplicateObject:  # created concurrently (role is cluster-wide)
                    pass
            cur.execute(
                sql.SQL(
                    "alter role {} with login nosuperuser nocreatedb nocreaterole noinherit "
                    "noreplication nobypassrls password %s"
                ).format(ident),
                [password if password is not None else bi_password()],
            )
        con.autocommit = False
        with con.cursor() as cur:
            cur.execute(
                sql.SQL("revoke create on database {} from {}").format(
                    sql.Identifier(pg.database), ident
                )
            )
            cur.execute(
                "select nspname from pg_namespace where nspname <> %s and nspname not like "
                "'pg\\_%%' and nspname <> 'information_schema'",
                [BI_SCHEMA],
            )
            for (schema,) in cur.fetchall():
                s = sql.Identifier(schema)
                cur.execute(
                    sql.SQL("revoke all on all tables in schema {} from {}").format(s, ident)
                )
                cur.execute(sql.SQL("revoke all on schema {} from {}").format(s, ident))
            marts = sql.Identifier(BI_SCHEMA)
            cur.execute(sql.SQL("create schema if not exists {}").format(marts))
            cur.execute(sql.SQL("revoke create on schema {} from {}").format(marts, ident))
            # only SELECT in marts: no INSERT/UPDATE/DELETE/TRUNCATE someone may have added
            cur.execute(
                sql.SQL("revoke all on all tables in schema {} from {}").format(marts, ident)
            )
            # no borrowed privileges: leave every role it was made a member of
            cur.execute(
                "select roleid::regrole::text from pg_auth_members "
                "where member = (select oid from pg_roles where rolname = %s)",
                [role],
            )
            for (granted,) in cur.fetchall():
                cur.execute(sql.SQL("revoke {} from {}").format(sql.SQL(granted), ident))
            cur.execute(
                sql.SQL("grant connect on database {} to {}").format(
                    sql.Identifier(pg.database), ident
                )
            )
            cur.execute(sql.SQL("grant usage on schema {} to {}").format(marts, ident))
            cur.execute(
                sql.SQL("grant select on all tables in schema {} to {}").format(marts, ident)
            )
            # tables dbt creates later in marts (as this user) are readable too
            cur.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema {} grant select on tables to {}"
                ).format(sql.Identifier(pg.user), marts, ident)
            )
        con.commit()
    finally:
        con.close()
