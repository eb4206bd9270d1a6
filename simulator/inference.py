"""Minimal inference endpoints so the recording helper is tested with the real SDK clients.

`POST /v1/chat/completions` and `POST /v1/responses` (OpenAI) and `POST /v1/messages`
(Anthropic) answer with a fixed assistant text and a realistic `usage` object: cached input,
reasoning tokens for o-series models, Anthropic cache reads and 5m/1h cache writes and the
service tier. The numbers are a deterministic function of the request body (same request →
same usage), so a test can compare what the helper recorded with what the SDK returned.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

OPENAI_ALIASES = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o3-mini": "o3-mini-2025-01-31",
    "gpt-4.1": "gpt-4.1-2025-04-14",
}
ANTHROPIC_ALIASES = {
    "claude-sonnet-4-0": "claude-sonnet-4-20250514",
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
}
PATHS = ("/v1/chat/completions", "/v1/responses", "/v1/messages")
REPLY = "Simulated reply."


def _numbers(body: dict) -> tuple[int, int, int]:
    """(input tokens, output tokens, a third deterministic number) from the request."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    text = json.dumps(body.get("messages") or body.get("input") or "")
    prompt = 800 + len(text) // 4 + int.from_bytes(digest[:2], "big") % 4000
    output = 40 + int.from_bytes(digest[2:4], "big") % 900
    return prompt, output, int.from_bytes(digest[4:6], "big")


def _has_ttl(body: dict, ttl: str) -> bool:
    return f'"ttl": "{ttl}"' in json.dumps(body)


def chat_completion(body: dict) -> dict:
    """An OpenAI Chat Completions response with usage details."""
    model = OPENAI_ALIASES.get(body.get("model", ""), body.get("model", "gpt-4o-2024-08-06"))
    prompt, output, extra = _numbers(body)
    cached = (prompt * (extra % 60) // 100) // 128 * 128 if prompt >= 1024 else 0
    reasoning = output * 6 // 10 if model.startswith("o") else 0
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": body.get("service_tier") or "default",
        "system_fingerprint": "fp_sim",
    }


def response(body: dict) -> dict:
    """An OpenAI Responses API response with usage details."""
    chat = chat_completion(body)
    u = chat["usage"]
    return {
        "id": f"resp_{uuid.uuid4().hex[:24]}",
        "object": "response",
        "created_at": chat["created"],
        "status": "completed",
        "model": chat["model"],
        "output": [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": REPLY, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": u["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": u["prompt_tokens_details"]["cached_tokens"]},
            "output_tokens": u["completion_tokens"],
            "output_tokens_details": {
                "reasoning_tokens": u["completion_tokens_details"]["reasoning_tokens"]
            },
            "total_tokens": u["total_tokens"],
        },
        "service_tier": chat["service_tier"],
    }


def message(body: dict) -> dict:
    """An Anthropic Messages response: uncached input, cache reads, 5m/1h cache writes."""
    model = ANTHROPIC_ALIASES.get(body.get("model", ""), body.get("model", ""))
    prompt, output, extra = _numbers(body)
    cache_read = prompt * (extra % 50) // 100
    write = prompt * 15 // 100 if "cache_control" in json.dumps(body) else 0
    write_1h = write if _has_ttl(body, "1h") else 0
    web = 1 if any(t.get("type", "").startswith("web_search") for t in body.get("tools", [])) else 0
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": REPLY}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt - cache_read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": write - write_1h,
                "ephemeral_1h_input_tokens": write_1h,
            },
            "output_tokens": output,
            "server_tool_use": {"web_search_requests": web},
            "service_tier": "standard",
        },
    }


def handle(path: str, body: dict, headers: Any) -> tuple[int, dict]:
    """(status, JSON body) of an inference request; any key is accepted, none is checked."""
    if path == "/v1/messages":
        # the SDK sends `x-api-key` (older) or `Authorization: Bearer` (newer)
        if not (headers.get("x-api-key") or headers.get("Authorization")):
            return 401, {
                "type": "error",
                "error": {
                    "type": "authentication_error",
                    "message": "x-api-key or Authorization header is required",
                },
            }
        return 200, message(body)
    if not (headers.get("Authorization") or "").startswith("Bearer "):
        return 401, {"error": {"message": "missing key", "type": "invalid_request_error"}}
    return 200, response(body) if path == "/v1/responses" else chat_completion(body)
