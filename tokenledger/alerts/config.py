"""Alert channels from one file: `alerts.toml` (path in TOKENLEDGER_ALERTS_CONFIG).

Grain: one `Channel` per `[channels.<name>]` table. Secrets (a Slack webhook URL, an HMAC
secret, an SMTP password) are never written in the file: the file names the environment
variable that holds them (`url_env`, `secret_env`, `password_env`), read when a message is
sent. Every validation error names the channel and the field. See `alerts.example.toml`.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

CONFIG_ENV = "TOKENLEDGER_ALERTS_CONFIG"
DEFAULT_CONFIG_PATH = "alerts.toml"
CHANNEL_TYPES = ("slack", "webhook", "email")
KINDS = ("anomaly", "quality", "budget", "api_key")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# fields each channel type accepts (besides the common ones)
_COMMON = {"type", "min_impact_usd", "kinds"}
_FIELDS = {
    "slack": {"url_env"},
    "webhook": {"url", "url_env", "secret_env"},
    "email": {
        "host",
        "port",
        "from",
        "to",
        "starttls",
        "ssl",
        "username",
        "password_env",
    },
}
_SECRET_INLINE = {
    "url": "put the URL in an environment variable and name it in url_env",
    "secret": "put the secret in an environment variable and name it in secret_env",
    "password": "put the password in an environment variable and name it in password_env",
}


class AlertConfigError(ValueError):
    """The alerts file is missing, unreadable or invalid; the message names channel and field."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one run tries one delivery before recording it as failed (retried next run)."""

    attempts: int = 4
    backoff_seconds: float = 1.0
    max_delay_seconds: float = 30.0
    timeout_seconds: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1`: Retry-After if given, else exponential
        backoff (1, 2, 4 … × backoff_seconds); never more than max_delay_seconds."""
        wanted = (
            retry_after if retry_after is not None else self.backoff_seconds * 2 ** (attempt - 1)
        )
        return max(0.0, min(wanted, self.max_delay_seconds))


@dataclass(frozen=True)
class Channel:
    """One place alerts go. `settings` holds the type's fields, never a secret's value."""

    name: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    min_impact_usd: float = 0.0
    kinds: tuple[str, ...] = KINDS

    def env_value(self, key: str) -> str | None:
        """The value of the environment variable named by setting `key` (e.g. `url_env`)."""
        name = self.settings.get(key)
        return os.environ.get(name) if name else None

    def require_env(self, key: str) -> str:
        """Like `env_value`, but a missing or empty variable is an AlertConfigError."""
        value = self.env_value(key)
        if not value:
            raise AlertConfigError(
                f"channel {self.name!r}: {key} names environment variable "
                f"{self.settings.get(key)!r}, which is not set"
            )
        return value

    def url(self) -> str:
        """The endpoint of a slack/webhook channel (from url_env, or url for a webhook)."""
        if self.settings.get("url_env"):
            return self.require_env("url_env")
        return self.settings["url"]

    def secrets(self) -> list[str]:
        """Every secret value this channel uses right now (to scrub from error text)."""
        out = []
        for key in ("url_env", "secret_env", "password_env"):
            value = self.env_value(key)
            if value:
                out.append(value)
                if key == "url_env":  # a server may echo only the path (a Slack token is in it)
                    out += _url_parts(value)
        return out


def _url_parts(url: str) -> list[str]:
    """The secret-bearing parts of a URL: path, query, password and long path segments."""
    parts = urlsplit(url)
    out = [p for p in (parts.path, parts.query, parts.password) if p and len(p) > 1]
    out += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    return out


@dataclass(frozen=True)
class AlertsConfig:
    """The channels of `alerts.toml` plus the retry policy; `source` is where it was read."""

    channels: tuple[Channel, ...] = ()
    retry: RetryPolicy = RetryPolicy()
    source: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.channels)


def _fail(where: str, message: str) -> AlertConfigError:
    return AlertConfigError(f"{where}: {message}")


def _number(where: str, key: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _fail(where, f"{key} must be a number ≥ {minimum:g}, got {value!r}")
    return float(value)


def _env_name(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise _fail(
            where,
            f"{key} must be the NAME of an environment variable (like SLACK_WEBHOOK_URL), "
            "not its value",
        )
    return value


def _parse_channel(name: str, raw: Any) -> Channel:
    where = f"channel {name!r}"
    if not _NAME.match(name):
        raise _fail(where, "channel names use letters, digits, '_', '-' and '.' (≤ 64)")
    if not isinstance(raw, dict):
        raise _fail(where, "must be a table ([channels.<name>])")
    ctype = raw.get("type")
    if ctype not in CHANNEL_TYPES:
        raise _fail(where, f"type must be one of {', '.join(CHANNEL_TYPES)}; got {ctype!r}")
    allowed = _COMMON | _FIELDS[ctype]
    for key in raw:
        if key in _SECRET_INLINE and key not in allowed:
            raise _fail(where, f"{key} is not allowed inline: {_SECRET_INLINE[key]}")
        if key not in allowed:
            raise _fail(
                where, f"unknown field {key!r} for type {ctype} (allowed: {sorted(allowed)})"
            )
    settings = {k: v for k, v in raw.items() if k not in _COMMON}
    for key in ("url_env", "secret_env", "password_env"):
        if key in settings:
            _env_name(where, key, settings[key])
    if ctype == "slack" and "url_env" not in settings:
        raise _fail(where, "url_env is required (a Slack webhook URL is a secret)")
    if ctype == "webhook":
        if ("url" in settings) == ("url_env" in settings):
            raise _fail(where, "give exactly one of url or url_env")
        if "url" in settings and (
            not isinstance(settings["url"], str)
            or not settings["url"].startswith(("http://", "https://"))
        ):
            raise _fail(where, f"url must be an http(s) URL, got {settings['url']!r}")
        if "secret_env" not in settings:
            raise _fail(where, "secret_env is required (webhook bodies are HMAC-signed)")
    if ctype == "email":
        for key in ("host", "from"):
            if not isinstance(settings.get(key), str) or not settings[key]:
                raise _fail(where, f"{key} is required (a non-empty string)")
        to = settings.get("to")
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not to or not all(isinstance(t, str) and t for t in to):
            raise _fail(where, "to is required (an address or a list of addresses)")
        settings["to"] = to
        port = settings.get("port", 587)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise _fail(where, f"port must be an integer 1–65535, got {port!r}")
        settings["port"] = port
        for key in ("starttls", "ssl"):
            if not isinstance(settings.get(key, False), bool):
                raise _fail(where, f"{key} must be true or false")
        settings.setdefault("starttls", port == 587)
        settings.setdefault("ssl", port == 465)
        if settings["starttls"] and settings["ssl"]:
            raise _fail(where, "starttls and ssl are exclusive")
        if ("username" in settings) != ("password_env" in settings):
            raise _fail(where, "username and password_env go together")
    min_impact = _number(where, "min_impact_usd", raw.get("min_impact_usd", 0.0))
    kinds = raw.get("kinds", list(KINDS))
    if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
        raise _fail(where, f"kinds must be a non-empty list of {list(KINDS)}, got {kinds!r}")
    return Channel(name, ctype, settings, min_impact, tuple(kinds))


def parse_config(data: dict[str, Any], source: str | None = None) -> AlertsConfig:
    """Validate the parsed TOML of an alerts file."""
    unknown = set(data) - {"channels", "retry"}
    if unknown:
        raise AlertConfigError(
            f"unknown top-level section(s) {sorted(unknown)} (use channels, retry)"
        )
    channels = data.get("channels", {})
    if not isinstance(channels, dict):
        raise AlertConfigError("channels must be tables: [channels.<name>]")
    raw_retry = data.get("retry", {})
    if not isinstance(raw_retry, dict):
        raise AlertConfigError("retry must be a table: [retry]")
    extra = set(raw_retry) - {"attempts", "backoff_seconds", "max_delay_seconds", "timeout_seconds"}
    if extra:
        raise _fail("retry", f"unknown field(s) {sorted(extra)}")
    attempts = raw_retry.get("attempts", RetryPolicy.attempts)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise _fail("retry", f"attempts must be an integer 1–10, got {attempts!r}")
    retry = RetryPolicy(
        attempts=attempts,
        backoff_seconds=_number("retry", "backoff_seconds", raw_retry.get("backoff_seconds", 1.0)),
        max_delay_seconds=_number(
            "retry", "max_delay_seconds", raw_retry.get("max_delay_seconds", 30.0)
        ),
        timeout_seconds=_number(
            "retry", "timeout_seconds", raw_retry.get("timeout_seconds", 10.0), minimum=0.1
        ),
    )
    parsed = tuple(_parse_channel(name, raw) for name, raw in channels.items())
    return AlertsConfig(parsed, retry, source)


def load_config(path: str | Path | None = None) -> AlertsConfig:
    """The alerts configuration: `path`, else TOKENLEDGER_ALERTS_CONFIG, else ./alerts.toml.

    No file at the default place means alerts are off (an empty config and one info line); a
    path given explicitly (argument or env var) that does not exist is an error.
    """
    explicit = path if path is not None else os.environ.get(CONFIG_ENV) or None
    where = Path(explicit if explicit is not None else DEFAULT_CONFIG_PATH)
    if not where.exists():
        if explicit is not None:
            raise AlertConfigError(f"alerts config {where} does not exist ({CONFIG_ENV})")
        log.info(
            "alerts disabled: no %s in %s (set %s)", DEFAULT_CONFIG_PATH, Path.cwd(), CONFIG_ENV
        )
        return AlertsConfig()
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AlertConfigError(f"alerts config {where}: not valid TOML ({exc})") from exc
    try:
        return parse_config(data, str(where))
    except AlertConfigError as exc:
        raise AlertConfigError(f"alerts config {where}: {exc}") from exc


def resolve_config(config: AlertsConfig | str | Path | dict | None) -> AlertsConfig:
    """An AlertsConfig as given, loaded from a path, parsed from a dict, or the default file."""
    if isinstance(config, AlertsConfig):
        return config
    if isinstance(config, dict):
        return parse_config(config)
    return load_config(config)
