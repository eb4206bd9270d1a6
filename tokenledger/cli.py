"""The `tokenledger` command: run the pipeline, the demo, the simulator, the summary."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console

from tokenledger import paths


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a UTC day (YYYY-MM-DD): {text!r}") from exc


def _count_dbt_nodes() -> int:
    manifest = paths.manifest_path()
    if not manifest.exists():
        return 0
    nodes = json.loads(manifest.read_text())["nodes"]
    return sum(1 for n in nodes.values() if n["resource_type"] in ("model", "seed", "test"))


def _warehouse(args: argparse.Namespace):
    """The warehouse of this command: --warehouse, else TOKENLEDGER_WAREHOUSE (default DuckDB)."""
    from tokenledger.warehouse import Warehouse

    return Warehouse.from_env(getattr(args, "warehouse", None))


def _existing_warehouse(args: argparse.Namespace | None = None):
    """The configured warehouse, once it is known to hold something to read."""
    warehouse = _warehouse(args) if args is not None else _warehouse(argparse.Namespace())
    warehouse.ensure_readable()
    return warehouse


def cmd_sql(args: argparse.Namespace) -> int:
    """Run one read-only SQL query on the warehouse and print the result."""
    warehouse = _existing_warehouse(args)
    if not warehouse.is_postgres:
        import duckdb

        con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
        try:
            con.sql(args.query).show(max_rows=args.max_rows)
        finally:
            con.close()
        return 0
    from rich.table import Table

    columns, rows = warehouse.query(args.query)
    table = Table(show_edge=False, caption=f"{len(rows)} rows" if rows else "0 rows")
    for col in columns:
        table.add_column(col)
    for row in rows[: args.max_rows]:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    Console().print(table)
    return 0


def cmd_prepare(_: argparse.Namespace) -> int:
    """Parse the dbt project so Dagster's dbt assets can load (writes target/manifest.json)."""
    from tokenledger.dbt import prepare_manifest

    path = prepare_manifest()
    print(f"dbt manifest ready: {path}")
    return 0


def _run_with_progress(start: date | None, end: date | None, warehouse, console: Console):
    from tokenledger.pipeline import run_pipeline
    from tokenledger.progress import pipeline_progress

    with pipeline_progress(console, _count_dbt_nodes()) as prog:
        return run_pipeline(start, end, warehouse, on_rows=prog.on_rows, on_node=prog.on_node)


def _print_run_result(result, console: Console) -> None:
    rows = sum(result.rows.values())
    console.print(
        f"landed {rows:,} raw rows in {result.seconds['ingest']:.1f}s, "
        f"built marts in {result.seconds['transform']:.1f}s "
        f"(total {result.seconds['total']:.1f}s)"
    )
    episodes = result.anomalies
    if episodes is not None and len(episodes):
        from tokenledger.alerts import incident_alerts

        alerts = incident_alerts(episodes)
        console.print(
            f"[bold]{len(alerts)} spend anomaly incidents[/bold] ({len(episodes)} anomalous "
            "series in marts.fct_spend_anomalies); largest:"
        )
        for alert in alerts[:8]:
            fields = {label: value for label, value in alert.fields}
            console.print(f"  [red]●[/red] {alert.text}")
            detail = [f"{k}: {fields[k]}" for k in ("Team", "Models", "API keys") if k in fields]
            if detail:
                console.print(f"    {' · '.join(detail)}")
    sent = [a for a in (result.alerts or []) if a.status == "sent"]
    if sent:
        console.print(f"sent {len(sent)} alert(s) through the configured channels")
    for warning in result.dbt.warnings if result.dbt else []:
        console.print(f"[yellow]warning[/yellow] {warning}")


