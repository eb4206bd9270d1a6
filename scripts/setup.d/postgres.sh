#!/usr/bin/env bash
# The PostgreSQL warehouse (TOKENLEDGER_WAREHOUSE=postgres) and the PostgreSQL tests: start the
# local cluster if it is not accepting connections, then create the `tokenledger` database if it
# is missing. Idempotent; a quick no-op when the server is up and the database exists. Without
# a local PostgreSQL it only warns: DuckDB, the default warehouse, needs none of this.
set -euo pipefail
cd "$(dirname "$0")/../.."

host="${TOKENLEDGER_PG_HOST:-127.0.0.1}"
port="${TOKENLEDGER_PG_PORT:-5432}"
user="${TOKENLEDGER_PG_USER:-postgres}"

ready() { pg_isready -q -h "$host" -p "$port" -U "$user" -t 3 2>/dev/null; }

if ! command -v pg_isready >/dev/null; then
    echo "postgres: no PostgreSQL client tools here; the DuckDB warehouse works without them," >&2
    echo "          the PostgreSQL tests need a server on $host:$port" >&2
    exit 0
fi

if ! ready; then
    if [ "$host" = "127.0.0.1" ] || [ "$host" = "localhost" ]; then
        if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
            for version in $(ls /etc/postgresql); do
                echo "postgres: starting local cluster $version/main"
                pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
            done
            for _ in $(seq 1 30); do ready && break; sleep 0.5; done
        fi
    fi
fi

if ! ready; then
    echo "postgres: no server accepting connections on $host:$port; the DuckDB warehouse works" >&2
    echo "          without it, the PostgreSQL tests (pytest -m postgres) will fail" >&2
    exit 0
fi

# the warehouse database (TOKENLEDGER_PG_DATABASE, default tokenledger)
.venv/bin/python - <<'PY'
from tokenledger.warehouse import PgSettings, create_database_if_missing

pg = PgSettings.from_env()
if create_database_if_missing(pg):
    print(f"postgres: created database {pg.database}")
PY
