"""Alerts against real receivers on loopback: an HTTP server (Slack + signed JSON webhook) and an
SMTP server (aiosmtpd). One message per episode, nothing new on a re-run, retries within a run
and on the next run, signatures a receiver can verify, secrets kept out of logs and the ledger.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pandas as pd
import pytest

from tokenledger.alerts import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertConfigError,
    load_config,
    send_anomaly_alerts,
    send_quality_alert,
    verify_signature,
)
from tokenledger.alerts import channels as channels_module

SLACK_PATH = "/services/T0001/B0002/slacksecrettoken123"
WEBHOOK_SECRET = "whsec-very-secret-value-42"
SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "smtp-password-do-not-leak"


# ---------------------------------------------------------------------- receivers
class HttpReceiver:
    """Records every POST; `fail[path]` is a list of (status, headers) served before a 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    queue = receiver.fail.get(self.path) or []
                    status, headers = queue.pop(0) if queue else (200, {})
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "status": status,
                        }
                    )
                # an error body that echoes the path (a Slack token is in it): must be scrubbed
                reply = b"ok" if status == 200 else f"error at {self.path}".encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self, path: str) -> list[dict]:
        """The requests on `path` that were answered 200 (what a user would see)."""
        return [r for r in self.requests if r["path"] == path and r["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def http_receiver():
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp_receiver():
    """aiosmtpd on loopback with AUTH (the test credentials); `.messages` are parsed emails."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Handler:
        def __init__(self):
            self.messages = []
            self.logins = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
            return "250 OK"

    handler = Handler()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        handler.logins.append(ok)
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


# ---------------------------------------------------------------------- setup
@pytest.fixture()
def env(monkeypatch, tmp_path):
    """A tmp DuckDB warehouse, secrets in env vars, no sleeping between retries (recorded)."""
    db = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("TOKENLEDGER_WAREHOUSE", "duckdb")
    monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(db))
    monkeypatch.delenv("TOKENLEDGER_ALERTS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    sleeps: list[float] = []
    monkeypatch.setattr(channels_module, "_sleep", sleeps.append)
    return {"db": db, "sleeps": sleeps, "tmp": tmp_path, "mp": monkeypatch}


def _config(env, http_receiver, smtp_receiver, **slack_extra) -> dict:
    env["mp"].setenv("TEST_SLACK_URL", http_receiver.url + SLACK_PATH)
    env["mp"].setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    env["mp"].setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    return {
        "retry": {
            "attempts": 3,
            "backoff_seconds": 0.5,
            "max_delay_seconds": 5,
            "timeout_seconds": 3,
        },
        "channels": {
            "finops-slack": {"type": "slack", "url_env": "TEST_SLACK_URL", **slack_extra},
            "pager-hook": {
                "type": "webhook",
                "url": http_receiver.url + "/hook",
                "secret_env": "TEST_WEBHOOK_SECRET",
            },
            "finops-mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp_receiver.port,
                "starttls": False,
                "from": "tokenledger <alerts@example.com>",
                "to": ["finops@example.com", "search-lead@example.com"],
                "username": SMTP_USER,
                "password_env": "TEST_SMTP_PASSWORD",
            },
        },
    }


def _episode(episode_id: str, status: str = "new", **over) -> dict:
    row = {
        "episode_id": episode_id,
        "series_id": "api_key:openai/key_search_prod",
        "direction": "spike",
        "start_date": dt.date(2025, 3, 4),
        "end_date": dt.date(2025, 3, 6),
        "days": 3,
        "status": status,
        "actual_cost": 7200.0,
        "expected_cost": 360.0,
        "impact": 6840.0,
        "peak_date": dt.date(2025, 3, 5),
        "peak_impact": 2400.0,
        "peak_score": 41.0,
        "level": "api_key",
        "provider": "openai",
        "sub_account_id": "proj_search",
        "api_key_id": "key_search_prod",
        "model": None,
        "token_type": None,
        "root_cause_dimension": "model",
        "root_cause_value": "gpt-4o",
        "root_cause_share": 0.93,
    }
    row.update(over)
    return row


def _episodes(status: str = "new") -> pd.DataFrame:
    return pd.DataFrame(
        [
            _episode("ep_runaway_key", status),
            _episode(
                "ep_cache_drop",
                status,
                series_id="provider:anthropic",
                level="provider",
                provider="anthropic",
                api_key_id=None,
                sub_account_id=None,
                direction="drop",
                actual_cost=90.0,
                expected_cost=300.0,
                impact=-210.0,
                root_cause_dimension="token_type",
                root_cause_value="cache_read",
                root_cause_share=0.81,
            ),
        ]
    )


def _ledger(env) -> pd.DataFrame:
    con = duckdb.connect(str(env["db"]), read_only=True)
    try:
        return con.sql("select * from alerts.sent_alerts order by alert_key, channel").df()
    finally:
        con.close()


def _write_toml(path, channels: dict):
    """An alerts file with these channels (JSON strings, numbers and lists are valid TOML)."""
    lines = []
    for name, fields in channels.items():
        lines.append(f"[channels.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in fields.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _statuses(results) -> dict[tuple[str, str], str]:
    return {(r.alert_key, r.channel): r.status for r in results}


# ---------------------------------------------------------------------- tests
def test_one_message_per_episode_per_channel_and_a_rerun_sends_nothing(
    env, http_receiver, smtp_receiver
):
    config = _config(env, http_receiver, smtp_receiver)
    results = send_anomaly_alerts(None, _episodes("new"), config)

    assert sorted(r.status for r in results) == ["sent"] * 6
    slack = http_receiver.delivered(SLACK_PATH)
    assert len(slack) == 2 and len(http_receiver.delivered("/hook")) == 2
    assert len(smtp_receiver.messages) == 2
    texts = [json.loads(r["body"])["text"] for r in slack]
    assert texts[0] == (
        "Spend anomaly: api key openai/key_search_prod rose from $120.00/day to $2,400.00/day "
        "since 2025-03-04 (+$6,840.00); largest contributor: model=gpt-4o (93% of the change)"
    )
    assert texts[1].startswith("Spend anomaly: provider anthropic fell from $100.00/day to $30.00")
    blocks = json.loads(slack[0]["body"])["blocks"]
    assert blocks[0]["text"]["text"] == texts[0]
    assert any("key_search_prod" in f["text"] for f in blocks[1]["fields"])

    sender, rcpts, msg = smtp_receiver.messages[0]
    assert rcpts == ["finops@example.com", "search-lead@example.com"]
    subject = str(msg["Subject"]).strip()  # a long subject is folded onto the next line
    assert subject.startswith("[tokenledger] Spend anomaly: api key openai/key_search_prod")
    assert msg["X-Tokenledger-Alert-Key"] == "anomaly:ep_runaway_key"
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert texts[0] in plain and "gpt-4o" in html and "<table" in html
    assert smtp_receiver.logins == [True, True]  # AUTH with the password from the env var

    # the next run sees the same episodes (now ongoing): nothing is sent again
    again = send_anomaly_alerts(None, _episodes("ongoing"), config)
    assert {r.status for r in again} == {"already_sent"} and len(again) == 6
    assert len(http_receiver.requests) == 4 and len(smtp_receiver.messages) == 2

    ledger = _ledger(env)
    assert len(ledger) == 6
    assert set(ledger["status"]) == {"sent"} and set(ledger["attempts"]) == {1}
    assert ledger["sent_at"].notna().all() and ledger["last_error"].isna().all()
    assert set(ledger["alert_key"]) == {"anomaly:ep_runaway_key", "anomaly:ep_cache_drop"}


def test_webhook_signature_verifies_like_a_receiver_would(env, http_receiver, smtp_receiver):
    config = _config(env, http_receiver, smtp_receiver)
    send_anomaly_alerts(None, _episodes().head(1), config)
    (request,) = http_receiver.delivered("/hook")
    body, headers = request["body"], request["headers"]

    # a receiver in any language: HMAC-SHA256(secret, raw body) == hex after "sha256="
    scheme, _, received = headers[SIGNATURE_HEADER].partition("=")
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert scheme == "sha256" and hmac.compare_digest(received, expected)
    payload = json.loads(body)
    assert str(payload["timestamp"]) == headers[TIMESTAMP_HEADER]
    assert payload["alert_key"] == "anomaly:ep_runaway_key"
    assert payload["type"] == "tokenledger.anomaly"
    assert payload["data"]["impact"] == 6840.0 and payload["data"]["start_date"] == "2025-03-04"

    ts = headers[TIMESTAMP_HEADER]
    assert verify_signature(WEBHOOK_SECRET, body, headers[SIGNATURE_HEADER], ts)
    tampered = body.replace(b"6840.0", b"1.0")
    assert not verify_signature(WEBHOOK_SECRET, tampered, headers[SIGNATURE_HEADER], ts)
    assert not verify_signature("wrong-secret", body, headers[SIGNATURE_HEADER], ts)
    assert not verify_signature(  # replayed a day later
        WEBHOOK_SECRET, body, headers[SIGNATURE_HEADER], ts, now=int(ts) + 86400
    )


def test_transient_errors_are_retried_with_backoff_honouring_retry_after(
    env, http_receiver, smtp_receiver
):
    config = _config(env, http_receiver, smtp_receiver)
    del config["channels"]["pager-hook"], config["channels"]["finops-mail"]
    http_receiver.fail[SLACK_PATH] = [(500, {}), (429, {"Retry-After": "2"})]
    (result,) = send_anomaly_alerts(None, _episodes().head(1), config)

    assert result.status == "sent" and result.attempts == 3
    assert env["sleeps"] == [0.5, 2.0]  # backoff, then the server's Retry-After
    assert len(http_receiver.delivered(SLACK_PATH)) == 1
    (row,) = _ledger(env).itertuples()
    assert row.status == "sent" and row.attempts == 3


def test_client_errors_are_not_retried(env, http_receiver, smtp_receiver):
    config = _config(env, http_receiver, smtp_receiver)
    del config["channels"]["pager-hook"], config["channels"]["finops-mail"]
    http_receiver.fail[SLACK_PATH] = [(404, {})]
    (result,) = send_anomaly_alerts(None, _episodes().head(1), config)
    assert result.status == "failed" and result.attempts == 1
    assert result.error.startswith("HTTP 404") and env["sleeps"] == []


def test_failed_channel_is_retried_on_the_next_run_and_delivered_once(
    env, http_receiver, smtp_receiver
):
    config = _config(env, http_receiver, smtp_receiver)
    http_receiver.fail[SLACK_PATH] = [(503, {})] * 3  # every attempt of the first run fails
    first = _statuses(send_anomaly_alerts(None, _episodes("new").head(1), config))
    key = "anomaly:ep_runaway_key"
    assert first == {
        (key, "finops-slack"): "failed",
        (key, "pager-hook"): "sent",
        (key, "finops-mail"): "sent",
    }
    ledger = _ledger(env).set_index("channel")
    assert ledger.loc["finops-slack", "status"] == "failed"
    assert ledger.loc["finops-slack", "attempts"] == 3
    assert ledger.loc["finops-slack", "last_error"].startswith("HTTP 503")
    assert pd.isna(ledger.loc["finops-slack", "sent_at"])

    # next run: the episode has resolved meanwhile and only new episodes are wanted, but a
    # pending delivery is still retried — on the failed channel only
    second = _statuses(
        send_anomaly_alerts(None, _episodes("resolved").head(1), config, statuses=["new"])
    )
    assert second == {
        (key, "finops-slack"): "sent",
        (key, "pager-hook"): "already_sent",
        (key, "finops-mail"): "already_sent",
    }
    third = _statuses(send_anomaly_alerts(None, _episodes("resolved").head(1), config))
    assert set(third.values()) == {"already_sent"}

    assert len(http_receiver.delivered(SLACK_PATH)) == 1  # the user saw it exactly once
    assert len(http_receiver.delivered("/hook")) == 1 and len(smtp_receiver.messages) == 1
    ledger = _ledger(env).set_index("channel")
    assert ledger.loc["finops-slack", "status"] == "sent"
    assert ledger.loc["finops-slack", "attempts"] == 4
    assert pd.isna(ledger.loc["finops-slack", "last_error"])


def test_secrets_never_reach_logs_or_the_ledger(env, http_receiver, smtp_receiver, caplog):
    config = _config(env, http_receiver, smtp_receiver)
    # failures whose error text would contain the Slack token (the server echoes the path),
    # and an SMTP login that the server refuses
    http_receiver.fail[SLACK_PATH] = [(500, {})] * 3
    env["mp"].setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD + "-wrong")
    caplog.set_level(logging.DEBUG)
    results = send_anomaly_alerts(None, _episodes(), config)
    results += send_quality_alert(None, "reconciliation", "Σ fact ≠ Σ raw on 2025-03-04", config)
    assert {r.channel: r.status for r in results if r.status == "failed"}.keys() == {
        "finops-slack",
        "finops-mail",
    }
    secrets = [
        SLACK_PATH,
        "slacksecrettoken123",
        WEBHOOK_SECRET,
        SMTP_PASSWORD,
        SMTP_PASSWORD + "-wrong",
    ]
    assert "finops-slack" in caplog.text and "HTTP 500: error at ***" in caplog.text
    ledger = _ledger(env)
    dumped = ledger.to_csv() + " ".join(str(r) for r in results)
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in dumped
    assert smtp_receiver.logins and not any(smtp_receiver.logins)


def test_quality_gate_failure_alerts_once(env, http_receiver, smtp_receiver):
    config = _config(env, http_receiver, smtp_receiver)
    detail = "3 rows with negative usage cost quarantined (quarantine.fct_cost_and_usage)"
    first = send_quality_alert(
        None, "non_negative_usage_cost", detail, config, batch_id="2025-03-04"
    )
    assert [r.status for r in first] == ["sent"] * 3
    body = json.loads(http_receiver.delivered(SLACK_PATH)[0]["body"])
    assert body["text"] == f"Quality gate failed: non_negative_usage_cost: {detail}"
    hook = json.loads(http_receiver.delivered("/hook")[0]["body"])
    assert hook["type"] == "tokenledger.quality" and hook["data"]["batch_id"] == "2025-03-04"

    again = send_quality_alert(
        None, "non_negative_usage_cost", detail, config, batch_id="2025-03-04"
    )
    assert {r.status for r in again} == {"already_sent"}
    other = send_quality_alert(
        None, "non_negative_usage_cost", detail, config, batch_id="2025-03-05"
    )
    assert {r.status for r in other} == {"sent"}
    assert len(http_receiver.delivered(SLACK_PATH)) == 2 and len(smtp_receiver.messages) == 2


def test_channel_kinds_and_min_impact(env, http_receiver, smtp_receiver):
    config = _config(env, http_receiver, smtp_receiver, min_impact_usd=1000)
    config["channels"]["pager-hook"]["kinds"] = ["quality"]
    results = _statuses(send_anomaly_alerts(None, _episodes(), config))
    assert results[("anomaly:ep_runaway_key", "finops-slack")] == "sent"  # |+$6,840| ≥ $1,000
    assert results[("anomaly:ep_cache_drop", "finops-slack")] == "below_threshold"  # |-$210|
    assert not any(ch == "pager-hook" for _, ch in results)  # quality alerts only
    assert http_receiver.delivered("/hook") == []


def test_real_detector_episode_is_alerted_with_its_root_cause(env, http_receiver, smtp_receiver):
    from tokenledger.anomaly import anomalies_from_rows

    days = pd.date_range("2025-01-01", periods=60, freq="D")
    rows = []
    for i, day in enumerate(days):
        for model, cost in (("gpt-4o-mini", 50.0 + (i % 7 == 5) * -10), ("gpt-4o", 70.0)):
            if model == "gpt-4o" and i >= 57:
                cost = 900.0  # a runaway loop on one model for the last three days
            rows.append(
                dict(
                    date=day.date(),
                    provider="openai",
                    sub_account_id="proj_search",
                    api_key_id="key_search",
                    model=model,
                    token_type="input",
                    service_tier="default",
                    cost=cost,
                )
            )
    episodes = anomalies_from_rows(pd.DataFrame(rows), levels=("provider",))
    assert len(episodes) == 1

    config = _config(env, http_receiver, smtp_receiver)
    send_anomaly_alerts(None, episodes, config)
    send_anomaly_alerts(None, episodes, config)  # the next run
    (slack,) = http_receiver.delivered(SLACK_PATH)
    text = json.loads(slack["body"])["text"]
    assert text.startswith("Spend anomaly: provider openai rose from $")
    assert "since 2025-02-27" in text and "largest contributor: model=gpt-4o (" in text


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"ops": {"type": "sms"}}, "channel 'ops': type must be one of slack, webhook, email"),
        ({"ops": {"type": "slack"}}, "channel 'ops': url_env is required"),
        (
            {"ops": {"type": "slack", "url": "https://hooks.slack.com/services/x"}},
            "channel 'ops': url is not allowed inline",
        ),
        (
            {"ops": {"type": "webhook", "url": "https://x.example", "secret": "s3cr3t"}},
            "channel 'ops': secret is not allowed inline",
        ),
        (
            {"ops": {"type": "webhook", "url": "https://x.example"}},
            "channel 'ops': secret_env is required",
        ),
        (
            {"ops": {"type": "slack", "url_env": "https://hooks.slack.com/services/x"}},
            "channel 'ops': url_env must be the NAME of an environment variable",
        ),
        (
            {"ops": {"type": "slack", "url_env": "X", "min_impact_usd": "lots"}},
            "channel 'ops': min_impact_usd must be a number",
        ),
        ({"ops": {"type": "email", "host": "h", "from": "a@b"}}, "channel 'ops': to is required"),
        (
            {"ops": {"type": "email", "host": "h", "from": "a@b", "to": "c@d", "password": "p"}},
            "channel 'ops': password is not allowed inline",
        ),
        (
            {"ops": {"type": "email", "host": "h", "from": "a@b", "to": "c@d", "port": "25"}},
            "channel 'ops': port must be an integer",
        ),
        (
            {"ops": {"type": "slack", "url_env": "X", "channel": "#finops"}},
            "channel 'ops': unknown field 'channel'",
        ),
    ],
)
def test_config_errors_name_the_channel_and_field(env, channels, message):
    path = _write_toml(env["tmp"] / "alerts.toml", channels)
    with pytest.raises(AlertConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_missing_secret_env_var_is_a_failed_delivery_naming_the_channel(
    env, http_receiver, smtp_receiver
):
    config = _config(env, http_receiver, smtp_receiver)
    env["mp"].delenv("TEST_WEBHOOK_SECRET")
    results = {r.channel: r for r in send_anomaly_alerts(None, _episodes().head(1), config)}
    assert results["pager-hook"].status == "failed"
    assert "channel 'pager-hook': secret_env names environment variable 'TEST_WEBHOOK_SECRET'" in (
        results["pager-hook"].error
    )
    assert results["finops-slack"].status == "sent"


def test_no_config_file_means_alerts_off_with_one_info_line(env, caplog):
    caplog.set_level(logging.INFO, logger="tokenledger.alerts")
    assert send_anomaly_alerts(None, _episodes(), None) == []
    assert send_quality_alert(None, "row_count", "0 rows", None) == []
    lines = [r for r in caplog.records if "alerts disabled" in r.getMessage()]
    assert len(lines) == 2 and all(r.levelno == logging.INFO for r in lines)  # one per call
    assert not env["db"].exists()  # nothing written when alerts are off

    env["mp"].setenv("TOKENLEDGER_ALERTS_CONFIG", str(env["tmp"] / "nope.toml"))
    with pytest.raises(AlertConfigError, match="nope.toml does not exist"):
        send_anomaly_alerts(None, _episodes(), None)


def test_example_config_is_valid_and_cli_test_reaches_every_channel(
    env, http_receiver, smtp_receiver, capsys
):
    from pathlib import Path

    from tokenledger.cli import main

    example = load_config(Path(__file__).resolve().parents[1] / "alerts.example.toml")
    assert {c.type for c in example.channels} == {"slack", "webhook", "email"}

    config = _config(env, http_receiver, smtp_receiver)
    _write_toml(env["tmp"] / "alerts.toml", config["channels"])  # the default file in the cwd
    assert main(["alerts", "test"]) == 0
    out = capsys.readouterr().out
    assert "finops-slack: sent" in out and "pager-hook: sent" in out and "finops-mail: sent" in out
    assert "test alert" in json.loads(http_receiver.delivered(SLACK_PATH)[0]["body"])["text"]
    assert len(smtp_receiver.messages) == 1
    assert not env["db"].exists()  # test messages are not recorded in the ledger

    http_receiver.fail["/hook"] = [(401, {})]
    assert main(["alerts", "test"]) == 1
    assert "pager-hook: FAILED (HTTP 401" in capsys.readouterr().out


@pytest.mark.postgres
def test_ledger_on_postgresql(pg_warehouse, env, http_receiver, smtp_receiver):
    config = _config(env, http_receiver, smtp_receiver)
    del config["channels"]["pager-hook"], config["channels"]["finops-mail"]
    http_receiver.fail[SLACK_PATH] = [(500, {})] * 3
    assert [r.status for r in send_anomaly_alerts(pg_warehouse, _episodes(), config)] == [
        "failed",
        "sent",
    ]
    assert [r.status for r in send_anomaly_alerts(pg_warehouse, _episodes(), config)] == [
        "sent",
        "already_sent",
    ]
    _, rows = pg_warehouse.query(
        "select alert_key, status, attempts from alerts.sent_alerts order by alert_key"
    )
    assert rows == [("anomaly:ep_cache_drop", "sent", 1), ("anomaly:ep_runaway_key", "sent", 4)]
    assert len(http_receiver.delivered(SLACK_PATH)) == 2


# ------------------------------------------------------------------------------ real world
@pytest.fixture(scope="module")
def demo_world_episodes():
    """Episodes the detector finds in the demo world (seed 42, 90 days) and its incidents."""
    from simulator.world import World
    from tokenledger.anomaly import anomalies_from_rows

    world = World(seed=42, days=90)
    rows = world.truth_billed_cost_frame()
    rows["cost"] = rows.pop("billed_cost_nano").to_numpy() / 1e9
    return world, anomalies_from_rows(rows)


def test_each_injected_incident_of_the_demo_world_is_one_alert(
    env, http_receiver, smtp_receiver, demo_world_episodes
):
    world, episodes = demo_world_episodes
    incidents = world.incidents()
    assert len(episodes) > len(incidents)  # one incident shows on several series
    config = _config(env, http_receiver, smtp_receiver)
    del config["channels"]["pager-hook"], config["channels"]["finops-mail"]

    results = send_anomaly_alerts(None, episodes, config)
    slack = [json.loads(r["body"]) for r in http_receiver.delivered(SLACK_PATH)]
    assert len(slack) == len(results) == len(incidents)
    # every incident is covered by exactly one message whose window overlaps it
    for incident in incidents:
        hits = [
            r
            for r in results
            if any(
                e["start_date"] <= incident.end_date and e["end_date"] >= incident.start_date
                for e in episodes.to_dict("records")
                if f"anomaly:{e['episode_id']}" == r.alert_key
            )
        ]
        assert len(hits) >= 1, incident.kind
    runaway = next(i for i in incidents if i.kind == "runaway_agent_loop")
    (message,) = [m for m in slack if runaway.api_key_id in json.dumps(m)]
    assert runaway.sub_account_id in message["text"]
    assert f"largest contributor: api_key_id={runaway.api_key_id}" in message["text"]
    fields = {f["text"].split("\n")[0]: f["text"] for f in message["blocks"][1]["fields"]}
    assert "*Models*" in fields and "*Also seen on*" in fields

    ledger = _ledger(env)  # every episode is accounted for: sent once or grouped under one
    assert len(ledger) == len(episodes)
    assert (ledger["status"] == "sent").sum() == len(incidents)
    assert set(ledger["status"]) == {"sent", "grouped"}

    again = send_anomaly_alerts(None, episodes, config)  # the next run
    assert {r.status for r in again} == {"already_sent"}
    assert len(http_receiver.delivered(SLACK_PATH)) == len(incidents)


def test_an_episode_joining_an_alerted_incident_later_is_not_sent_again(
    env, http_receiver, smtp_receiver, demo_world_episodes
):
    world, episodes = demo_world_episodes
    runaway = next(i for i in world.incidents() if i.kind == "runaway_agent_loop")
    on_key = episodes[
        episodes["api_key_id"].eq(runaway.api_key_id) & episodes["level"].eq("api_key")
    ]
    config = _config(env, http_receiver, smtp_receiver)
    del config["channels"]["pager-hook"], config["channels"]["finops-mail"]

    assert [r.status for r in send_anomaly_alerts(None, on_key, config)] == ["sent"]
    # the next run also flags the project, provider and models of the same incident
    same_incident = episodes[
        (episodes["start_date"] <= runaway.end_date)
        & (episodes["end_date"] >= runaway.start_date)
        & (
            episodes["api_key_id"].eq(runaway.api_key_id)
            | episodes["root_cause_value"].eq(runaway.api_key_id)
        )
    ]
    assert len(same_incident) >= 4
    again = send_anomaly_alerts(None, same_incident, config)
    assert [r.status for r in again] == ["already_sent"]
    assert len(http_receiver.delivered(SLACK_PATH)) == 1
    ledger = _ledger(env)
    assert (ledger["status"] == "sent").sum() == 1
    assert (ledger["status"] == "grouped").sum() == len(same_incident) - 1
    ungrouped = send_anomaly_alerts(None, on_key, config, group_related=False)
    assert [r.status for r in ungrouped] == ["already_sent"]
