"""Alerts: anomaly episodes and quality-gate failures to Slack, signed JSON webhooks and email.

Configured in one file (`alerts.toml`, see `alerts.example.toml`); one alert per anomaly episode
or quality-gate failure and channel, retried on failure, never repeated once delivered (ledger:
`alerts.sent_alerts` in the warehouse).
"""

from tokenledger.alerts.channels import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_body,
    verify_signature,
)
from tokenledger.alerts.config import (
    CONFIG_ENV,
    AlertConfigError,
    AlertsConfig,
    Channel,
    RetryPolicy,
    load_config,
)
from tokenledger.alerts.ledger import TABLE as LEDGER_TABLE
from tokenledger.alerts.ledger import AlertLedger, open_ledger
from tokenledger.alerts.messages import Alert, anomaly_alert, quality_alert
from tokenledger.alerts.send import (
    AlertResult,
    incident_alerts,
    send_anomaly_alerts,
    send_quality_alert,
    send_test_alerts,
)

__all__ = [
    "CONFIG_ENV",
    "LEDGER_TABLE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Alert",
    "AlertConfigError",
    "AlertLedger",
    "AlertResult",
    "incident_alerts",
    "AlertsConfig",
    "Channel",
    "RetryPolicy",
    "anomaly_alert",
    "load_config",
    "open_ledger",
    "quality_alert",
    "send_anomaly_alerts",
    "send_quality_alert",
    "send_test_alerts",
    "sign_body",
    "verify_signature",
]
