"""Benchmark: the whole pipeline at a chosen simulator scale.

Starts the simulator in its own process (so its memory is not counted), runs
`tokenledger run` stages in this process, and prints rows ingested, rows/s per stage, wall
time and peak memory, plus the lower bound: DuckDB loading the same raw rows from Arrow itself.

    .venv/bin/python bench/run_pipeline_bench.py --days 90 --scale 1     # the demo world
    .venv/bin/python bench/run_pipeline_bench.py --days 365 --scale 20   # throughput
    .venv/bin/python bench/run_pipeline_bench.py --warehouse postgres    # into PostgreSQL

The warehouse is TOKENLEDGER_WAREHOUSE (default DuckDB) unless --warehouse says otherwise; on
PostgreSQL the run lands in a throw-away database `tokenledger_bench_<pid>` (dropped after).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_sim/health", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("simulator did not start")


def duckdb_arrow_lower_bound(db: Path) -> tuple[int, float]:
    """Rows/s of DuckDB creating tables from Arrow copies of the raw tables (no HTTP, no dlt)."""
    src = duckdb.connect(str(db), read_only=True)
    tables = src.execute(
        "select table_schema, table_name from information_schema.tables where table_schema "
        "like 'raw_%' and table_name not like '_dlt%'"
    ).fetchall()
    arrows = [src.execute(f'select * from "{s}"."{t}"').to_arrow_table() for s, t in tables]
    src.close()
    dst = duckdb.connect()
    rows = 0
    t0 = time.perf_counter()
    for i, tbl in enumerate(arrows):
        dst.register(f"a{i}", tbl)
        dst.execute(f"create table t{i} as select * from a{i}")
        rows += tbl.num_rows
    return rows, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--warehouse", choices=["duckdb", "postgres"], default=None)
    args = parser.parse_args()

    from tokenledger.demo import SIM_ANTHROPIC_KEY, SIM_OPENAI_KEY
    from tokenledger.pipeline import run_pipeline
    from tokenledger.warehouse import Warehouse, drop_database

    port = _free_port()
    start = date.today() - timedelta(days=args.days)
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tokenledger.cli",
            "simulate",
            "serve",
            "--seed",
            str(args.seed),
            "--days",
            str(args.days),
            "--scale",
            str(args.scale),
            "--port",
            str(port),
            "--start",
            str(start),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url)
        os.environ.update(
            OPENAI_ADMIN_KEY=SIM_OPENAI_KEY,
            OPENAI_BASE_URL=f"{url}/v1",
            ANTHROPIC_ADMIN_KEY=SIM_ANTHROPIC_KEY,
            ANTHROPIC_BASE_URL=url,
        )
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["TOKENLEDGER_PG_WORKDIR"] = tmp
            warehouse = Warehouse.from_env(
                args.warehouse,
                duckdb_path=Path(tmp) / "bench.duckdb",
                pg_database=f"tokenledger_bench_{os.getpid()}",
            )
            try:
                t0 = time.perf_counter()
                result = run_pipeline(
                    start,
                    start + timedelta(days=args.days - 1),
                    warehouse,
                    on_node=lambda *_: None,
                )
                wall = time.perf_counter() - t0
            finally:
                if warehouse.is_postgres:
                    drop_database(warehouse.pg)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows = sum(result.rows.values())
            if not warehouse.is_postgres:
                lb_rows, lb_secs = duckdb_arrow_lower_bound(warehouse.duckdb_path)
    finally:
        sim.terminate()
        sim.wait(timeout=30)

    ingest_rate = rows / result.seconds["ingest"]
    engine = "PostgreSQL" if warehouse.is_postgres else "DuckDB"
    print(f"world: seed {args.seed}, {args.days} days, scale {args.scale}; warehouse {engine}")
    print(f"raw rows ingested:        {rows:,}")
    for table, n in sorted(result.rows.items()):
        print(f"  {table:<36} {n:>12,}")
    print(
        f"ingest (API → dlt → {engine}): {result.seconds['ingest']:.2f} s = "
        f"{ingest_rate:,.0f} rows/s"
    )
    print(f"audit + dbt build + publish: {result.seconds['transform']:.2f} s")
    print(f"anomalies + alerts:         {result.seconds.get('detect', 0.0):.2f} s")
    print(f"wall time run_pipeline:     {wall:.2f} s")
    print(f"peak memory (RSS):          {peak_mb:,.0f} MB")
    if warehouse.is_postgres:
        return 0
    lb_rate = lb_rows / lb_secs if lb_secs else float("inf")
    print(
        f"lower bound, DuckDB Arrow load of the same rows: {lb_rate:,.0f} rows/s "
        f"(ingest is {lb_rate / ingest_rate:,.1f}x slower)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
