"""Parse throughput of the Vertex AI export reader and the Azure Query API page converter.

Business purpose: a billing export of a big organisation has millions of hourly lines a month;
this measures how fast `ingestion.gcp_vertex_ai.read_day` turns export files into Arrow (JSON
with numbers kept as text) and how fast `ingestion.azure_openai.rows_to_arrow` converts Query
API pages, without HTTP or dlt (those are measured by run_pipeline_bench.py).

Run: .venv/bin/python bench/vertex_azure_bench.py [--days 30] [--copies 20]
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from ingestion.azure_openai import QUERIES, query_body, rows_to_arrow
from ingestion.gcp_vertex_ai import list_export_days, read_day
from simulator import azure_openai, gcp_vertex_ai
from simulator.world import World


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--copies", type=int, default=20, help="lines × this (bigger orgs)")
    args = parser.parse_args()
    world = World(seed=42, days=args.days, providers=("gcp_vertex_ai", "azure_openai"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for day in range(world.days):
            lines = gcp_vertex_ai.day_lines(world, day) * args.copies
            folder = gcp_vertex_ai.day_dir(root, world.date_of(day))
            folder.mkdir(parents=True)
            (folder / gcp_vertex_ai.EXPORT_FILE).write_bytes(
                gzip.compress(("\n".join(lines) + "\n").encode())
            )
        fs = LocalFileSystem()
        t0 = time.perf_counter()
        rows = credits = 0
        for day in list_export_days(str(root)):
            export, credit_rows = read_day(fs, day)
            rows += export.num_rows
            credits += credit_rows.num_rows if credit_rows is not None else 0
        seconds = time.perf_counter() - t0
        print(
            f"vertex: {rows:,} lines + {credits:,} credits in {seconds:.2f} s "
            f"= {rows / seconds:,.0f} lines/s"
        )

    columns, cells = azure_openai.run_query(
        world,
        f"providers/Microsoft.Billing/billingAccounts/"
        f"{azure_openai.billing_of(world).billing_account_id}",
        query_body(QUERIES[0], world.start, world.end),
    )
    rows_text = ",".join("[" + ",".join(c) + "]" for c in cells * args.copies * 10)
    text = '{"properties":{"columns":' + json.dumps(columns) + ',"rows":[' + rows_text + "]}}"
    t0 = time.perf_counter()
    payload = json.loads(text, parse_float=str)
    table = rows_to_arrow(payload, QUERIES[0], "bench")
    seconds = time.perf_counter() - t0
    print(
        f"azure: {table.num_rows:,} rows parsed and converted in {seconds:.2f} s "
        f"= {table.num_rows / seconds:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
