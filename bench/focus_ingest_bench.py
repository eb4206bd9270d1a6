"""FOCUS export ingestion speed: parquet and CSV gzip deliveries → raw_focus (DuckDB).

Replicates one simulated month's AWS (parquet) and Azure (CSV gzip) export to `--rows` rows per
format, loads them with the real dlt source, and records rows/s in bench/RESULTS.md.
Reproduce: `.venv/bin/python bench/focus_ingest_bench.py --rows 500000`.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingestion.focus import EXPORTS_DIR_ENV
from ingestion.pipeline import run_ingestion
from simulator.focus_exports import focus_world
from simulator.world import World

RESULTS = Path(__file__).with_name("RESULTS.md")
BEGIN, END = "<!-- focus-ingest-bench:begin -->", "<!-- focus-ingest-bench:end -->"


def _replicate(table: pa.Table, rows: int) -> pa.Table:
    copies = -(-rows // table.num_rows)
    return pa.concat_tables([table] * copies).slice(0, rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()
    world = World(seed=42, days=30, providers=("openai", "anthropic", "focus"))
    fw = focus_world(world)
    work = Path(tempfile.mkdtemp(prefix="focus-bench-"))
    figures = []
    try:
        for cloud, fmt in (("aws", "parquet"), ("azure", "csv.gz")):
            rows = fw.frame[fw.frame["cloud"] == cloud].reset_index(drop=True)
            table = _replicate(fw.export_table(cloud, rows), args.rows)
            root = work / fmt / "focus"
            folder = root / cloud / "bench" / "data" / "BILLING_PERIOD=2026-01"
            folder.mkdir(parents=True)
            if fmt == "parquet":
                pq.write_table(table, folder / "bench-00001.snappy.parquet")
            else:
                with gzip.open(folder / "part_0_0001.csv.gz", "wb") as fh:
                    pacsv.write_csv(table, fh)
            os.environ[EXPORTS_DIR_ENV] = str(root)
            t0 = time.perf_counter()
            result = run_ingestion(None, None, work / fmt / "w.duckdb", providers=["focus"])
            seconds = time.perf_counter() - t0
            landed = result["rows"]["raw_focus.cost_and_usage"]
            assert landed == args.rows, landed
            figures.append((fmt, landed, seconds))
            print(f"{fmt}: {landed} rows in {seconds:.1f} s = {landed / seconds:,.0f} rows/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [BEGIN, "## FOCUS export ingestion (`bench/focus_ingest_bench.py`)", "",
             f"One delivery of {args.rows:,} FOCUS 1.2 rows (70 columns incl. `x_` ones) "
             "per format, loaded by the real dlt source into a fresh DuckDB file (all values "
             "landed as text), 2 cores shared with other jobs (load average ~4 at the time). "
             "Reproduce: "
             f"`.venv/bin/python bench/focus_ingest_bench.py --rows {args.rows}`.", "",
             "| format | rows | seconds | rows/s |", "|---|---:|---:|---:|"]
    lines += [f"| {f} | {n:,} | {s:.1f} | {n / s:,.0f} |" for f, n, s in figures]
    lines += ["", END]
    text = RESULTS.read_text()
    block = "\n".join(lines)
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
