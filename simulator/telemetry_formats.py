"""Render simulated LLM calls as the three telemetry formats tokenledger ingests, vectorised.

- `jsonl`: tokenledger's plain event, one JSON object per line (what `tokenledger.telemetry.
  record_llm_call` writes).
- `otlp`: OpenTelemetry GenAI spans as OTLP JSON, one `ExportTraceServiceRequest` per line
  (the OpenTelemetry Collector file exporter's layout), up to 500 spans per line.
- `litellm`: LiteLLM proxy spend logs (`LiteLLM_SpendLogs` rows), one JSON object per line.

Lines are built with Arrow string kernels (no Python dict per call), so the benchmark can
write millions of calls in seconds. Field names and semantics: ingestion/telemetry/README.md.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

SPANS_PER_LINE = 500


def _join(*pieces) -> pa.Array:
    return pc.binary_join_element_wise(*pieces, "")


def _q(col: pa.Array) -> pa.Array:
    """A JSON string literal, or `null` (ids and tags here never need escaping)."""
    return pc.fill_null(_join('"', col, '"'), "null")


def _n(col: pa.Array) -> pa.Array:
    return pc.fill_null(pc.cast(col, pa.string()), "null")


def _ts(col: pa.Array) -> pa.Array:
    return pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ")


def jsonl_lines(t: pa.Table) -> pa.Array:
    """Plain tokenledger events."""
    c = t.column
    return _join(
        '{"event_id":', _q(c("event_id")),
        ',"occurred_at":', _q(_ts(c("occurred_at"))),
        ',"provider":', _q(c("provider")),
        ',"model":', _q(c("model")),
        ',"api_key_id":', _q(c("api_key_id")),
        ',"sub_account_id":', _q(c("sub_account_id")),
        ',"service_tier":', _q(c("service_tier")),
        ',"application":', _q(c("application")),
        ',"team":', _q(c("team")),
        ',"feature":', _q(c("feature")),
        ',"prompt_template_id":', _q(c("prompt_template_id")),
        ',"prompt_template_version":', _q(c("prompt_template_version")),
        ',"conversation_id":', _q(c("conversation_id")),
        ',"end_user_id":', _q(c("end_user_id")),
        ',"status":', _q(c("status")),
        ',"latency_ms":', _n(c("latency_ms")),
        ',"usage":{"input_tokens":', _n(c("input_tokens")),
        ',"cached_input_tokens":', _n(c("cached_input_tokens")),
        ',"cache_write_tokens":', _n(c("cache_write_tokens")),
        ',"cache_write_5m_tokens":', _n(c("cache_write_5m_tokens")),
        ',"cache_write_1h_tokens":', _n(c("cache_write_1h_tokens")),
        ',"output_tokens":', _n(c("output_tokens")),
        ',"reasoning_tokens":', _n(c("reasoning_tokens")),
        ',"web_search_requests":', _n(c("web_search_requests")),
        "}}",
    )  # fmt: skip


def _attr_s(key: str, col: pa.Array) -> pa.Array:
    """`,{"key":K,"value":{"stringValue":V}}`, or nothing when the value is null."""
    return pc.fill_null(_join(',{"key":"', key, '","value":{"stringValue":"', col, '"}}'), "")


def _attr_i(key: str, col: pa.Array) -> pa.Array:
    """An int attribute (OTLP JSON writes int64 as a string)."""
    return _join(',{"key":"', key, '","value":{"intValue":"', pc.cast(col, pa.string()), '"}}')


def otlp_spans(t: pa.Table) -> pa.Array:
    """One OTLP JSON span object per call (GenAI semantic conventions)."""
    c = t.column
    start = pc.cast(pc.cast(c("occurred_at"), pa.timestamp("ns", tz="UTC")), pa.int64())
    end = pc.add(start, pc.multiply(c("latency_ms"), 1_000_000))
    eid_digits = pc.utf8_lpad(pc.replace_substring_regex(c("event_id"), "[^0-9]", ""), 32, "0")
    total_input = pc.add(
        pc.add(c("input_tokens"), c("cached_input_tokens")),
        pc.add(
            pc.add(c("cache_write_tokens"), c("cache_write_5m_tokens")), c("cache_write_1h_tokens")
        ),
    )
    cache_creation = pc.add(
        pc.add(c("cache_write_tokens"), c("cache_write_5m_tokens")), c("cache_write_1h_tokens")
    )
    error = pc.equal(c("status"), "error")
    status = pc.if_else(error, '{"code":2,"message":"error"}', '{"code":1}')
    span_id = pc.utf8_slice_codeunits(eid_digits, 16, 32)
    return _join(
        '{"traceId":"', eid_digits,
        '","spanId":"', span_id,
        '","name":"', c("operation"), " ", c("model"),
        '","kind":3,"startTimeUnixNano":"', pc.cast(start, pa.string()),
        '","endTimeUnixNano":"', pc.cast(end, pa.string()),
        '","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"',
        c("operation"), '"}}',
        _attr_s("gen_ai.provider.name", c("provider")),
        _attr_s("gen_ai.request.model", c("model")),
        _attr_s("gen_ai.response.model", c("model")),
        _attr_s("gen_ai.response.id", c("event_id")),
        _attr_s("gen_ai.conversation.id", c("conversation_id")),
        _attr_s("user.id", c("end_user_id")),
        _attr_s("tokenledger.api_key_id", c("api_key_id")),
        _attr_s("tokenledger.sub_account_id", c("sub_account_id")),
        _attr_s("tokenledger.service_tier", c("service_tier")),
        _attr_s("tokenledger.team", c("team")),
        _attr_s("tokenledger.feature", c("feature")),
        _attr_s("tokenledger.prompt_template.id", c("prompt_template_id")),
        _attr_s("tokenledger.prompt_template.version", c("prompt_template_version")),
        _attr_i("gen_ai.usage.input_tokens", total_input),
        _attr_i("gen_ai.usage.output_tokens", c("output_tokens")),
        _attr_i("gen_ai.usage.cache_read.input_tokens", c("cached_input_tokens")),
        _attr_i("gen_ai.usage.cache_creation.input_tokens", cache_creation),
        _attr_i(
            "tokenledger.usage.cache_creation.ephemeral_1h_input_tokens",
            c("cache_write_1h_tokens"),
        ),
        _attr_i("gen_ai.usage.reasoning_tokens", c("reasoning_tokens")),
        _attr_i("tokenledger.usage.web_search_requests", c("web_search_requests")),
        "],\"status\":", status, "}",
    )  # fmt: skip


def otlp_lines(t: pa.Table) -> list[str]:
    """ExportTraceServiceRequest lines; all calls of `t` share one application (resource)."""
    spans = otlp_spans(t).to_pylist()
    app = t.column("application")[0].as_py() if t.num_rows else ""
    head = (
        '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":'
        f'{{"stringValue":"{app}"}}}}]}},"scopeSpans":[{{"scope":{{"name":"tokenledger.sim",'
        '"version":"1"},"spans":['
    )
    return [
        head + ",".join(spans[i : i + SPANS_PER_LINE]) + "]}]}]}"
        for i in range(0, len(spans), SPANS_PER_LINE)
    ]


def _virtual_key_hash(application: str) -> str:
    """LiteLLM stores the SHA-256 of the proxy's virtual key, never the key itself."""
    return hashlib.sha256(f"sk-litellm-{application}".encode()).hexdigest()


