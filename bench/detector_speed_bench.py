"""Detector speed: 10,000 daily cost series × 365 days scored at once (issue 5: ≤ 10 s on 2 cores).

Series are synthetic (log-normal sizes from cents to thousands of dollars a day, weekly rhythm,
growth, month-start batch jobs, noise, a few spikes) so that the run does not depend on the
simulator's size. Two timings: `score_matrix` on the dense matrix (what the pipeline calls) and
`detect` on a long `series_id, date, cost` frame (what `tokenledger detect` calls, 3.65 M rows).

Run: `.venv/bin/python bench/detector_speed_bench.py [--series 10000] [--days 365] [--threads 2]`
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenledger.anomaly import DetectorConfig, detect, score_matrix  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- detector-speed:begin -->", "<!-- detector-speed:end -->"


def write_results(section: str) -> None:
    """Replace (or append) this benchmark's own section of bench/RESULTS.md, nothing else."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def synthetic_costs(n: int, days: int, seed: int = 0) -> tuple[np.ndarray, np.datetime64]:
    """(n, days) daily costs with weekly rhythm, growth, month-start jobs and rare spikes."""
    rng = np.random.default_rng(seed)
    first = np.datetime64("2025-01-01")
    dates = first + np.arange(days)
    dow = (dates.astype("datetime64[D]").astype(int) - 4) % 7  # 0 = Monday
    dom = (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(int) + 1
    weekday = np.where(dow == 5, 0.45, np.where(dow == 6, 0.38, 1.0))
    size = rng.lognormal(np.log(50.0), 1.5, (n, 1))
    growth = np.exp(rng.normal(0.6, 0.3, (n, 1)) * np.arange(days) / 365)
    cost = size * weekday * growth * np.exp(rng.normal(0, 0.12, (n, days)))
    batch = rng.random((n, 1)) < 0.3
    cost += np.where(batch & (dom <= 2), 2.0 * size, 0.0)
    spikes = rng.random((n, days)) < 0.002
    cost = np.where(spikes, cost * 8, cost)
    return cost, first


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args(argv)
    cost, first = synthetic_costs(args.series, args.days)
    cfg = DetectorConfig(threads=args.threads)
    cells = args.series * args.days
    print(
        f"{args.series:,} series × {args.days} days = {cells:,} series-days; "
        f"threads {args.threads} (CPUs here: {os.cpu_count()})"
    )

    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = score_matrix(cost, first, cfg)
        best = min(best, time.perf_counter() - t0)
    flagged = int(res["is_anomaly"].sum())
    print(
        f"score_matrix: {best:.2f} s  ({args.series / best:,.0f} series/s, "
        f"{cells / best / 1e6:.2f} M series-days/s), {flagged:,} days flagged"
    )

    frame = pd.DataFrame(
        {
            "series_id": np.repeat([f"s{i:05d}" for i in range(args.series)], args.days),
            "date": np.tile(first + np.arange(args.days), args.series),
            "cost": cost.ravel(),
        }
    )
    t0 = time.perf_counter()
    out = detect(frame, cfg)
    took = time.perf_counter() - t0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"detect (long frame, validated): {took:.2f} s  ({args.series / took:,.0f} series/s), "
        f"{len(out):,} rows out"
    )
    if args.write:
        write_results(
            "\n".join(
                [
                    BEGIN,
                    "## Detector speed (`bench/detector_speed_bench.py`)",
                    "",
                    f"{args.series:,} synthetic daily series × {args.days} days "
                    f"({cells / 1e6:.2f} M series-days), {args.threads} threads on "
                    f"{os.cpu_count()} CPUs (1-minute load average {load:.1f} at the end of "
                    "the run: other work shared the machine). Target (issue 5): ≤ 10 s.",
                    "",
                    "| entry point | seconds | series / s |",
                    "|---|---:|---:|",
                    f"| `score_matrix` (dense matrix; the pipeline's path), best of "
                    f"{args.repeat} | {best:.2f} | {args.series / best:,.0f} |",
                    f"| `detect` (long `series_id,date,cost` frame incl. validation; the CLI's "
                    f"path) | {took:.2f} | {args.series / took:,.0f} |",
                    "",
                    "Reproduce: `.venv/bin/python bench/detector_speed_bench.py --write`.",
                    END,
                ]
            )
            + "\n"
        )
        print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
