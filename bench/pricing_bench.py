"""Pricing stage figures: catalogue generation from genai-prices, and the dbt pricing models
(int_usage__unioned → int_usage__priced → marts.fct_cost_estimated_vs_billed) re-built on an
existing DuckDB warehouse (one `tokenledger run` beforehand).

    .venv/bin/python bench/pricing_bench.py --duckdb warehouse/tokenledger.duckdb
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from tokenledger import prices
from tokenledger.dbt import run_dbt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duckdb", type=Path, required=True)
    args = parser.parse_args()

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        counts = prices.refresh_catalogue(Path(tmp))
    generate = time.perf_counter() - t0
    print(f"catalogue from genai-prices {prices.package_version()}: {counts} in {generate:.2f}s")

    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        summary = run_dbt(
            ["build", "--select", "int_usage__unioned+", "--exclude", "fct_cost_allocated+"],
            duckdb_path=args.duckdb,
            target_path=Path(tmp),
        )
        build = time.perf_counter() - t1
    con = duckdb.connect(str(args.duckdb), read_only=True)
    try:
        (lines,) = con.execute("select count(*) from intermediate.int_usage__priced").fetchone()
        (days,) = con.execute(
            "select count(distinct usage_date) from intermediate.int_usage__priced"
        ).fetchone()
    finally:
        con.close()
    nodes = len(summary.statuses)
    print(
        f"pricing models + tests ({nodes} dbt nodes): {lines:,} usage lines over {days} days "
        f"priced in {build:.1f}s ({lines / build:,.0f} lines/s incl. dbt overhead)"
    )


if __name__ == "__main__":
    main()