def litellm_lines(t: pa.Table) -> pa.Array:
    """LiteLLM spend-log rows. `prompt_tokens` counts all input (cached and cache writes
    included, LiteLLM's OpenAI-style usage); the split is in `metadata.usage_object`."""
    c = t.column
    app = t.column("application")[0].as_py() if t.num_rows else ""
    end = pc.add(c("occurred_at"), pc.cast(pc.multiply(c("latency_ms"), 1), pa.duration("ms")))
    cache_creation = pc.add(
        pc.add(c("cache_write_tokens"), c("cache_write_5m_tokens")), c("cache_write_1h_tokens")
    )
    prompt = pc.add(pc.add(c("input_tokens"), c("cached_input_tokens")), cache_creation)
    total = pc.add(prompt, c("output_tokens"))
    status = pc.if_else(pc.equal(c("status"), "error"), "failure", "success")
    call_type = pc.if_else(pc.equal(c("operation"), "embeddings"), "aembedding", "acompletion")
    return _join(
        '{"request_id":', _q(c("event_id")),
        ',"call_type":"', call_type,
        '","api_key":"', _virtual_key_hash(app),
        '","spend":0.0,"total_tokens":', _n(total),
        ',"prompt_tokens":', _n(prompt),
        ',"completion_tokens":', _n(c("output_tokens")),
        ',"startTime":', _q(_ts(c("occurred_at"))),
        ',"endTime":', _q(pc.strftime(end, format="%Y-%m-%dT%H:%M:%SZ")),
        ',"model":', _q(c("model")),
        ',"model_group":', _q(c("model")),
        ',"custom_llm_provider":', _q(c("provider")),
        ',"user":"","end_user":', _q(c("end_user_id")),
        ',"team_id":', _q(c("team")),
        ',"status":"', status,
        '","cache_hit":"False","request_tags":[],"metadata":{"user_api_key_team_alias":',
        _q(c("team")),
        ',"spend_logs_metadata":{"application":', _q(c("application")),
        ',"feature":', _q(c("feature")),
        ',"prompt_template_id":', _q(c("prompt_template_id")),
        ',"prompt_template_version":', _q(c("prompt_template_version")),
        ',"conversation_id":', _q(c("conversation_id")),
        ',"provider_api_key_id":', _q(c("api_key_id")),
        ',"provider_sub_account_id":', _q(c("sub_account_id")),
        ',"service_tier":', _q(c("service_tier")),
        '},"usage_object":{"prompt_tokens":', _n(prompt),
        ',"completion_tokens":', _n(c("output_tokens")),
        ',"prompt_tokens_details":{"cached_tokens":', _n(c("cached_input_tokens")),
        '},"completion_tokens_details":{"reasoning_tokens":', _n(c("reasoning_tokens")),
        '},"cache_read_input_tokens":', _n(c("cached_input_tokens")),
        ',"cache_creation_input_tokens":', _n(cache_creation),
        ',"cache_creation_token_details":{"ephemeral_5m_input_tokens":',
        _n(c("cache_write_5m_tokens")),
        ',"ephemeral_1h_input_tokens":', _n(c("cache_write_1h_tokens")),
        '},"server_tool_use":{"web_search_requests":', _n(c("web_search_requests")),
        "}}}}",
    )  # fmt: skip