def cmd_run(args: argparse.Namespace) -> int:
    """Run the pipeline for the configured providers over [start, end] (UTC days)."""
    from tokenledger.summary import load_summary, print_summary

    console = Console()
    if args.start and args.end and args.end < args.start:
        console.print("[red]--end is before --start[/red]")
        return 2
    warehouse = _warehouse(args)
    result = _run_with_progress(args.start, args.end, warehouse, console)
    _print_run_result(result, console)
    if not args.quiet:
        print_summary(load_summary(warehouse), console)
    console.print(f"warehouse: {warehouse.describe()}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Print the spend summary of the warehouse."""
    from tokenledger.summary import load_summary, print_summary

    print_summary(load_summary(_existing_warehouse(args)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the self-contained HTML cost report and print its path."""
    from tokenledger.report import write_report

    path = write_report(args.output, days=args.days, warehouse=_warehouse(args))
    print(f"report: {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the simulator, run the pipeline over its whole history, print the summary."""
    from simulator.server import serve
    from simulator.world import World, all_providers
    from tokenledger.demo import configure_env_for, reconcile_with_truth
    from tokenledger.report import DEFAULT_OUTPUT as DEFAULT_REPORT
    from tokenledger.report import write_report
    from tokenledger.summary import load_summary, print_summary

    console = Console()
    warehouse = _warehouse(args)
    world = World(seed=args.seed, days=args.days, providers=all_providers())
    server = serve(world)
    try:
        configure_env_for(server, warehouse.work_dir() / "sim_exports")
        first, last = world.start, world.start + timedelta(days=world.days - 1)
        console.print(
            f"[bold]tokenledger demo[/bold]: simulated organisation (seed {args.seed}), "
            f"{world.days} days {first} → {last}, providers {', '.join(world.providers)} "
            f"on {server.url}"
        )
        result = _run_with_progress(first, last, warehouse, console)
        _print_run_result(result, console)
        print_summary(load_summary(warehouse), console)
        ok, detail = reconcile_with_truth(warehouse, world)
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        console.print(
            f"{mark} fact table vs simulator ground truth, per provider and day: {detail}"
        )
        console.print(f"\nwarehouse: {warehouse.describe()}")
        flag = " --warehouse postgres" if warehouse.is_postgres else ""
        console.print(
            f"query it:  .venv/bin/tokenledger sql{flag} "
            '"select * from marts.fct_cost_and_usage limit 5"'
        )
        report = write_report(DEFAULT_REPORT, warehouse=warehouse)
        console.print(f"report:    {report}   (open it in a browser)")
        console.print("Dagster UI: make dagster   (then open http://127.0.0.1:3000)")
        return 0 if ok else 1
    finally:
        server.shutdown()


def cmd_detect(args: argparse.Namespace) -> int:
    """Score a CSV of daily cost series for spend anomalies (same detector as the pipeline)."""
    from tokenledger.anomaly.csvio import detect_csv

    done = detect_csv(args.input, args.output)
    print(
        f"scored {done.rows:,} rows in {done.series:,} series: {done.anomalous_days:,} "
        f"anomalous days in {done.episodes:,} episodes → {args.output}",
        file=sys.stderr,
    )
    return 0


def cmd_alerts_test(args: argparse.Namespace) -> int:
    """Send a test message to every channel of the alerts file; exit 1 if any failed."""
    from tokenledger.alerts import load_config, send_test_alerts

    config = load_config(args.config)
    if not config.enabled:
        print("no alert channels configured (alerts.toml or TOKENLEDGER_ALERTS_CONFIG)")
        return 1
    results = send_test_alerts(config)
    for r in results:
        mark = "sent" if r.status == "sent" else f"FAILED ({r.error})"
        print(f"{r.channel}: {mark} after {r.attempts} attempt(s)")
    return 0 if all(r.status == "sent" for r in results) else 1


def cmd_simulate_serve(args: argparse.Namespace) -> int:
    """Serve the simulated providers on loopback until interrupted."""
    from simulator.server import run_server

    run_server(
        seed=args.seed,
        days=args.days,
        port=args.port,
        start=args.start,
        scale=args.scale,
        truth_dir=args.truth_dir,
    )
    return 0


def cmd_simulate_ownership(args: argparse.Namespace) -> int:
    """Print the simulated organisation's allocation rules (or teams) seed as CSV."""
    from simulator.ownership import allocation_rules_csv, teams_csv

    text = teams_csv() if args.table == "teams" else allocation_rules_csv(args.seed, args.scale)
    sys.stdout.write(text)
    return 0


def _add_warehouse_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warehouse",
        choices=["duckdb", "postgres"],
        default=None,
        help="warehouse engine (default: TOKENLEDGER_WAREHOUSE, else duckdb)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="tokenledger", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the pipeline for the configured providers")
    p.add_argument("--start", type=_day, help="first UTC day (default: resume incrementally)")
    p.add_argument("--end", type=_day, help="last UTC day, included (default: today)")
    p.add_argument("--quiet", action="store_true", help="no summary")
    _add_warehouse_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="simulator → DuckDB or PostgreSQL → marts → summary")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--days", type=int, default=90)
    _add_warehouse_arg(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("summary", help="print where the money went")
    _add_warehouse_arg(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("report", help="write the self-contained HTML cost report")
    p.add_argument(
        "--output", type=Path, default=Path("reports/tokenledger-report.html"),
        help="where to write it (default: reports/tokenledger-report.html)",
    )
    p.add_argument(
        "--days", type=int, default=90, help="days shown, ending at the last billed day (90)"
    )
    _add_warehouse_arg(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sql", help="run a read-only SQL query on the warehouse")
    p.add_argument("query")
    p.add_argument("--max-rows", type=int, default=40)
    _add_warehouse_arg(p)
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("detect", help="flag spend anomalies in a CSV of daily cost series")
    p.add_argument("--input", required=True, help="CSV with series_id,date,cost ('-' = stdin)")
    p.add_argument("--output", required=True, help="scored CSV to write ('-' = stdout)")
    p.set_defaults(func=cmd_detect)

    alerts = sub.add_parser("alerts", help="spend and quality alerts (Slack, webhook, email)")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    p = alerts_sub.add_parser("test", help="send a test message to every configured channel")
    p.add_argument(
        "--config",
        default=None,
        help="alerts file (default: TOKENLEDGER_ALERTS_CONFIG, else ./alerts.toml)",
    )
    p.set_defaults(func=cmd_alerts_test)

    p = sub.add_parser("prepare", help="parse the dbt project (needed before Dagster loads)")
    p.set_defaults(func=cmd_prepare)

    sim = sub.add_parser("simulate", help="the provider simulator")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    p = sim_sub.add_parser("serve", help="serve the simulated provider APIs on loopback")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--port", type=int, default=8900)
    p.add_argument("--start", type=_day, default=None)
    p.add_argument("--scale", type=int, default=1)
    p.add_argument("--truth-dir", type=Path, default=None)
    p.set_defaults(func=cmd_simulate_serve)
    p = sim_sub.add_parser(
        "ownership", help="print the world's allocation rules (or teams) seed as CSV"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=int, default=1)
    p.add_argument("--table", choices=["rules", "teams"], default="rules")
    p.set_defaults(func=cmd_simulate_ownership)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tokenledger` console script."""
    level = os.environ.get("TOKENLEDGER_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level)
    for handler in logging.getLogger().handlers:  # libraries that force their own loggers to
        handler.setLevel(level)  # INFO (Great Expectations does) stay quiet too
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error for people; the trace with -v later
        from tokenledger.dbt import DbtBuildError
        from tokenledger.quality import QualityGateFailed

        if isinstance(exc, QualityGateFailed):  # the batch was stopped; marts unchanged
            print(f"tokenledger: {exc}", file=sys.stderr)
            return 3
        if isinstance(exc, DbtBuildError) or os.environ.get("TOKENLEDGER_DEBUG") is None:
            print(f"tokenledger: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
