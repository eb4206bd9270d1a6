"""Record one usage event per LLM call from an `openai` or `anthropic` response.

Business purpose: provider bills stop at project / workspace / API key; the app knows the
team, feature, prompt template, conversation and end user of each call. One line per call
in tokenledger's plain JSONL format lets the pipeline split the bill down to those
(ingestion/telemetry/README.md). Usage is read from the response exactly as the provider
reports it and converted to tokenledger's token types:

- OpenAI Chat Completions (`usage.prompt_tokens` includes cached tokens:
  `prompt_tokens_details.cached_tokens`; reasoning in `completion_tokens_details`) and the
  Responses API (`usage.input_tokens` / `input_tokens_details.cached_tokens` /
  `output_tokens_details.reasoning_tokens`): input = prompt − cached.
- Anthropic Messages (`usage.input_tokens` is already uncached; `cache_read_input_tokens`;
  `cache_creation_input_tokens` split into `cache_creation.ephemeral_5m/1h_input_tokens`,
  all 5-minute when the split is absent; `server_tool_use.web_search_requests`).

    from tokenledger.telemetry import record_llm_call
    resp = client.chat.completions.create(model="gpt-4o", messages=...)
    record_llm_call(resp, team="support", feature="reply-draft",
                    prompt_template_id="tpl-reply", prompt_template_version="v3",
                    conversation_id=thread.id, end_user_id=user.id, application="helpdesk",
                    api_key_id="key_abc123", sub_account_id="proj_...", latency_ms=840)

Events go to `path`, else `$TOKENLEDGER_TELEMETRY_DIR/jsonl/<application>/<UTC day>.jsonl`.
Never pass a key's secret: `api_key_id` is the provider's key *id* (a value that looks like
a secret is refused).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

DIR_ENV = "TOKENLEDGER_TELEMETRY_DIR"
_WRITE_LOCK = threading.Lock()
_SECRET_PREFIXES = ("sk-", "sk_", "Bearer ")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute or key `name` of an SDK object or a plain dict."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        value = obj.get(name, default)
    else:
        value = getattr(obj, name, default)
    return default if value is None else value


def _int(value: Any) -> int:
    return int(value or 0)


def detect_provider(response: Any) -> str:
    """`anthropic` for a Messages response, `openai` for Chat Completions / Responses."""
    module = type(response).__module__ or ""
    if module.startswith("anthropic"):
        return "anthropic"
    if module.startswith("openai"):
        return "openai"
    if (
        _get(response, "type") == "message"
        or _get(_get(response, "usage"), "cache_read_input_tokens") is not None
    ):
        return "anthropic"
    return "openai"


def usage_of(response: Any, provider: str | None = None) -> dict[str, int]:
    """Token counts of a response in tokenledger's types (input is uncached input)."""
    provider = provider or detect_provider(response)
    usage = _get(response, "usage")
    if usage is None:
        raise ValueError(
            "the response has no usage object (a streamed response needs the "
            "final chunk's usage: stream_options={'include_usage': True})"
        )
    out = dict.fromkeys(
        (
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "output_tokens",
            "reasoning_tokens",
            "web_search_requests",
        ),
        0,
    )
    if provider == "anthropic":
        write = _int(_get(usage, "cache_creation_input_tokens"))
        split = _get(usage, "cache_creation")
        w1h = _int(_get(split, "ephemeral_1h_input_tokens"))
        w5m = _int(_get(split, "ephemeral_5m_input_tokens")) if split is not None else write - w1h
        out.update(
            input_tokens=_int(_get(usage, "input_tokens")),
            cached_input_tokens=_int(_get(usage, "cache_read_input_tokens")),
            cache_write_5m_tokens=w5m,
            cache_write_1h_tokens=w1h,
            output_tokens=_int(_get(usage, "output_tokens")),
            web_search_requests=_int(_get(_get(usage, "server_tool_use"), "web_search_requests")),
        )
        return out
    if _get(usage, "prompt_tokens") is not None:  # Chat Completions
        total_in = _int(_get(usage, "prompt_tokens"))
        cached = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
        output = _int(_get(usage, "completion_tokens"))
        reasoning = _int(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
    else:  # Responses API
        total_in = _int(_get(usage, "input_tokens"))
        cached = _int(_get(_get(usage, "input_tokens_details"), "cached_tokens"))
        output = _int(_get(usage, "output_tokens"))
        reasoning = _int(_get(_get(usage, "output_tokens_details"), "reasoning_tokens"))
    out.update(
        input_tokens=total_in - cached,
        cached_input_tokens=cached,
        output_tokens=output,
        reasoning_tokens=reasoning,
    )
    return out


def llm_call_event(
    response: Any,
    *,
    team: str | None = None,
    feature: str | None = None,
    prompt_template_id: str | None = None,
    prompt_template_version: str | None = None,
    conversation_id: str | None = None,
    end_user_id: str | None = None,
    application: str | None = None,
    api_key_id: str | None = None,
    sub_account_id: str | None = None,
    service_tier: str | None = None,
    latency_ms: float | None = None,
    status: str = "ok",
    occurred_at: dt.datetime | None = None,
    event_id: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """The plain JSONL event (a dict) of one call; see the module docstring for the fields."""
    if api_key_id and api_key_id.startswith(_SECRET_PREFIXES):
        raise ValueError("api_key_id must be the key's id (e.g. key_...), never the secret key")
    provider = provider or detect_provider(response)
    usage = _get(response, "usage")
    tier = service_tier or _get(response, "service_tier") or _get(usage, "service_tier")
    when = occurred_at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return {
        "event_id": event_id or _get(response, "id") or f"evt-{uuid.uuid4().hex}",
        "occurred_at": when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "provider": provider,
        "model": _get(response, "model"),
        "api_key_id": api_key_id,
        "sub_account_id": sub_account_id,
        "service_tier": tier,
        "application": application,
        "team": team,
        "feature": feature,
        "prompt_template_id": prompt_template_id,
        "prompt_template_version": prompt_template_version,
        "conversation_id": conversation_id,
        "end_user_id": end_user_id,
        "status": status,
        "latency_ms": latency_ms,
        "usage": usage_of(response, provider),
    }


def default_path(application: str | None, when: dt.datetime | None = None) -> Path:
    """`$TOKENLEDGER_TELEMETRY_DIR/jsonl/<application>/<UTC day>.jsonl`."""
    root = os.environ.get(DIR_ENV)
    if not root:
        raise ValueError(f"pass path= or set {DIR_ENV} to the telemetry folder")
    day = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date().isoformat()
    return Path(root) / "jsonl" / (application or "app") / f"{day}.jsonl"


def record_llm_call(response: Any, *, path: str | Path | None = None, **tags: Any) -> dict:
    """Append one JSONL event for `response` (tags as `llm_call_event`) and return it."""
    event = llm_call_event(response, **tags)
    target = (
        Path(path)
        if path is not None
        else default_path(tags.get("application"), tags.get("occurred_at"))
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(event, separators=(",", ":")) + "\n"
    with _WRITE_LOCK, target.open("a", encoding="utf-8") as fh:
        fh.write(line)
    return event
