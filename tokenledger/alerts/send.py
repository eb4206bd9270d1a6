"""Entry points: send anomaly and quality-gate alerts once per incident and channel.

Grain of the result: one `AlertResult` per alert and channel considered in this call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tokenledger.alerts.channels import deliver
from tokenledger.alerts.config import AlertsConfig, Channel, resolve_config
from tokenledger.alerts.grouping import group_episodes_by_incident
from tokenledger.alerts.ledger import AlertLedger, open_ledger
from tokenledger.alerts.messages import Alert, anomaly_alert, channel_test_alert, quality_alert

log = logging.getLogger(__name__)

SENT = "sent"
FAILED = "failed"
GROUPED = "grouped"
ALREADY_SENT = "already_sent"
BELOW_THRESHOLD = "below_threshold"


@dataclass(frozen=True)
class AlertResult:
    """What happened to one alert on one channel in this call.

    `status`: `sent` (delivered now), `failed` (recorded; retried on the next call),
    `already_sent` (delivered by an earlier run — this alert or a related episode's — not
    repeated) or `below_threshold` (|impact|
    under the channel's `min_impact_usd`). `attempts` counts this call's tries only.
    """

    alert_key: str
    channel: str
    status: str
    attempts: int = 0
    error: str | None = None
    title: str = ""


def _records(episodes: Any) -> list[dict[str, Any]]:
    if episodes is None:
        return []
    if hasattr(episodes, "to_dict") and hasattr(episodes, "columns"):  # a DataFrame
        return episodes.to_dict("records")
    return [dict(e) if not hasattr(e, "_asdict") else e._asdict() for e in episodes]


def _config(config: Any) -> AlertsConfig | None:
    cfg = resolve_config(config)
    if not cfg.enabled:
        if cfg.source is not None:
            log.info("alerts disabled: %s lists no channels", cfg.source)
        return None
    return cfg


def _send_once(
    ledger: AlertLedger, cfg: AlertsConfig, alert: Alert, covers: tuple[str, ...] = ()
) -> list[AlertResult]:
    results = []
    for channel in cfg.channels:
        if alert.kind not in channel.kinds:
            continue
        results.append(_send_to_channel(ledger, cfg, channel, alert, covers))
    return results


def _send_to_channel(
    ledger: AlertLedger,
    cfg: AlertsConfig,
    channel: Channel,
    alert: Alert,
    covers: tuple[str, ...] = (),
) -> AlertResult:
    """Deliver `alert` unless it (or one of the related alert keys it `covers`) already went to
    this channel; the covered keys are recorded as `grouped` once one of them is delivered."""
    if alert.impact_usd is not None and abs(alert.impact_usd) < channel.min_impact_usd:
        return AlertResult(alert.key, channel.name, BELOW_THRESHOLD, title=alert.title)
    keys = (alert.key, *covers)
    before = {key: ledger.get(key, channel.name) for key in keys}
    done_before = [k for k, row in before.items() if row and row.status in (SENT, GROUPED)]
    if done_before:
        for key, row in before.items():
            if row is None or row.status == FAILED:
                ledger.record(
                    key,
                    channel.name,
                    alert.kind,
                    f"grouped with {done_before[0]}",
                    GROUPED,
                    0,
                    None,
                )
        return AlertResult(alert.key, channel.name, ALREADY_SENT, title=alert.title)
    done = deliver(channel, alert, cfg.retry)
    ledger.record(
        alert.key,
        channel.name,
        alert.kind,
        alert.title,
        SENT if done.ok else FAILED,
        done.attempts,
        done.error,
    )
    if done.ok:
        for key in covers:
            ledger.record(
                key, channel.name, alert.kind, f"grouped with {alert.key}", GROUPED, 0, None
            )
        log.info(
            "alert %s sent to channel %s (%d attempt(s))", alert.key, channel.name, done.attempts
        )
        return AlertResult(alert.key, channel.name, SENT, done.attempts, title=alert.title)
    log.warning(
        "alert %s to channel %s failed after %d attempt(s): %s (retried on the next run)",
        alert.key,
        channel.name,
        done.attempts,
        done.error,
    )
    return AlertResult(alert.key, channel.name, FAILED, done.attempts, done.error, alert.title)


def incident_groups(episodes: Any, group_related: bool = True) -> list[tuple[dict, tuple]]:
    """(lead episode, related episodes) per incident, largest first; episode ids deduplicated."""
    unique: dict[str, dict[str, Any]] = {}
    for episode in _records(episodes):
        unique.setdefault(str(episode["episode_id"]), episode)
    records = list(unique.values())
    if group_related:
        return [(g.lead, g.related) for g in group_episodes_by_incident(records)]
    return [(episode, ()) for episode in records]


def incident_alerts(episodes: Any) -> list[Alert]:
    """The alert of every anomaly incident, largest first: what the channels would receive
    (the CLI and the demo print these)."""
    return [anomaly_alert(lead, related) for lead, related in incident_groups(episodes)]


def send_anomaly_alerts(
    con_or_warehouse: Any,
    episodes: Any,
    config: Any = None,
    *,
    statuses: Iterable[str] | None = None,
    group_related: bool = True,
) -> list[AlertResult]:
    """One alert per anomaly incident and channel, never repeated once delivered.

    `con_or_warehouse`: a writable DuckDB/psycopg2 connection, a `Warehouse`, a DuckDB path or
    None (the configured warehouse) — where `alerts.sent_alerts` lives. `episodes`: the
    DataFrame of `detect_from_warehouse` (or an iterable of mappings with its columns).
    `config`: an `AlertsConfig`, a path to an alerts TOML, a dict, or None (the file of
    TOKENLEDGER_ALERTS_CONFIG, default ./alerts.toml; no file = alerts off, returns []).
    `statuses`: only episodes with these statuses get a first alert (default: all of
    new/ongoing/resolved); an episode whose earlier delivery failed is retried whatever its
    status now. `group_related`: the episodes one incident raises on several series (its key,
    project, provider, models) make one alert, led by the largest (see `alerts.grouping`);
    False = one alert per episode.
    """
    cfg = _config(config)
    groups = incident_groups(episodes, group_related) if cfg is not None else []
    if not groups:
        return []
    wanted = set(statuses) if statuses is not None else None
    results: list[AlertResult] = []
    with open_ledger(con_or_warehouse) as ledger:
        pending = ledger.pending_keys("anomaly") if wanted is not None else set()
        for lead, related in groups:
            alert = anomaly_alert(lead, related)
            covers = tuple(f"anomaly:{r['episode_id']}" for r in related)
            if wanted is not None:
                members = (lead, *related)
                is_wanted = any(m.get("status") in wanted for m in members)
                if not is_wanted and not pending.intersection((alert.key, *covers)):
                    continue
            results.extend(_send_once(ledger, cfg, alert, covers))
    return results


def send_quality_alert(
    con_or_warehouse: Any,
    check_name: str,
    detail: str,
    config: Any = None,
    *,
    batch_id: str | None = None,
) -> list[AlertResult]:
    """One alert per quality-gate failure and channel, never repeated once delivered.

    The failure is identified by `check_name` plus `batch_id` (e.g. the run's partition or
    load id) when given, else by the text of `detail`; the same failure reported by a re-run
    is not sent again, a failed delivery is retried by the next call with the same failure.
    """
    cfg = _config(config)
    if cfg is None:
        return []
    alert = quality_alert(check_name, detail, batch_id)
    with open_ledger(con_or_warehouse) as ledger:
        return _send_once(ledger, cfg, alert)


def send_test_alerts(config: Any = None) -> list[AlertResult]:
    """Send a test message to every configured channel (not recorded in the ledger)."""
    cfg = resolve_config(config)
    results = []
    for channel in cfg.channels:
        alert = channel_test_alert(channel.name)
        done = deliver(channel, alert, cfg.retry)
        status = SENT if done.ok else FAILED
        if not done.ok:
            log.warning("test alert to channel %s failed: %s", channel.name, done.error)
        results.append(
            AlertResult(alert.key, channel.name, status, done.attempts, done.error, alert.title)
        )
    return results
