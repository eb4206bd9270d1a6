"""Governance: budgets with period-end forecasts, spend limits, API-key inventory and findings.

Seeds (`seeds/budgets.csv`, `seeds/api_key_owners.csv`, `seeds/spend_limits.csv`) are checked
first (`SeedError` names every bad row); `run_governance(warehouse)` publishes
`marts.fct_budget_status`, `marts.dim_api_keys` and `marts.fct_key_findings` and sends each
alert once through the channels of `alerts.toml`.
"""

from tokenledger.governance.run import GovernanceResult, run_governance
from tokenledger.governance.seeds import SeedError, load_seeds

__all__ = ["GovernanceResult", "SeedError", "load_seeds", "run_governance"]
