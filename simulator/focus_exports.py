"""The rest of the organisation's cloud bill, as FOCUS 1.2 exports from AWS, Azure and GCP.

The world runs EC2, EKS, S3, RDS, Snowflake (bought through AWS Marketplace) and Bedrock in one
AWS account; VMs, AKS, Storage and Azure OpenAI in one Azure subscription; Compute Engine,
GKE, BigQuery, Cloud Storage and Vertex AI in one GCP project. Most resources carry `team` and
`cost-center` tags (AWS writes user tags as `user:<key>`), some carry none; GKE rows carry the
`k8s-namespace` label GKE cost allocation adds. AWS also bills a monthly Business Support fee
(a `Purchase`) and a monthly tax line (`Tax`).

Files are written as each cloud delivers them (see `write_focus_exports`):
- AWS Data Exports (FOCUS 1.2 with AWS columns, parquet, overwrite):
  `aws/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-00001.snappy.parquet` (money as double)
- Azure Cost Management export (FocusCost, CSV gzip, one folder per run):
  `azure/<export>/YYYYMMDD-YYYYMMDD/<run id>/part_0_0001.csv.gz` + `manifest.json`
- GCP: the BigQuery FOCUS view extracted to CSV by a scheduled query:
  `gcp/<export>/YYYY-MM/focus-000000000000.csv`

Money is integer nano-dollars: list unit prices have at most 5 decimals, quantities 3, the
negotiated discount is a whole 10 %, so `PricingQuantity × ListUnitPrice = ListCost` and
`PricingQuantity × ContractedUnitPrice = ContractedCost = BilledCost` hold exactly.

The AI services (Bedrock, Azure OpenAI, Vertex AI) are in the exports too, as in real ones; a
configured dedicated source (`aws_bedrock`, `azure_openai`, `gcp_vertex_ai`) bills the same
spend, so the pipeline drops those FOCUS rows on the days that source covers
(`seeds/focus_dedicated_sources.csv`), and the `focus` truth leaves them out when the world
includes that provider.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.world import TEAMS, World, register_truth

PROVIDER = "focus"
EXPORT_NAME = "tokenledger-focus"
COST_CENTRES = {
    "search": "CC-1100",
    "support": "CC-1200",
    "growth": "CC-1300",
    "platform": "CC-1400",
    "research": "CC-1500",
}
DEDICATED_SOURCES = {
    "Amazon Bedrock": "aws_bedrock",
    "Azure OpenAI": "azure_openai",
    "Vertex AI": "gcp_vertex_ai",
}
"""FOCUS service name → the provider slug of the dedicated source that bills the same spend
(mirrors `seeds/focus_dedicated_sources.csv`)."""

AI_CATEGORY = "AI and Machine Learning"

# The 57 FOCUS 1.2 cost-and-usage columns, as the spec spells them.
FOCUS_COLUMNS = (
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
)
MONEY_COLUMNS = (
    "BilledCost",
    "ContractedCost",
    "EffectiveCost",
    "ListCost",
    "PricingCurrencyEffectiveCost",
)
PRICE_COLUMNS = (
    "ContractedUnitPrice",
    "ListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyListUnitPrice",
)
TIMESTAMP_COLUMNS = (
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
)
QUANTITY_COLUMNS = ("ConsumedQuantity", "PricingQuantity", "CommitmentDiscountQuantity")
EXTENSION_COLUMNS = {
    "aws": ("x_Discounts", "x_Operation", "x_ServiceCode"),
    "azure": ("x_ResourceGroupName", "x_SkuMeterCategory", "x_BilledCostInUsd"),
    "gcp": ("x_ServiceId", "x_ExportTime"),
}


@dataclass(frozen=True)
class Service:
    """One billable service of a cloud: FOCUS names, one SKU, its list price and volume."""

    cloud: str
    name: str
    category: str
    subcategory: str
    meter: str
    unit: str
    price_e5: int  # list unit price, 1e-5 USD
    daily_quantity: float  # typical quantity per resource and day (PricingUnit)
    resource_type: str
    publisher: str | None = None  # marketplace seller; default: the cloud
    discount_percent: int = 10  # negotiated discount (whole 10 %)
    weekday_only: bool = False  # quieter weekends (dev/test VMs, AI apps)
    extension: tuple = ()


CLOUDS = {
    "aws": dict(
        provider_name="AWS",
        invoice_issuer_name="Amazon Web Services, Inc.",
        billing_account_name="Acme Corp (payer)",
        billing_account_type="Billing Account",
        sub_account_type="Linked Account",
        region_id="us-east-1",
        region_name="US East (N. Virginia)",
        tag_prefix="user:",
    ),
    "azure": dict(
        provider_name="Microsoft",
        invoice_issuer_name="Microsoft",
        billing_account_name="Acme Corp MCA",
        billing_account_type="Billing Profile",
        sub_account_type="Subscription",
        region_id="westeurope",
        region_name="West Europe",
        tag_prefix="",
    ),
    "gcp": dict(
        provider_name="Google Cloud",
        invoice_issuer_name="Google",
        billing_account_name="Acme Corp billing",
        billing_account_type="Billing Account",
        sub_account_type="Project",
        region_id="europe-west4",
        region_name="Netherlands",
        tag_prefix="",
    ),
}

SERVICES = (
    Service("aws", "Amazon Elastic Compute Cloud", "Compute", "Virtual Machines",
            "BoxUsage:m5.xlarge", "Hours", 19200, 24, "Instance",
            extension=("AmazonEC2", "RunInstances")),
    Service("aws", "Amazon Elastic Kubernetes Service", "Compute", "Containers",
            "USE1-AmazonEKS-Hours:perCluster", "Hours", 10000, 24, "Cluster",
            extension=("AmazonEKS", "CreateOperation")),
    Service("aws", "Amazon Simple Storage Service", "Storage", "Object Storage",
            "TimedStorage-ByteHrs", "GB-Mo", 2300, 180.0, "Bucket",
            extension=("AmazonS3", "StandardStorage")),
    Service("aws", "Amazon Relational Database Service", "Databases", "Relational",
            "InstanceUsage:db.r6g.large", "Hours", 22500, 24, "DBInstance",
            extension=("AmazonRDS", "CreateDBInstance:0016")),
    Service("aws", "Snowflake Data Cloud", "Databases", "Data Warehouse",
            "Snowflake Credits", "Credits", 300000, 14.0, "Listing",
            publisher="Snowflake Inc.", discount_percent=0,
            extension=("prod-snowflake-credits", "Usage")),
    Service("aws", "Amazon Bedrock", AI_CATEGORY, "Generative AI",
            "USE1-Claude3.5Sonnet-input-tokens", "1K tokens", 300, 2500.0, "Model",
            weekday_only=True, extension=("AmazonBedrock", "InvokeModelInference")),
    Service("azure", "Virtual Machines", "Compute", "Virtual Machines",
            "D4s v5", "1 Hour", 19200, 24, "microsoft.compute/virtualmachines",
            weekday_only=True, extension=("Virtual Machines",)),
    Service("azure", "Azure Kubernetes Service", "Compute", "Containers",
            "Standard Uptime SLA", "1 Hour", 10000, 24,
            "microsoft.containerservice/managedclusters",
            extension=("Azure Kubernetes Service",)),
    Service("azure", "Storage", "Storage", "Object Storage",
            "Hot LRS Data Stored", "1 GB/Month", 1840, 250.0, "microsoft.storage/storageaccounts",
            extension=("Storage",)),
    Service("azure", "Azure OpenAI", AI_CATEGORY, "Generative AI",
            "gpt-4o-0806-Inp-glbl Tokens", "1K Tokens", 250, 4000.0,
            "microsoft.cognitiveservices/accounts", weekday_only=True,
            extension=("Cognitive Services",)),
    Service("gcp", "Compute Engine", "Compute", "Virtual Machines",
            "N2 Instance Core running in EMEA", "hour", 3482, 96, "compute.googleapis.com/Instance",
            extension=("6F81-5844-456A",)),
    Service("gcp", "Kubernetes Engine", "Compute", "Containers",
            "Autopilot Pod mCPU Requests", "hour", 4450, 300.0, "container.googleapis.com/Cluster",
            extension=("CCD8-9BF1-090E",)),
    Service("gcp", "BigQuery", "Databases", "Data Warehouse",
            "Analysis", "tebibyte", 625000, 1.5, "bigquery.googleapis.com/Dataset",
            extension=("24E6-581D-38E5",)),
    Service("gcp", "Cloud Storage", "Storage", "Object Storage",
            "Standard Storage Netherlands", "gibibyte month", 2000, 300.0,
            "storage.googleapis.com/Bucket", extension=("95FF-2EF5-5EA1",)),
    Service("gcp", "Vertex AI", AI_CATEGORY, "Generative AI",
            "Gemini 2.5 Flash GA Text Input - Predictions", "1K characters", 8, 90000.0,
            "aiplatform.googleapis.com/Endpoint", weekday_only=True,
            extension=("C7E2-9256-1C43",)),
)

SUPPORT_FEE_E5 = 10_000_000  # AWS Business Support, USD 100.00 a month
TAX_PERCENT = 8  # AWS sales tax on the month's usage, charged on the 1st for the month before


@dataclass(frozen=True)
class Resource:
    """A tagged (or untagged) resource of one service in one account."""

    service: Service
    resource_id: str
    resource_name: str
    sub_account_id: str
    sub_account_name: str
    team: str | None
    namespace: str | None
    size: float


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def _hex(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), n))


class FocusWorld:
    """The cloud estate of a `World`: accounts, resources and one FOCUS row per resource-day."""

    def __init__(self, world: World) -> None:
        self.world = world
        rng = np.random.default_rng([world.seed, 0xF0C05])
        self.aws_payer = _digits(rng, 12)
        self.aws_accounts = [(_digits(rng, 12), f"acme-{env}") for env in ("prod", "data")]
        guid = _hex(rng, 32)
        self.azure_billing_account = (
            f"{_digits(rng, 8)}-{_digits(rng, 4)}-{_digits(rng, 4)}-{_digits(rng, 4)}"
            f"-{_digits(rng, 12)}:{guid[:8]}_2019-05-31"
        )
        sub_guid = _hex(rng, 32)
        self.azure_subscription = (
            f"{sub_guid[:8]}-{sub_guid[8:12]}-{sub_guid[12:16]}-{sub_guid[16:20]}-{sub_guid[20:]}"
        )
        ba = _hex(rng, 18).upper()
        self.gcp_billing_account = f"{ba[:6]}-{ba[6:12]}-{ba[12:18]}"
        self.gcp_project = f"acme-prod-{_digits(rng, 6)}"
        self.resources = self._build_resources(rng)
        self.frame = self._build_rows(rng)

    # ------------------------------------------------------------------ entities
    def billing_account(self, cloud: str) -> str:
        return {
            "aws": self.aws_payer,
            "azure": self.azure_billing_account,
            "gcp": self.gcp_billing_account,
        }[cloud]

    def _build_resources(self, rng: np.random.Generator) -> list[Resource]:
        resources = []
        for svc in SERVICES:
            count = 4 if svc.category in ("Compute", "Storage") else 2
            if svc.name == "Kubernetes Engine":
                count = len(TEAMS)  # one row per namespace of the shared cluster
            for i in range(count):
                team = TEAMS[int(rng.integers(0, len(TEAMS)))]
                tagged = rng.random() > 0.18
                namespace = None
                if svc.cloud == "aws":
                    sub, sub_name = self.aws_accounts[i % 2]
                    rid = self._aws_arn(svc, sub, rng)
                elif svc.cloud == "azure":
                    sub, sub_name = f"/subscriptions/{self.azure_subscription}", "acme-prod"
                    rg = f"rg-{team}-{i}"
                    rid = (
                        f"{sub}/resourcegroups/{rg}/providers/{svc.resource_type}/"
                        f"{svc.meter.split()[0].lower()}-{_hex(rng, 6)}"
                    )
                else:
                    sub, sub_name = self.gcp_project, "acme-prod"
                    rid = f"//{svc.resource_type.split('/')[0]}/projects/{sub}/{_hex(rng, 10)}"
                    if svc.name == "Kubernetes Engine":
                        team, tagged = TEAMS[i], True
                        namespace = team
                        rid = f"//container.googleapis.com/projects/{sub}/clusters/prod-gke"
                resources.append(
                    Resource(
                        service=svc,
                        resource_id=rid,
                        resource_name=rid.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
                        sub_account_id=sub,
                        sub_account_name=sub_name,
                        team=team if tagged else None,
                        namespace=namespace,
                        size=float(rng.uniform(0.4, 1.6)),
                    )
                )
        return resources

    @staticmethod
    def _aws_arn(svc: Service, account: str, rng: np.random.Generator) -> str:
        at = f"us-east-1:{account}"
        kind = {
            "Amazon Elastic Compute Cloud": f"ec2:{at}:instance/i-{_hex(rng, 17)}",
            "Amazon Elastic Kubernetes Service": f"eks:{at}:cluster/eks-{_hex(rng, 4)}",
            "Amazon Simple Storage Service": f"s3:::acme-data-{_hex(rng, 6)}",
            "Amazon Relational Database Service": f"rds:{at}:db:db-{_hex(rng, 8)}",
            "Snowflake Data Cloud": f"aws-marketplace:{at}:listing/prodview-{_hex(rng, 8)}",
            "Amazon Bedrock": (
                f"bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-{_hex(rng, 4)}"
            ),
        }[svc.name]
        return f"arn:aws:{kind}"

    def tags_of(self, res: Resource) -> str | None:
        """The FOCUS `Tags` JSON object text of a resource (keys sorted), None when untagged."""
        if res.team is None:
            return None
        prefix = CLOUDS[res.service.cloud]["tag_prefix"]
        if res.namespace is not None:  # GKE cost allocation labels, no team tag
            tags = {"goog-k8s-cluster-name": "prod-gke", "k8s-namespace": res.namespace}
        else:
            tags = {f"{prefix}team": res.team, f"{prefix}cost-center": COST_CENTRES[res.team]}
        return json.dumps(dict(sorted(tags.items())), separators=(",", ":"))

    # ------------------------------------------------------------------ rows
    def _build_rows(self, rng: np.random.Generator) -> pd.DataFrame:
        w = self.world
        rows = []
        usage_by_month: dict[tuple[str, str], int] = {}
        for day in range(w.days):
            date = w.date_of(day)
            weekend = date.weekday() >= 5
            growth = 1.0 + 0.3 * day / 365.0
            for res in self.resources:
                svc = res.service
                factor = res.size * growth * float(rng.uniform(0.85, 1.15))
                if svc.weekday_only and weekend:
                    factor *= 0.4
                if svc.unit in ("Hours", "1 Hour", "hour") and svc.daily_quantity == 24:
                    q3 = 24_000  # an always-on instance: 24 hours a day
                else:
                    q3 = max(1, int(round(svc.daily_quantity * factor * 1000)))
                list_nano = svc.price_e5 * q3 * 10  # 1e-5 × 1e-3 = 1e-8 USD
                c6 = svc.price_e5 * (100 - svc.discount_percent) // 10  # 1e-6 USD
                contracted_nano = c6 * q3
                rows.append(
                    self._row(res, date, q3, svc.price_e5, c6, list_nano, contracted_nano)
                )
                if svc.cloud == "aws":
                    key = (res.sub_account_id, date.strftime("%Y-%m"))
                    usage_by_month[key] = usage_by_month.get(key, 0) + contracted_nano
            if date.day == 1:
                rows.extend(self._monthly_aws_rows(date, usage_by_month))
        return pd.DataFrame(rows)

    def _base(self, cloud: str, date: dt.date) -> dict:
        c = CLOUDS[cloud]
        month = date.replace(day=1)
        next_month = (month + dt.timedelta(days=32)).replace(day=1)
        return dict(
            cloud=cloud,
            date=date,
            BillingAccountId=self.billing_account(cloud),
            BillingAccountName=c["billing_account_name"],
            BillingAccountType=c["billing_account_type"],
            BillingCurrency="USD",
            BillingPeriodStart=f"{month.isoformat()}T00:00:00Z",
            BillingPeriodEnd=f"{next_month.isoformat()}T00:00:00Z",
            ChargePeriodStart=f"{date.isoformat()}T00:00:00Z",
            ChargePeriodEnd=f"{(date + dt.timedelta(days=1)).isoformat()}T00:00:00Z",
            InvoiceId=f"INV-{cloud.upper()}-{month.strftime('%Y%m')}",
            InvoiceIssuerName=c["invoice_issuer_name"],
            ProviderName=c["provider_name"],
            PublisherName=c["provider_name"],
            RegionId=c["region_id"],
            RegionName=c["region_name"],
            PricingCurrency="USD",
            SubAccountType=c["sub_account_type"],
        )

    def _row(
        self,
        res: Resource,
        date: dt.date,
        q3: int,
        list_e5: int,
        contracted_e6: int,
        list_nano: int,
        contracted_nano: int,
    ) -> dict:
        svc = res.service
        row = self._base(svc.cloud, date)
        sku = hashlib.sha1(f"{svc.cloud}:{svc.meter}".encode()).hexdigest()[:12].upper()
        row.update(
            ChargeCategory="Usage",
            ChargeClass=None,
            ChargeFrequency="Usage-Based",
            ChargeDescription=f"{svc.meter} ({svc.unit})",
            PricingCategory="Standard",
            PricingQuantity=q3,
            PricingUnit=svc.unit,
            ConsumedQuantity=q3,
            ConsumedUnit=svc.unit,
            ListUnitPrice=list_e5 * 10,  # → 1e-6 units, like ContractedUnitPrice
            ContractedUnitPrice=contracted_e6,
            ListCost=list_nano,
            ContractedCost=contracted_nano,
            BilledCost=contracted_nano,
            EffectiveCost=contracted_nano,
            PublisherName=svc.publisher or CLOUDS[svc.cloud]["provider_name"],
            ResourceId=res.resource_id,
            ResourceName=res.resource_name,
            ResourceType=svc.resource_type,
            ServiceCategory=svc.category,
            ServiceSubcategory=svc.subcategory,
            ServiceName=svc.name,
            SkuId=sku,
            SkuMeter=svc.meter,
            SkuPriceId=f"{sku}.{svc.discount_percent}",
            SkuPriceDetails=json.dumps({"x_Meter": svc.meter}, separators=(",", ":")),
            SubAccountId=res.sub_account_id,
            SubAccountName=res.sub_account_name,
            Tags=self.tags_of(res),
            team=res.team,
            extension=svc.extension,
        )
        return row

    def _monthly_aws_rows(self, date: dt.date, usage: dict[tuple[str, str], int]) -> list[dict]:
        """On the 1st: each AWS account's Business Support fee for the month (a recurring
        Purchase) and the tax on its previous month's usage (in the world) as a Tax row."""
        out = []
        previous = (date - dt.timedelta(days=1)).strftime("%Y-%m")
        for account, name in self.aws_accounts:
            fee = self._base("aws", date)
            fee.update(
                ChargeCategory="Purchase",
                ChargeFrequency="Recurring",
                ChargeDescription="AWS Support (Business) monthly fee",
                PricingCategory="Standard",
                PricingQuantity=1000,
                PricingUnit="Months",
                ListUnitPrice=SUPPORT_FEE_E5 * 10,
                ContractedUnitPrice=SUPPORT_FEE_E5 * 10,
                ListCost=SUPPORT_FEE_E5 * 10_000,
                ContractedCost=SUPPORT_FEE_E5 * 10_000,
                BilledCost=SUPPORT_FEE_E5 * 10_000,
                EffectiveCost=SUPPORT_FEE_E5 * 10_000,
                ServiceCategory="Management and Governance",
                ServiceSubcategory="Support",
                ServiceName="AWS Support (Business)",
                SkuId="SUPPORT-BUSINESS",
                SkuPriceId="SUPPORT-BUSINESS.0",
                SkuMeter="Business Support",
                SubAccountId=account,
                SubAccountName=name,
                team=None,
                extension=("AWSSupportBusiness", "Recurring"),
            )
            out.append(fee)
            base = usage.get((account, previous), 0)
            if base:
                tax_nano = base * TAX_PERCENT // 100
                tax = self._base("aws", date)
                tax.update(
                    ChargeCategory="Tax",
                    ChargeFrequency="One-Time",
                    ChargeDescription=f"Tax for {previous}",
                    ListCost=tax_nano,
                    ContractedCost=tax_nano,
                    BilledCost=tax_nano,
                    EffectiveCost=tax_nano,
                    ServiceCategory="Other",
                    ServiceSubcategory="Other (Other)",
                    ServiceName="Tax",
                    SubAccountId=account,
                    SubAccountName=name,
                    RegionId=None,
                    RegionName=None,
                    team=None,
                    extension=("Tax", "Tax"),
                )
                out.append(tax)
        return out

    # ------------------------------------------------------------------ truth
    def truth(self, first: int, last: int) -> pd.DataFrame:
        """Billed cost per cloud sub account and day: every row of the exports, less the rows
        of services whose dedicated source the world includes (billed there instead)."""
        f = self.frame
        lo, hi = self.world.date_of(first), self.world.date_of(last)
        f = f[(f["date"] >= lo) & (f["date"] <= hi)]
        covered = [s for s, p in DEDICATED_SOURCES.items() if p in self.world.providers]
        f = f[~f["ServiceName"].isin(covered)]
        g = f.groupby(["date", "SubAccountId"], as_index=False, sort=True)["BilledCost"].sum()
        n = len(g)
        return pd.DataFrame(
            {
                "provider": np.full(n, PROVIDER, dtype=object),
                "date": g["date"].to_numpy(dtype=object),
                "sub_account_id": g["SubAccountId"].to_numpy(dtype=object),
                "api_key_id": np.full(n, None, dtype=object),
                "model": np.full(n, None, dtype=object),
                "token_type": np.full(n, None, dtype=object),
                "service_tier": np.full(n, None, dtype=object),
                "billed_cost_nano": g["BilledCost"].to_numpy().astype(np.int64),
                "billing_currency": np.full(n, "USD", dtype=object),
            }
        )

    def truth_by_team_month(self) -> pd.DataFrame:
        """Σ billed cost (nano) per tag team (None = untagged), month and is_ai: what the
        allocated marts must show for the FOCUS rows (dedicated-source services excluded)."""
        f = self.frame
        covered = [s for s, p in DEDICATED_SOURCES.items() if p in self.world.providers]
        f = f[~f["ServiceName"].isin(covered)].assign(
            month=[d.strftime("%Y-%m") for d in f["date"]] if len(f) else [],
            is_ai=lambda x: x["ServiceCategory"] == AI_CATEGORY,
            team=lambda x: x["team"].where(x["team"].notna(), None),
        )
        return (
            f.groupby(["team", "month", "is_ai"], dropna=False, as_index=False)["BilledCost"]
            .sum()
        )

    # ------------------------------------------------------------------ files
    def export_table(self, cloud: str, rows: pd.DataFrame) -> pa.Table:
        """The FOCUS 1.2 columns (+ the cloud's x_ columns) of some rows, as Arrow: money,
        prices and quantities as double (what the clouds' parquet holds), the rest text."""
        n = len(rows)
        scale = {**dict.fromkeys(MONEY_COLUMNS, 1e9), **dict.fromkeys(PRICE_COLUMNS, 1e6),
                 **dict.fromkeys(QUANTITY_COLUMNS, 1e3)}
        columns = {}
        for col in FOCUS_COLUMNS:
            values = rows[col].tolist() if col in rows else [None] * n
            if col in scale:
                columns[col] = pa.array(
                    [None if v is None or v != v else int(v) / scale[col] for v in values],
                    pa.float64(),
                )
            elif col in TIMESTAMP_COLUMNS and cloud == "aws":
                columns[col] = pa.array(
                    [None if v is None else dt.datetime.fromisoformat(v) for v in values],
                    pa.timestamp("ms", tz="UTC"),
                )
            else:
                columns[col] = pa.array(
                    [None if v is None or v != v else str(v) for v in values], pa.string()
                )
        ext = rows["extension"].tolist() if n else []
        for i, col in enumerate(EXTENSION_COLUMNS[cloud]):
            if col == "x_BilledCostInUsd":
                columns[col] = pa.array(rows["BilledCost"].astype(np.int64) / 1e9, pa.float64())
            elif col == "x_ExportTime":
                columns[col] = pa.array(
                    [f"{(d + dt.timedelta(days=1)).isoformat()}T06:00:00Z" for d in rows["date"]],
                    pa.string(),
                )
            elif col == "x_Discounts":
                columns[col] = pa.array([None] * n, pa.string())
            else:
                j = i - 1 if cloud == "aws" else i
                columns[col] = pa.array([e[j] if len(e) > j else None for e in ext], pa.string())
        return pa.table(columns)


