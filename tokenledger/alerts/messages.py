"""What an alert says: one `Alert` per anomaly episode or quality-gate failure, rendered for
Slack (text + blocks), a JSON webhook (a versioned payload) and email (plain text + HTML).

Grain: one Alert per episode (`alert_key = anomaly:<episode_id>`, stable across re-runs) or
per quality-gate failure (`quality:<check>:<hash of detail or batch id>`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PAYLOAD_VERSION = 1
MAX_DETAIL_CHARS = 2000

# episode columns shown as labelled fields, in this order, when present and not null
_FIELD_LABELS = (
    ("team", "Team"),
    ("provider", "Provider"),
    ("sub_account_name", "Project / workspace"),
    ("sub_account_id", "Project / workspace id"),
    ("api_key_id", "API key"),
    ("model", "Model"),
    ("token_type", "Token type"),
    ("feature", "Feature"),
    ("prompt_template", "Prompt template"),
)


@dataclass(frozen=True)
class Alert:
    """One message, before rendering. `fields` are (label, value) pairs shown under the text;
    `data` is the machine-readable part of the webhook payload."""

    key: str
    kind: str  # anomaly | quality | test
    title: str
    text: str
    fields: tuple[tuple[str, str], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    impact_usd: float | None = None


# ---------------------------------------------------------------------- helpers
def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value)) or value != value
    except (TypeError, ValueError):
        return False


def json_safe(value: Any) -> Any:
    """A JSON-serialisable copy of a value from a pandas row (numpy scalars, dates, NaN)."""
    if _is_missing(value):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return json_safe(value.item())
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _as_dict(episode: Any) -> dict[str, Any]:
    if isinstance(episode, Mapping):
        return dict(episode)
    if hasattr(episode, "_asdict"):  # itertuples()
        return dict(episode._asdict())
    if hasattr(episode, "to_dict"):  # a pandas Series (iterrows)
        return dict(episode.to_dict())
    raise TypeError(f"an episode must be a mapping or a DataFrame row, got {type(episode)}")


def money(amount: float) -> str:
    """$1,234.56 (cents below $10,000, whole dollars above)."""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    return f"{sign}${amount:,.0f}" if amount >= 10_000 else f"{sign}${amount:,.2f}"


def _day(value: Any) -> str:
    if _is_missing(value):
        return "?"
    if isinstance(value, str):
        return value[:10]
    if hasattr(value, "date") and callable(value.date):
        value = value.date()
    return value.isoformat()


def describe_series(ep: Mapping[str, Any]) -> str:
    """`api_key openai/key_abc` from series_id `api_key:openai/key_abc` (level and value)."""
    series_id = str(ep.get("series_id") or "")
    level, _, value = series_id.partition(":")
    if not value:
        return series_id or "spend"
    return f"{level.replace('_', ' ')} {value}"


# ---------------------------------------------------------------------- builders
def _signed(impact: float) -> str:
    return ("+" if impact >= 0 else "-") + money(abs(impact))


def anomaly_alert(episode: Any, related: tuple[Any, ...] = ()) -> Alert:
    """The alert of one anomaly episode (a row of `detect_from_warehouse`); `related` are the
    episodes the same incident raised on other series (listed, not alerted on their own)."""
    ep = _as_dict(episode)
    others = [_as_dict(r) for r in related]
    days = int(ep.get("days") or 1)
    expected = float(ep.get("expected_cost") or 0.0) / days
    actual = float(ep.get("actual_cost") or 0.0) / days
    impact = float(ep.get("impact") or 0.0)
    status = str(ep.get("status") or "new")
    start, end = _day(ep.get("start_date")), _day(ep.get("end_date"))
    verb = "rose" if impact >= 0 else "fell"
    if status == "resolved":
        when = f"on {start}" if start == end else f"from {start} to {end}"
        when += " (resolved)"
    else:
        when = f"since {start}"
    signed = _signed(impact)
    series = describe_series(ep)
    text = (
        f"Spend anomaly: {series} {verb} from {money(expected)}/day to {money(actual)}/day "
        f"{when} ({signed})"
    )
    share = ep.get("root_cause_share")
    dim, val = ep.get("root_cause_dimension"), ep.get("root_cause_value")
    if not _is_missing(dim) and not _is_missing(val) and not _is_missing(share):
        text += f"; largest contributor: {dim}={val} ({float(share) * 100:.0f}% of the change)"
    fields = [
        (label, str(json_safe(ep[col])))
        for col, label in _FIELD_LABELS
        if col in ep and not _is_missing(ep[col])
    ]
    for col, label in (("model", "Models"), ("api_key_id", "API keys")):
        if col in ep and not _is_missing(ep[col]):
            continue
        values = sorted({str(o[col]) for o in others if not _is_missing(o.get(col))})
        if values:
            fields.append((label, ", ".join(values[:5]) + (" …" if len(values) > 5 else "")))
    if others:
        shown = [f"{describe_series(o)} ({_signed(float(o.get('impact') or 0))})" for o in others]
        more = f"; and {len(shown) - 6} more" if len(shown) > 6 else ""
        fields.append(("Also seen on", "; ".join(shown[:6]) + more))
    fields.append(("Status", f"{status}, {days} day{'s' if days != 1 else ''}"))
    key = f"anomaly:{ep['episode_id']}"
    data = {k: json_safe(v) for k, v in ep.items()}
    data["related"] = [
        {k: json_safe(o.get(k)) for k in ("episode_id", "series_id", "impact")} for o in others
    ]
    return Alert(
        key=key,
        kind="anomaly",
        title=f"Spend anomaly: {series} {signed}",
        text=text,
        fields=tuple(fields),
        data=data,
        impact_usd=impact,
    )


def quality_alert(check_name: str, detail: str, batch_id: str | None = None) -> Alert:
    """The alert of one quality-gate failure. Its key is the check plus `batch_id` when
    given, else a hash of `detail`: the same failure reported again is not re-sent."""
    detail = str(detail)
    ident = batch_id if batch_id is not None else hashlib.sha256(detail.encode()).hexdigest()[:16]
    shown = detail if len(detail) <= MAX_DETAIL_CHARS else detail[:MAX_DETAIL_CHARS] + "…"
    fields = [("Check", check_name)]
    if batch_id is not None:
        fields.append(("Batch", str(batch_id)))
    return Alert(
        key=f"quality:{check_name}:{ident}",
        kind="quality",
        title=f"Quality gate failed: {check_name}",
        text=f"Quality gate failed: {check_name}: {shown}",
        fields=tuple(fields),
        data={"check_name": check_name, "detail": detail, "batch_id": batch_id},
    )


def channel_test_alert(channel_name: str) -> Alert:
    """The message `tokenledger alerts test` sends (never recorded in the ledger)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return Alert(
        key=f"test:{channel_name}:{now}",
        kind="test",
        title="tokenledger test alert",
        text=f"tokenledger test alert: channel {channel_name!r} is configured correctly ({now}).",
        fields=(("Channel", channel_name),),
        data={"channel": channel_name},
    )


