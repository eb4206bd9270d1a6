"""Benchmark: AWS CUR 2.0 parquet in S3 → raw table (dlt, Arrow) → conformed cost rows (dbt).

An S3 bucket on moto's server (its own process, so its memory is not counted) holds a CUR 2.0
export of `--rows` Bedrock line items over two billing periods, split into parquet files of
`--rows-per-file` and listed by each period's Manifest.json, as AWS Data Exports delivers
them. The rows are the simulator's Bedrock bill, tiled with unique line item ids. Timed:

1. ingest  — `ingestion.pipeline.run_ingestion(providers=["aws_bedrock"])`: boto3 GetObject,
   parquet → Arrow, map columns → JSON text, dlt's Arrow path into DuckDB (merge per period).
2. conform — `dbt run --select +int_cost__unioned`: staging (usage-type parsing, charge
   categories), the validated union and the conformed table at the fact's grain. dbt's own
   start-up (project parse) is included; the SQL of the models alone is printed too.

    .venv/bin/python bench/cur_bench.py                 # 5 M rows
    .venv/bin/python bench/cur_bench.py --rows 500000   # a quick look

Prints rows/s, wall time and CPU seconds per stage and peak memory (RSS of this process).
"""

from __future__ import annotations

import argparse
import io
import json
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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START = date(2026, 9, 1)
DAYS = 61  # September and October: two billing periods


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def tiled_period(base: pa.Table, rows: int, period: str) -> pa.Table:
    """`rows` line items from a period's simulated CUR: the base tiled, ids made unique."""
    copies = -(-rows // base.num_rows)
    table = pa.concat_tables([base] * copies).slice(0, rows)
    copy = np.repeat(np.arange(copies), base.num_rows)[:rows].astype(str)
    ids = pc.binary_join_element_wise(table["identity_line_item_id"], pa.array(copy), "-")
    idx = table.schema.get_field_index("identity_line_item_id")
    return table.set_column(idx, "identity_line_item_id", ids)


def publish(s3, bucket: str, rows: int, rows_per_file: int) -> tuple[str, int]:
    """Write the export into the bucket; returns (the export's s3 URI, bytes written)."""
    from simulator import aws_bedrock as sim
    from simulator.world import World

    world = World(seed=3, days=DAYS, start=START, providers=("aws_bedrock",))
    periods = sorted(sim.bill(world).versions)
    base = f"{sim.EXPORT_PREFIX}/{sim.EXPORT_NAME}"
    written = 0
    for p_index, period in enumerate(periods):
        n = rows // len(periods) + (rows % len(periods) if p_index == 0 else 0)
        table = tiled_period(sim.cur_table(world, period), n, period)
        keys = []
        for f_index, offset in enumerate(range(0, n, rows_per_file)):
            sink = io.BytesIO()
            pq.write_table(table.slice(offset, rows_per_file), sink, compression="snappy")
            key = (
                f"{base}/data/BILLING_PERIOD={period}/bench/"
                f"{sim.EXPORT_NAME}-{f_index + 1:05d}.snappy.parquet"
            )
            s3.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())
            written += sink.tell()
            keys.append(f"s3://{bucket}/{key}")
        manifest = {"executionId": "bench", "dataFiles": keys}
        s3.put_object(
            Bucket=bucket,
            Key=f"{base}/metadata/BILLING_PERIOD={period}/{sim.EXPORT_NAME}-Manifest.json",
            Body=json.dumps(manifest).encode(),
        )
    return f"s3://{bucket}/{base}", written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rows-per-file", type=int, default=1_000_000)
    args = parser.parse_args()

    import boto3

    port = _free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workdir = Path(tempfile.mkdtemp(prefix="cur_bench_"))
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait(endpoint + "/moto-api/")
        env = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench-secret",
            "AWS_ENDPOINT_URL_S3": endpoint,
            "TOKENLEDGER_AWS_COST_EXPLORER": "off",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        os.environ.update(env)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench-cur")
        t = time.perf_counter()
        uri, size = publish(s3, "bench-cur", args.rows, args.rows_per_file)
        print(
            f"export: {args.rows:,} CUR 2.0 rows, {size / 1e6:.0f} MB parquet in "
            f"{-(-args.rows // args.rows_per_file)}+ files (written in "
            f"{time.perf_counter() - t:.1f} s, not timed)"
        )
        os.environ["TOKENLEDGER_AWS_CUR_S3_URI"] = uri
        db = workdir / "bench.duckdb"
        os.environ["TOKENLEDGER_DUCKDB"] = str(db)

        from ingestion.pipeline import run_ingestion
        from tokenledger.dbt import run_dbt

        run_dbt(["seed", "--quiet"], duckdb_path=db, target_path=workdir / "dbt")  # not timed

        t0, c0 = time.perf_counter(), time.process_time()
        result = run_ingestion(
            START, START + timedelta(days=DAYS - 1), db, providers=["aws_bedrock"]
        )
        ingest_s, ingest_cpu = time.perf_counter() - t0, time.process_time() - c0
        landed = result["rows"]["raw_aws_bedrock.cur_line_items"]
        steps = result["providers"]["aws_bedrock"]["steps"]

        t1, c1 = time.perf_counter(), time.process_time()
        run_dbt(
            ["run", "--select", "+int_cost__unioned", "--quiet"],
            duckdb_path=db,
            target_path=workdir / "dbt",
        )
        conform_s, conform_cpu = time.perf_counter() - t1, time.process_time() - c1
        run_results = json.loads((workdir / "dbt" / "run_results.json").read_text())
        sql_s = sum(r["execution_time"] for r in run_results["results"])

        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        conformed = con.execute(
            "select count(*) from intermediate.int_cost__validated "
            "where provider = 'aws_bedrock' and quarantine_reason is null"
        ).fetchone()[0]
        fact_rows = con.execute(
            "select count(*) from intermediate.int_cost__unioned where provider = 'aws_bedrock'"
        ).fetchone()[0]
        con.close()
    finally:
        moto.terminate()
        moto.wait(timeout=10)

    total = ingest_s + conform_s
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ingest (S3 → Arrow → dlt → DuckDB): {landed:,} rows in {ingest_s:.2f} s "
          f"= {landed / ingest_s:,.0f} rows/s  (dlt steps: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")")
    print(f"conform (dbt run +int_cost__unioned): {conformed:,} conformed rows → "
          f"{fact_rows:,} rows at the fact grain in {conform_s:.2f} s "
          f"(model SQL {sql_s:.2f} s, the rest is dbt start-up)")
    print(f"parquet → conformed rows: {total:.2f} s wall = {conformed / total:,.0f} rows/s")
    # CPU seconds of this process (DuckDB's and Arrow's threads included): the figure that a
    # busy shared machine disturbs least; wall ≈ CPU / 2 when both cores are free
    print(f"CPU: ingest {ingest_cpu:.1f} s, conform {conform_cpu:.1f} s, "
          f"total {ingest_cpu + conform_cpu:.1f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"peak memory (this process): {peak_mb:,.0f} MB; cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
