"""The rest of the cloud beside AI spend, end to end: FOCUS 1.2 exports of AWS, Azure and GCP
→ raw_focus → the fact → allocation by tags and namespaces → AI vs non-AI per team per month,
and the FOCUS export view's conformance to the spec. One pipeline run (OpenAI, Anthropic and
the FOCUS exports, 16 days over two months) shared by every assertion."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from simulator.focus_exports import AI_CATEGORY, DEDICATED_SOURCES, focus_world
from simulator.server import serve
from simulator.world import World
from tokenledger.demo import configure_env_for, reconcile_with_truth
from tokenledger.pipeline import run_pipeline

PROJECT = Path(__file__).resolve().parents[1]
CENT = Decimal("0.01")
NANO = Decimal("0.000000001")

# FOCUS 1.2 (specification/columns): ServiceCategory and ServiceSubcategory allowed values
SERVICE_SUBCATEGORIES = {
    "AI and Machine Learning": {"AI Platforms", "Bots", "Generative AI", "Machine Learning",
                                "Natural Language Processing", "Other (AI and Machine Learning)"},
    "Analytics": {"Analytics Platform", "Business Intelligence", "Data Processing", "Search",
                  "Streaming Analytics", "Other (Analytics)"},
    "Business Applications": {"Other (Business Applications)"},
    "Compute": {"Containers", "End User Computing", "Quantum", "Serverless Compute",
                "Virtual Machines", "Other (Compute)"},
    "Databases": {"Caching", "Data Warehouse", "Ledger", "NoSQL", "Relational", "Time Series",
                  "Other (Databases)"},
    "Developer Tools": {"Other (Developer Tools)"},
    "Identity": {"Other (Identity)"},
    "Integration": {"API Management", "Messaging", "Workflow Automation",
                    "Other (Integration)"},
    "Internet of Things": {"Other (Internet of Things)"},
    "Management and Governance": {"Administration", "Architecture", "Compliance",
                                  "Cost Management", "Data Governance", "Disaster Recovery",
                                  "Observability", "Support",
                                  "Other (Management and Governance)"},
    "Media": {"Other (Media)"},
    "Migration": {"Other (Migration)"},
    "Mobile": {"Other (Mobile)"},
    "Multicloud": {"Other (Multicloud)"},
    "Networking": {"Content Delivery", "Data Transfer", "Load Balancing", "Network Management",
                   "Network Security", "Other (Networking)"},
    # (Security's list is abridged to the values read in the spec; no row here is Security)
    "Security": {"CSPM", "Credentials", "SIEM", "Threat Detection", "Other (Security)"},
    "Storage": {"Backups", "Bulk Transfer", "Disk", "Files", "Object Storage",
                "Other (Storage)"},
    "Web": {"Other (Web)"},
    "Other": {"Other (Other)"},
}
CHARGE_CATEGORIES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
CHARGE_FREQUENCIES = {"One-Time", "Recurring", "Usage-Based"}
PRICING_CATEGORIES = {"Standard", "Dynamic", "Committed", "Other"}
# FOCUS 1.2 mandatory columns and their data types (Decimal / String / Date/Time)
MANDATORY = {
    "BilledCost": "decimal", "BillingAccountId": "string", "BillingAccountName": "string",
    "BillingCurrency": "string", "BillingPeriodEnd": "datetime",
    "BillingPeriodStart": "datetime", "ChargeCategory": "string", "ChargeClass": "string",
    "ChargeDescription": "string", "ChargePeriodEnd": "datetime",
    "ChargePeriodStart": "datetime", "ContractedCost": "decimal", "EffectiveCost": "decimal",
    "InvoiceIssuerName": "string", "ListCost": "decimal", "PricingQuantity": "decimal",
    "PricingUnit": "string", "ProviderName": "string", "PublisherName": "string",
    "ServiceCategory": "string", "ServiceName": "string", "ServiceSubcategory": "string",
    "ChargeFrequency": "string",
}
NOT_NULL = ("BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd",
            "BillingPeriodStart", "ChargeCategory", "ChargePeriodEnd", "ChargePeriodStart",
            "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ProviderName",
            "PublisherName", "ServiceCategory", "ServiceName", "ServiceSubcategory",
            "ChargeFrequency")
CONDITIONAL = ("ConsumedQuantity", "ConsumedUnit", "ContractedUnitPrice", "ListUnitPrice",
               "PricingCategory", "RegionId", "ResourceId", "SkuId", "SkuPriceId",
               "SubAccountId", "SubAccountName", "Tags")


@pytest.fixture(scope="module")
def focus_run(tmp_path_factory):
    """One pipeline run over a world with OpenAI, Anthropic and the three clouds' FOCUS
    exports (no dedicated Bedrock / Azure OpenAI / Vertex AI source configured)."""
    world = World(seed=5, days=16, start=dt.date(2026, 9, 22),
                  providers=("openai", "anthropic", "focus"))
    work = tmp_path_factory.mktemp("focus")
    saved = dict(os.environ)
    server = serve(world)
    try:
        configure_env_for(server, work / "exports")
        _append_malformed_rows(work / "exports" / "focus")
        db = work / "warehouse.duckdb"
        run_pipeline(world.start, world.end - dt.timedelta(days=1), db)
        yield world, db
    finally:
        server.shutdown()
        os.environ.clear()
        os.environ.update(saved)


def _append_malformed_rows(root: Path) -> None:
    """Two rows a cloud should never send, appended to a GCP export: an amount with a decimal
    comma and an unreadable charge period. Not in the truth; they must be quarantined."""
    path = sorted(root.glob("gcp/*/*/focus-000000000000.csv"))[0]
    with path.open(newline="") as fh:
        header, first = list(csv.reader(fh))[:2]
    bad_amount = dict(zip(header, first, strict=True)) | {"BilledCost": "12,50"}
    bad_period = dict(zip(header, first, strict=True)) | {"ChargePeriodStart": "yesterday"}
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for row in (bad_amount, bad_period):
            writer.writerow([row[c] for c in header])


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _bi_query(heading: str) -> str:
    """The SQL block under a heading of docs/bi.md (what an analyst copies)."""
    doc = (PROJECT / "docs" / "bi.md").read_text()
    section = doc.split(f"### {heading}\n", 1)[1]
    return re.search(r"```sql\n(.*?)```", section, re.S).group(1)


def test_every_provider_reconciles_to_the_truth_to_the_cent(focus_run):
    world, db = focus_run
    ok, message = reconcile_with_truth(db, world)
    assert ok, message
    assert "focus" in {row["provider"] for row in world.truth_billed_cost()}


def test_malformed_export_rows_are_quarantined_with_their_reason(focus_run):
    _, db = focus_run
    rows = _query(db, "select reason from quarantine.quarantined_cost_rows "
                      "where provider = 'focus' order by reason")
    assert [r for (r,) in rows] == ["unparseable_amount", "unparseable_bucket_time"]


def test_the_rest_of_the_cloud_sits_beside_ai_spend(focus_run):
    world, db = focus_run
    rows = _query(db, """
        select service_name, service_category, sum(billed_cost)
        from marts.fct_cost_and_usage where x_provider = 'focus' group by 1, 2""")
    fact = {(name, cat): Decimal(str(v)) for name, cat, v in rows}
    frame = focus_world(world).frame
    truth = frame.groupby(["ServiceName", "ServiceCategory"])["BilledCost"].sum()
    expected = {k: (Decimal(int(v)) * NANO) for k, v in truth.items()}
    assert {k: v.quantize(CENT) for k, v in fact.items()} == {
        k: v.quantize(CENT) for k, v in expected.items()
    }
    names = {name for name, _ in fact}
    assert {"Amazon Elastic Compute Cloud", "Amazon Elastic Kubernetes Service",
            "Snowflake Data Cloud", "Kubernetes Engine", "BigQuery"} <= names
    # no dedicated source is configured here: the clouds' AI lines stay (nothing lost)
    assert set(DEDICATED_SOURCES) <= names
    assert ("Snowflake Data Cloud", "Databases") in fact
    ai = _query(db, "select distinct x_provider from marts.fct_cost_and_usage "
                    f"where service_category = '{AI_CATEGORY}'")
    assert {p for (p,) in ai} == {"openai", "anthropic", "focus"}


def test_ai_vs_non_ai_spend_per_team_per_month_in_one_query(focus_run):
    world, db = focus_run
    rows = _query(db, _bi_query("AI vs non-AI spend per team per month"))
    got: dict[tuple, Decimal] = defaultdict(Decimal)
    for team, month, is_ai, currency, spend in rows:
        assert currency == "USD"
        got[(team, month.strftime("%Y-%m"), bool(is_ai))] += Decimal(str(spend))

    # non-AI spend is all cloud: per team and month it is exactly the tagged resources' cost
    cloud = focus_world(world).truth_by_team_month()
    cloud_truth = {
        (team if isinstance(team, str) else "unallocated", month, bool(is_ai)):
            Decimal(int(v)) * NANO
        for team, month, is_ai, v in cloud.itertuples(index=False)
    }
    non_ai_got = {k: v.quantize(CENT) for k, v in got.items() if not k[2]}
    non_ai_truth = {k: v.quantize(CENT) for k, v in cloud_truth.items() if not k[2]}
    assert non_ai_got == non_ai_truth
    assert non_ai_got[next(k for k in non_ai_truth if k[0] != "unallocated")] > 0

    # AI spend per month is every AI provider's bill plus the clouds' AI services
    truth_month: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in world.truth_billed_cost():
        month = row["date"].strftime("%Y-%m")
        is_ai = row["provider"] != "focus"
        truth_month[(month, is_ai)] += row["billed_cost"]
    for (_, month, is_ai), v in cloud_truth.items():
        if is_ai:
            truth_month[(month, True)] += v
            truth_month[(month, False)] -= v
    got_month: dict[tuple, Decimal] = defaultdict(Decimal)
    for (_, month, is_ai), v in got.items():
        got_month[(month, is_ai)] += v
    assert {k: v.quantize(CENT) for k, v in got_month.items()} == {
        k: v.quantize(CENT) for k, v in truth_month.items()
    }
    # the clouds' AI services are allocated by tag like the rest of the cloud
    for (team, month, is_ai), v in cloud_truth.items():
        if is_ai and team != "unallocated":
            assert got[(team, month, True)] >= v - CENT


def test_tag_and_namespace_rules_place_cloud_cost(focus_run):
    world, db = focus_run
    rows = _query(db, """
        select x_allocation_rule_id, sum(allocated_cost)
        from marts.fct_cost_allocated where x_provider = 'focus' group by 1""")
    by_rule = {rule: Decimal(str(v)) for rule, v in rows}
    assert any(r and r.startswith("focus-tag-aws-team-") for r in by_rule)  # `user:team`
    assert any(r and r.startswith("focus-tag-azure-gcp-team-") for r in by_rule)  # `team`
    assert any(r and r.startswith("focus-namespace-") for r in by_rule)  # GKE namespaces
    frame = focus_world(world).frame
    untagged = frame[frame["team"].isna()]["BilledCost"].sum()
    assert by_rule[None].quantize(CENT) == (Decimal(int(untagged)) * NANO).quantize(CENT)


# --------------------------------------------------------------------- FOCUS export view
def _view(db: Path) -> tuple[list[str], list[tuple], dict[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        types = {
            name: dtype
            for name, dtype, *_ in con.execute("describe marts.focus_cost_and_usage").fetchall()
        }
        cur = con.execute("select * from marts.focus_cost_and_usage")
        names = [d[0] for d in cur.description]
        return names, cur.fetchall(), types
    finally:
        con.close()


def _kind(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t.startswith(("DECIMAL", "DOUBLE", "HUGEINT", "BIGINT", "INTEGER")):
        return "decimal"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "datetime"
    return "string" if t in ("VARCHAR", "JSON") else t


def test_focus_view_has_the_mandatory_columns_named_and_typed_as_the_spec(focus_run):
    _, db = focus_run
    names, rows, types = _view(db)
    assert rows
    for column, kind in MANDATORY.items():
        assert column in names, f"mandatory FOCUS column {column} missing"
        assert _kind(types[column]) == kind, (column, types[column])
    for column in CONDITIONAL:
        assert column in names
    extra = [n for n in names if n not in MANDATORY and n not in CONDITIONAL]
    assert all(n.startswith("x_") for n in extra), extra
    data = [dict(zip(names, r, strict=True)) for r in rows]
    for column in NOT_NULL:
        assert all(r[column] is not None for r in data), f"{column} has nulls"


def test_focus_view_values_follow_the_spec(focus_run):
    _, db = focus_run
    names, rows, _ = _view(db)
    data = [dict(zip(names, r, strict=True)) for r in rows]
    for r in data:
        assert r["ChargeCategory"] in CHARGE_CATEGORIES
        assert r["ChargeFrequency"] in CHARGE_FREQUENCIES
        assert r["ChargeClass"] in (None, "Correction")
        assert r["ServiceSubcategory"] in SERVICE_SUBCATEGORIES[r["ServiceCategory"]]
        assert r["PricingCategory"] in PRICING_CATEGORIES | {None}
        if r["ChargeCategory"] == "Purchase":
            assert r["ChargeFrequency"] != "Usage-Based"
        if r["ChargeCategory"] != "Usage":
            assert r["ConsumedQuantity"] is None and r["ConsumedUnit"] is None
        if r["ChargeCategory"] == "Tax":
            assert r["PricingQuantity"] is None
        # periods: UTC, ends exclusive; a daily row ends at the next midnight
        assert r["ChargePeriodEnd"] == r["ChargePeriodStart"] + dt.timedelta(days=1)
        assert r["BillingPeriodStart"] <= r["ChargePeriodStart"]
        assert r["ChargePeriodEnd"] <= r["BillingPeriodEnd"]
        assert r["BillingPeriodStart"].day == 1 and r["BillingPeriodEnd"].day == 1
        assert r["Tags"] is None or r["Tags"].startswith("{")
    assert {r["ChargeCategory"] for r in data} >= {"Usage", "Purchase", "Tax"}


def test_focus_view_pricing_quantity_times_unit_price_is_the_cost(focus_run):
    _, db = focus_run
    names, rows, _ = _view(db)
    usage = [dict(zip(names, r, strict=True)) for r in rows]
    usage = [r for r in usage if r["ChargeCategory"] == "Usage"]
    priced = [r for r in usage if r["PricingQuantity"] is not None]
    assert len(priced) >= 0.95 * len(usage)
    for r in priced:
        quantity = Decimal(str(r["PricingQuantity"]))
        if quantity == 0:
            continue
        list_cost = quantity * Decimal(str(r["ListUnitPrice"]))
        contracted = quantity * Decimal(str(r["ContractedUnitPrice"]))
        assert abs(list_cost - Decimal(str(r["ListCost"]))) < Decimal("0.005"), r
        assert abs(contracted - Decimal(str(r["ContractedCost"]))) < Decimal("0.005"), r
    # the view loses no cost: Σ BilledCost equals the fact's
    (fact_total,) = _query(db, "select sum(billed_cost) from marts.fct_cost_and_usage")[0]
    assert sum(Decimal(str(r[names.index("BilledCost")])) for r in rows) == Decimal(
        str(fact_total)
    )