def focus_world(world: World) -> FocusWorld:
    """The (cached) cloud estate of a world."""
    cached = getattr(world, "_focus_world", None)
    if cached is None:
        cached = FocusWorld(world)
        world._focus_world = cached
    return cached


def _truth(world: World, first: int, last: int) -> pd.DataFrame:
    return focus_world(world).truth(first, last)


register_truth(PROVIDER, _truth)


def _csv_text(table: pa.Table) -> str:
    """CSV text of a table: empty field for null, numbers in shortest round-trip form."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.column_names)
    cols = [c.to_pylist() for c in table.columns]
    for row in zip(*cols, strict=True):
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def write_focus_exports(
    world: World, directory: str | Path, *, run: int = 1, months: list[str] | None = None
) -> list[Path]:
    """Write the three clouds' FOCUS exports of `world` under `directory` (the `focus` folder).

    One delivery per cloud and billing month (`months` = `YYYY-MM` to write, default all).
    `run` numbers a re-delivery: AWS and GCP overwrite the month's files in place, Azure
    writes a new run folder beside the old one (the newest run of a month is the truth).
    """
    fw = focus_world(world)
    directory = Path(directory)
    written: list[Path] = []
    frame = fw.frame.assign(month=[d.strftime("%Y-%m") for d in fw.frame["date"]])
    for (cloud, month), rows in frame.groupby(["cloud", "month"], sort=True):
        if months is not None and month not in months:
            continue
        table = fw.export_table(cloud, rows.reset_index(drop=True))
        first = dt.date.fromisoformat(f"{month}-01")
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        if cloud == "aws":
            folder = directory / "aws" / EXPORT_NAME / "data" / f"BILLING_PERIOD={month}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{EXPORT_NAME}-00001.snappy.parquet"
            pq.write_table(table, path, compression="snappy")
        elif cloud == "azure":
            period = f"{first:%Y%m%d}-{last:%Y%m%d}"
            run_id = hashlib.sha1(f"{world.seed}:{month}:{run}".encode()).hexdigest()
            run_id = f"{run_id[:8]}-{run_id[8:12]}-{run_id[12:16]}-{run_id[16:20]}-{run_id[20:32]}"
            folder = directory / "azure" / EXPORT_NAME / period / run_id
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "part_0_0001.csv.gz"
            with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
                fh.write(_csv_text(table))
            manifest = {
                "manifestVersion": "2024-04-01",
                "exportConfig": {"exportName": EXPORT_NAME, "type": "FocusCost",
                                 "dataVersion": "1.2-preview"},
                "runInfo": {"runId": run_id, "submittedTime": f"{month}-01T00:00:{run:02d}Z",
                            "startDate": f"{first}T00:00:00", "endDate": f"{last}T00:00:00"},
                "blobs": [{"blobName": path.name, "dataRowCount": table.num_rows}],
            }
            (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
        else:
            folder = directory / "gcp" / EXPORT_NAME / month
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "focus-000000000000.csv"
            path.write_text(_csv_text(table))
        written.append(path)
    return written


def restate_month(world: World, month: str, factor: float) -> None:
    """A cloud re-delivers a billing month with every usage row of it × `factor` (re-rounded
    on the quantity, so unit price × quantity = cost still holds)."""
    fw = focus_world(world)
    f = fw.frame.copy()
    in_month = np.array([d.strftime("%Y-%m") == month for d in f["date"]])
    usage = in_month & (f["ChargeCategory"] == "Usage").to_numpy()
    q3 = np.maximum(1, np.rint(f.loc[usage, "PricingQuantity"].to_numpy(float) * factor))
    q3 = q3.astype(np.int64)
    f.loc[usage, "PricingQuantity"] = q3
    f.loc[usage, "ConsumedQuantity"] = q3
    f.loc[usage, "ListCost"] = f.loc[usage, "ListUnitPrice"].to_numpy(np.int64) * q3
    contracted = f.loc[usage, "ContractedUnitPrice"].to_numpy(np.int64) * q3
    for col in ("ContractedCost", "BilledCost", "EffectiveCost"):
        f.loc[usage, col] = contracted
    fw.frame = f