def write_calls(calls: pa.Table, directory: Path, *, days_per_file: int = 1) -> list[Path]:
    """Write `calls` as `directory/<format>/<application>/<first day>.jsonl` files."""
    written: list[Path] = []
    calls = calls.sort_by(
        [("source_format", "ascending"), ("application", "ascending"), ("event_date", "ascending")]
    )
    fmt = calls.column("source_format").to_numpy(zero_copy_only=False)
    app = calls.column("application").to_numpy(zero_copy_only=False)
    day = calls.column("event_date").cast(pa.int32()).to_numpy()
    bucket = day // max(1, days_per_file)
    import numpy as np

    change = np.ones(len(fmt), dtype=bool)
    if len(fmt):
        change[1:] = (fmt[1:] != fmt[:-1]) | (app[1:] != app[:-1]) | (bucket[1:] != bucket[:-1])
    starts = list(np.nonzero(change)[0]) + [len(fmt)]
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):
        part = calls.slice(lo, hi - lo)
        f, a = fmt[lo], app[lo]
        first_day = part.column("event_date")[0].as_py().isoformat()
        path = directory / f / a / f"{first_day}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        if f == "otlp":
            lines = otlp_lines(part)
        elif f == "litellm":
            lines = litellm_lines(part).to_pylist()
        else:
            lines = jsonl_lines(part).to_pylist()
        data = ("\n".join(lines) + "\n").encode()
        # an unchanged file is not rewritten (its mtime stays, so ingestion skips it)
        if not (path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data):
            path.write_bytes(data)
        written.append(path)
    return written
