"""Demo wiring: point the provider env vars at a running simulator and score the result."""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from tokenledger.warehouse import Warehouse

SIM_OPENAI_KEY = "sk-admin-sim"
SIM_ANTHROPIC_KEY = "sk-ant-admin01-sim"
SIM_AWS_ACCESS_KEY_ID = "AKIASIMULATOR0000001"
SIM_AWS_SECRET_ACCESS_KEY = "sim-aws-secret-access-key-do-not-log"
CENT = Decimal("0.01")


def sim_api_env(server) -> dict[str, str]:
    """The env vars that point the OpenAI and Anthropic admin APIs at the simulator."""
    return {
        "OPENAI_ADMIN_KEY": SIM_OPENAI_KEY,
        "OPENAI_BASE_URL": f"{server.url}/v1",
        "ANTHROPIC_ADMIN_KEY": SIM_ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": server.url,
    }


def configure_env_for(server, exports_dir: Path | None = None) -> None:
    """Set the provider env vars the SDKs read so the pipeline talks to the simulator.

    Providers read from exported files (billing exports, CUR, FOCUS) get them written from
    `server.world` under `exports_dir/<provider>/` here and their env vars pointed at them.
    """
    os.environ.update(sim_api_env(server))
    if exports_dir is not None and "focus" in server.world.providers:
        from ingestion.focus import EXPORTS_DIR_ENV
        from simulator.focus_exports import write_focus_exports

        focus_dir = Path(exports_dir) / "focus"
        write_focus_exports(server.world, focus_dir)
        os.environ[EXPORTS_DIR_ENV] = str(focus_dir)
    providers = getattr(server.world, "providers", ())
    if "gcp_vertex_ai" in providers and exports_dir is not None:
        from simulator import gcp_vertex_ai

        folder = Path(exports_dir) / "gcp_vertex_ai"
        gcp_vertex_ai.write_exports(server.world, folder)
        os.environ["GCP_BILLING_EXPORT_DIR"] = str(folder)
    if "azure_openai" in providers:
        from simulator import azure_openai

        account = azure_openai.billing_of(server.world).billing_account_id
        os.environ["AZURE_COST_ACCESS_TOKEN"] = azure_openai.SIM_TOKEN
        os.environ["AZURE_COST_SCOPE"] = f"providers/Microsoft.Billing/billingAccounts/{account}"
        os.environ["AZURE_MANAGEMENT_URL"] = server.url
    if "opencost" in server.world.providers:  # OpenCost: no auth, configured by its URL
        os.environ["OPENCOST_BASE_URL"] = server.url
    if "aws_bedrock" in server.world.providers:
        _serve_aws_bedrock(server)
    if exports_dir is not None:
        # app telemetry: the world's apps report their LLM calls as files (three formats)
        from ingestion.telemetry import DIR_ENV
        from simulator.telemetry import DEMO_MISSING_FRACTION, DEMO_UNTAGGED_FRACTION, TelemetrySim

        telemetry_dir = Path(exports_dir) / "telemetry"
        TelemetrySim(
            server.world,
            untagged_fraction=DEMO_UNTAGGED_FRACTION,
            missing_fraction=DEMO_MISSING_FRACTION,
        ).write(telemetry_dir)
        os.environ[DIR_ENV] = str(telemetry_dir)


def aws_bedrock_env(server, bucket) -> dict[str, str]:
    """Env vars pointing boto3 at the simulator's Cost Explorer and moto's S3 (dummy keys)."""
    return {
        "AWS_ACCESS_KEY_ID": SIM_AWS_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SIM_AWS_SECRET_ACCESS_KEY,
        "AWS_ENDPOINT_URL_COST_EXPLORER": server.url,
        "AWS_ENDPOINT_URL_S3": bucket.endpoint_url,
        "TOKENLEDGER_AWS_CUR_S3_URI": bucket.uri,
    }


def _serve_aws_bedrock(server) -> None:
    """AWS Bedrock: the CUR 2.0 export goes into an S3 bucket on moto's server (loopback),
    stopped together with the simulator (`server.shutdown()`); Cost Explorer is the
    simulator's own JSON 1.1 endpoint."""
    from simulator.aws_bedrock import CurBucket

    bucket = CurBucket(server.world).start()
    os.environ.update(aws_bedrock_env(server, bucket))
    shutdown = server.shutdown

    def shutdown_with_bucket() -> None:
        try:
            shutdown()
        finally:
            bucket.stop()

    server.shutdown = shutdown_with_bucket
    server.aws_cur_bucket = bucket


def fact_cost_by_provider_day(
    warehouse: Warehouse | Path | None = None,
) -> dict[tuple[str, str], Decimal]:
    """Σ billed_cost in marts.fct_cost_and_usage per (provider slug, UTC day).

    `warehouse` defaults to the configured one; a Path is a DuckDB file.
    """
    with Warehouse.resolve(warehouse).reader() as con:
        rows = con.execute(
            "select x_provider, charge_period_start::date::varchar, sum(billed_cost)::varchar "
            "from marts.fct_cost_and_usage group by 1, 2"
        ).fetchall()
    return {(p, d): Decimal(c) for p, d, c in rows}


def truth_cost_by_provider_day(truth_rows) -> dict[tuple[str, str], Decimal]:
    """Σ ground-truth billed cost per (provider, UTC day) from the simulator's truth rows."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in truth_rows:
        out[(row["provider"], str(row["date"]))] += Decimal(str(row["billed_cost"]))
    return dict(out)


def compare_to_the_cent(
    fact: dict[tuple[str, str], Decimal], truth: dict[tuple[str, str], Decimal]
) -> list[str]:
    """Every (provider, day) whose totals differ by a cent or more, or that one side lacks."""
    problems = []
    for key in sorted(set(fact) | set(truth)):
        f = fact.get(key, Decimal(0)).quantize(CENT)
        t = truth.get(key, Decimal(0)).quantize(CENT)
        if f != t:
            problems.append(f"{key[0]} {key[1]}: fact {f} vs truth {t}")
    return problems


def reconcile_with_truth(warehouse: Warehouse | Path | None, world) -> tuple[bool, str]:
    """Does the fact table equal the simulator's ground truth per provider and day?

    Every provider of `world.providers` is compared, in its billing currency."""
    fact = fact_cost_by_provider_day(warehouse)
    truth = truth_cost_by_provider_day(world.truth_billed_cost())
    problems = compare_to_the_cent(fact, truth)
    if problems:
        return False, f"{len(problems)} provider-days differ, e.g. " + "; ".join(problems[:3])
    return True, f"{len(truth)} provider-days match to the cent, each in its billing currency"
