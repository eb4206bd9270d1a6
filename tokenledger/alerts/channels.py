"""Delivery to one channel: Slack incoming webhook, HMAC-signed JSON webhook, SMTP email.

Each delivery is tried up to `RetryPolicy.attempts` times in one run, with exponential backoff;
HTTP 408/429/5xx, connection errors and SMTP 4xx replies are retried (a `Retry-After` header is
honoured, capped at `max_delay_seconds`); other 4xx replies and SMTP 5xx replies are not. The
error text is scrubbed of every secret the channel uses (webhook URL, HMAC secret, password)
before it is returned, so it may go to a log or the ledger.

Verifying a webhook (receiver side): recompute `HMAC-SHA256(secret, raw body bytes)` and compare
it, in constant time, with the hex after `sha256=` in `X-Tokenledger-Signature`; then check that
`X-Tokenledger-Timestamp` equals the body's `timestamp` and is recent (e.g. within 5 minutes),
and drop repeats of an `alert_key` you already handled. `verify_signature` does all of it.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from tokenledger.alerts.config import AlertConfigError, Channel, RetryPolicy
from tokenledger.alerts.messages import Alert, email_bodies, slack_payload, webhook_payload

SIGNATURE_HEADER = "X-Tokenledger-Signature"
TIMESTAMP_HEADER = "X-Tokenledger-Timestamp"
USER_AGENT = "tokenledger-alerts/1"
MAX_ERROR_CHARS = 500

_sleep = time.sleep  # tests replace it to record the backoff without waiting


@dataclass(frozen=True)
class Delivery:
    """The outcome of delivering one alert to one channel in this run."""

    ok: bool
    attempts: int
    error: str | None = None


class DeliveryFailed(Exception):
    """One attempt failed; `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


# ---------------------------------------------------------------------- signing
def sign_body(secret: str | bytes, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the shared secret."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> bool:
    """What a receiver does: the signature matches the body, the timestamp header matches the
    body's `timestamp`, and it is within `tolerance_seconds` of now (no replays)."""
    if not signature or not timestamp:
        return False
    if not hmac.compare_digest(sign_body(secret, body), signature):
        return False
    try:
        sent = int(timestamp)
        in_body = json.loads(body)["timestamp"]
    except (ValueError, KeyError, TypeError):
        return False
    if in_body != sent:
        return False
    return abs((time.time() if now is None else now) - sent) <= tolerance_seconds


# ---------------------------------------------------------------------- transports
def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in {"Content-Type": "application/json", "User-Agent": USER_AGENT}.items():
        request.add_header(name, value)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        code = exc.code
        try:
            reason = exc.read(200).decode("utf-8", "replace").strip()
        except OSError:
            reason = ""
        retryable = code in (408, 429) or code >= 500
        raise DeliveryFailed(
            f"HTTP {code}" + (f": {reason}" if reason else ""),
            retryable,
            _retry_after(exc.headers.get("Retry-After")) if retryable else None,
        ) from None
    except urllib.error.URLError as exc:
        raise DeliveryFailed(f"connection failed: {exc.reason}", True) from None
    except (TimeoutError, OSError) as exc:
        raise DeliveryFailed(f"connection failed: {type(exc).__name__}: {exc}", True) from None


def send_slack(channel: Channel, alert: Alert, policy: RetryPolicy) -> None:
    body = json.dumps(slack_payload(alert)).encode()
    _post(channel.url(), body, {}, policy.timeout_seconds)


def send_webhook(channel: Channel, alert: Alert, policy: RetryPolicy) -> None:
    secret = channel.require_env("secret_env")
    timestamp = int(time.time())
    body = json.dumps(webhook_payload(alert, timestamp), sort_keys=True).encode()
    headers = {
        SIGNATURE_HEADER: sign_body(secret, body),
        TIMESTAMP_HEADER: str(timestamp),
        "Idempotency-Key": alert.key,
    }
    _post(channel.url(), body, headers, policy.timeout_seconds)


def send_email(channel: Channel, alert: Alert, policy: RetryPolicy) -> None:
    s = channel.settings
    password = channel.require_env("password_env") if s.get("username") else None
    subject, text, body_html = email_bodies(alert)
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = s["from"]
    msg["To"] = ", ".join(s["to"])
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = email.utils.make_msgid(domain="tokenledger")
    msg["X-Tokenledger-Alert-Key"] = alert.key
    msg.set_content(text)
    msg.add_alternative(body_html, subtype="html")
    try:
        if s["ssl"]:
            smtp = smtplib.SMTP_SSL(
                s["host"],
                s["port"],
                timeout=policy.timeout_seconds,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(s["host"], s["port"], timeout=policy.timeout_seconds)
        with smtp:
            if s["starttls"]:
                smtp.starttls(context=ssl.create_default_context())
            if password is not None:
                smtp.login(s["username"], password)
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryFailed(
            f"SMTP recipients refused: {', '.join(map(str, codes))}",
            all(400 <= c < 500 for c in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        message = exc.smtp_error
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise DeliveryFailed(
            f"SMTP {exc.smtp_code}: {message}", 400 <= exc.smtp_code < 500
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryFailed(f"SMTP: {exc}", False) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP connection failed: {type(exc).__name__}: {exc}", True) from None


SENDERS = {"slack": send_slack, "webhook": send_webhook, "email": send_email}


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by `***` (longest first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def deliver(channel: Channel, alert: Alert, policy: RetryPolicy) -> Delivery:
    """Deliver one alert to one channel, retrying transient failures (see module doc)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            SENDERS[channel.type](channel, alert, policy)
            return Delivery(True, attempt)
        except AlertConfigError as exc:  # e.g. the secret's env var is not set
            return Delivery(False, attempt, redact(str(exc), channel.secrets()))
        except DeliveryFailed as exc:
            error = redact(str(exc), channel.secrets())[:MAX_ERROR_CHARS]
            if not exc.retryable or attempt >= policy.attempts:
                return Delivery(False, attempt, error)
            _sleep(policy.delay(attempt, exc.retry_after))