# ---------------------------------------------------------------------- renderers
def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack incoming-webhook body: `text` (notification fallback) plus Block Kit blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(alert.text)[:3000]}}
    ]
    if alert.fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)}"[:2000]}
                    for label, value in alert.fields[:10]
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"tokenledger · {_slack_escape(alert.key)}"}],
        }
    )
    return {"text": alert.text, "blocks": blocks}


def webhook_payload(alert: Alert, timestamp: int) -> dict[str, Any]:
    """The JSON webhook body; `timestamp` equals the X-Tokenledger-Timestamp header."""
    return {
        "type": f"tokenledger.{alert.kind}",
        "version": PAYLOAD_VERSION,
        "alert_key": alert.key,
        "timestamp": timestamp,
        "title": alert.title,
        "text": alert.text,
        "fields": {label: value for label, value in alert.fields},
        "data": alert.data,
    }


def email_bodies(alert: Alert) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the email of an alert."""
    subject = f"[tokenledger] {alert.title}"
    lines = [alert.text, ""]
    lines += [f"{label}: {value}" for label, value in alert.fields]
    lines += ["", f"alert key: {alert.key}"]
    rows = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in alert.fields
    )
    body_html = (
        "<html><body>"
        f"<p>{html.escape(alert.text)}</p>"
        f"<table cellpadding='4'>{rows}</table>"
        f"<p style='color:#888'>tokenledger · {html.escape(alert.key)}</p>"
        "</body></html>"
    )
    return subject, "\n".join(lines) + "\n", body_html
