"""dlt source for app LLM-call telemetry files: plain JSONL events, OTLP JSON GenAI spans and
LiteLLM spend logs, read incrementally from one folder.

Business purpose: provider bills know projects and keys, not features; apps report one event
per LLM call with their tags. This lands those events raw (each format's own field names) so
dbt can split billed cost down to team, feature and prompt template. Grain: one row per
reported call (per GenAI span for OTLP). See README.md beside this file.

Layout: `$TOKENLEDGER_TELEMETRY_DIR/<format>/**/*.jsonl` (also `*.json`, `*.ndjson`) with
format one of `jsonl`, `otlp`, `litellm`. A file already loaded (same size and mtime) is not
re-read; a re-written file replaces all its rows (appended as a newer `_loaded_at` version of
its `_source_file`, the older version deleted after the load); a line that is
not valid JSON or not a valid event is quarantined with its reason in `quarantined_lines`.
Plain events and LiteLLM logs are parsed by DuckDB's JSON reader, many files at once on every
core, straight to Arrow (no Python dict per event); a file it rejects, a file with blank lines
and OTLP's nested requests go through Arrow's JSON reader, file by file.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from dlt.sources import DltResource

from ingestion.common import MissingCredentials, single_write

log = logging.getLogger("ingestion")

PROVIDER = "telemetry"
DIR_ENV = "TOKENLEDGER_TELEMETRY_DIR"
SOURCE_FILE = "_source_file"
LOADED_AT = "_loaded_at"
"""When the row was read (UTC, sortable text): incremental models rebuild the days of rows
read after their last build."""
LINE_NUMBER = "_line_number"
ROW_KEY = "_row_key"
QUARANTINE_TABLE = "quarantined_lines"
SUFFIXES = (".jsonl", ".json", ".ndjson")
MAX_QUARANTINED_LINE_CHARS = 4000
BATCH_ROWS = 500_000
PARSE_THREADS = max(1, min(4, os.cpu_count() or 1))
DUCKDB_FORMATS = ("jsonl", "litellm")
"""Formats whose files DuckDB's JSON reader parses (flat objects with nested structs); OTLP's
lists of lists are pivoted by Arrow compute after Arrow's reader."""
DUCKDB_WINDOW_FILES = 64
"""Files parsed by one DuckDB query (a few hundred MB of JSON at most)."""
DUCKDB_MEMORY_LIMIT = "1GB"

_S, _I, _F = pa.string(), pa.int64(), pa.float64()

# ----------------------------------------------------------------------------- schemas
EVENT_USAGE = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "web_search_requests",
)
EVENT_FIELDS = (
    "event_id",
    "occurred_at",
    "provider",
    "model",
    "api_key_id",
    "sub_account_id",
    "service_tier",
    "application",
    "team",
    "feature",
    "prompt_template_id",
    "prompt_template_version",
    "conversation_id",
    "end_user_id",
    "status",
)
EVENT_SCHEMA = pa.schema(
    [pa.field(f, _S) for f in EVENT_FIELDS]
    + [pa.field("latency_ms", _F), pa.field("usage", pa.struct([(u, _I) for u in EVENT_USAGE]))]
)

_ANY_VALUE = pa.struct(
    [("stringValue", _S), ("intValue", _S), ("doubleValue", _F), ("boolValue", pa.bool_())]
)
_ATTRS = pa.list_(pa.struct([("key", _S), ("value", _ANY_VALUE)]))
OTLP_SCHEMA = pa.schema(
    [
        pa.field(
            "resourceSpans",
            pa.list_(
                pa.struct(
                    [
                        ("resource", pa.struct([("attributes", _ATTRS)])),
                        (
                            "scopeSpans",
                            pa.list_(
                                pa.struct(
                                    [
                                        ("scope", pa.struct([("name", _S), ("version", _S)])),
                                        (
                                            "spans",
                                            pa.list_(
                                                pa.struct(
                                                    [
                                                        ("traceId", _S),
                                                        ("spanId", _S),
                                                        ("name", _S),
                                                        ("startTimeUnixNano", _S),
                                                        ("endTimeUnixNano", _S),
                                                        ("attributes", _ATTRS),
                                                        (
                                                            "status",
                                                            pa.struct(
                                                                [("code", _I), ("message", _S)]
                                                            ),
                                                        ),
                                                    ]
                                                )
                                            ),
                                        ),
                                    ]
                                )
                            ),
                        ),
                    ]
                )
            ),
        )
    ]
)
OTLP_STRING_ATTRIBUTES = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.response.id",
    "gen_ai.conversation.id",
    "user.id",
    "enduser.id",
    "tokenledger.api_key_id",
    "tokenledger.sub_account_id",
    "tokenledger.service_tier",
    "tokenledger.team",
    "tokenledger.feature",
    "tokenledger.prompt_template.id",
    "tokenledger.prompt_template.version",
    "tokenledger.application",
)
OTLP_INT_ATTRIBUTES = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "tokenledger.usage.cache_creation.ephemeral_1h_input_tokens",
    "gen_ai.usage.reasoning_tokens",
    "tokenledger.usage.web_search_requests",
)

LITELLM_TOP = (
    ("request_id", _S),
    ("call_type", _S),
    ("api_key", _S),
    ("spend", _F),
    ("total_tokens", _I),
    ("prompt_tokens", _I),
    ("completion_tokens", _I),
    ("startTime", _S),
    ("endTime", _S),
    ("model", _S),
    ("model_group", _S),
    ("custom_llm_provider", _S),
    ("user", _S),
    ("end_user", _S),
    ("team_id", _S),
    ("status", _S),
    ("cache_hit", _S),
)
LITELLM_SPEND_META = (
    "application",
    "feature",
    "prompt_template_id",
    "prompt_template_version",
    "conversation_id",
    "provider_api_key_id",
    "provider_sub_account_id",
    "service_tier",
    "team",
)
LITELLM_SCHEMA = pa.schema(
    [pa.field(n, t) for n, t in LITELLM_TOP]
    + [
        pa.field(
            "metadata",
            pa.struct(
                [
                    ("user_api_key_team_alias", _S),
                    ("spend_logs_metadata", pa.struct([(m, _S) for m in LITELLM_SPEND_META])),
                    (
                        "usage_object",
                        pa.struct(
                            [
                                ("prompt_tokens", _I),
                                ("completion_tokens", _I),
                                ("prompt_tokens_details", pa.struct([("cached_tokens", _I)])),
                                (
                                    "completion_tokens_details",
                                    pa.struct([("reasoning_tokens", _I)]),
                                ),
                                ("cache_read_input_tokens", _I),
                                ("cache_creation_input_tokens", _I),
                                (
                                    "cache_creation_token_details",
                                    pa.struct(
                                        [
                                            ("ephemeral_5m_input_tokens", _I),
                                            ("ephemeral_1h_input_tokens", _I),
                                        ]
                                    ),
                                ),
                                ("server_tool_use", pa.struct([("web_search_requests", _I)])),
                            ]
                        ),
                    ),
                ]
            ),
        )
    ]
)

FORMAT_TABLES = {"jsonl": "llm_call_events", "otlp": "otlp_spans", "litellm": "litellm_spend_logs"}
SCHEMAS = {"jsonl": EVENT_SCHEMA, "otlp": OTLP_SCHEMA, "litellm": LITELLM_SCHEMA}


# ----------------------------------------------------------------------------- helpers
def _snake(name: str) -> str:
    """Column name of an attribute / camelCase field: dots → `__`, camelCase → snake_case."""
    out = []
    for ch in name.replace(".", "__"):
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def flatten_struct_table(table: pa.Table) -> pa.Table:
    """Nested struct columns → `parent__child` columns (dlt's naming), recursively."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        cols, names = [], []
        for name, col in zip(table.column_names, table.columns, strict=True):
            if pa.types.is_struct(col.type):
                for i, field in enumerate(col.type):
                    names.append(f"{name}__{_snake(field.name)}")
                    cols.append(pc.struct_field(col, [i]))
            else:
                names.append(_snake(name))
                cols.append(col)
        table = pa.table(cols, names=names)
    return table.rename_columns([_snake(n) for n in table.column_names])


def _read_json(data: bytes, schema: pa.Schema) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=1 << 26, use_threads=False),
        parse_options=pj.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=False
        ),
    )


def parse_lines(
    data: bytes, schema: pa.Schema
) -> tuple[pa.Table, np.ndarray, list[tuple[int, str, str]]]:
    """Parse JSON lines against `schema`: (rows, their 1-based line numbers, bad lines).

    The whole file goes through Arrow's reader at once; only when that fails is it read line
    by line to find and quarantine the lines that are not JSON objects of the schema.
    """
    lines = data.split(b"\n")
    numbers = np.array([i + 1 for i, line in enumerate(lines) if line.strip()], dtype=np.int64)
    try:
        return _read_json(data, schema), numbers, []
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    good: list[bytes] = []
    good_numbers: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        text = line.decode("utf-8", errors="replace")
        try:
            value = json.loads(line)
        except ValueError as exc:
            bad.append((number, f"invalid JSON: {exc}", text))
            continue
        if not isinstance(value, dict):
            bad.append((number, "not a JSON object", text))
            continue
        try:
            _read_json(line, schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            bad.append((number, f"does not match the format's schema: {exc}", text))
            continue
        good.append(line)
        good_numbers.append(number)
    table = _read_json(b"\n".join(good), schema) if good else schema.empty_table()
    return table, np.array(good_numbers, dtype=np.int64), bad


def _quarantine_rows(
    fmt: str, rel: str, bad: list[tuple[int, str, str]], loaded_at: str
) -> pa.Table:
    table = pa.table(
        {
            ROW_KEY: pa.array([f"{rel}#{n}" for n, _, _ in bad], _S),
            "source_format": pa.array([fmt] * len(bad), _S),
            SOURCE_FILE: pa.array([rel] * len(bad), _S),
            LINE_NUMBER: pa.array([n for n, _, _ in bad], _I),
            "reason": pa.array([r for _, r, _ in bad], _S),
            "line": pa.array([t[:MAX_QUARANTINED_LINE_CHARS] for _, _, t in bad], _S),
            LOADED_AT: pa.array([loaded_at] * len(bad), _S),
        }
    )
    return table.cast(table.schema.set(0, pa.field(ROW_KEY, _S, nullable=False)))


def _validate(fmt: str, table: pa.Table, checks: list[tuple[str, pa.Array]]) -> pa.Array:
    """A per-row reason (null = valid) from (reason, failing-mask) checks, first one wins."""
    reason = pa.nulls(table.num_rows, _S)
    for text, mask in reversed(checks):
        reason = pc.if_else(pc.fill_null(mask, False), text, reason)
    return reason


def _is_negative(col: pa.Array) -> pa.Array:
    return pc.less(col, 0)


def _bad_timestamp(col: pa.Array) -> pa.Array:
    """Text that is not an ISO 8601 / RFC 3339 timestamp."""
    ok = pc.match_substring_regex(
        col, r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$"
    )
    return pc.invert(pc.fill_null(ok, False))


def shape_events(table: pa.Table) -> tuple[pa.Table, pa.Array]:
    """Plain events: flattened (`usage__*`), plus the reason each invalid row is rejected."""
    flat = flatten_struct_table(table)
    checks = [
        ("missing event_id", pc.is_null(flat["event_id"])),
        ("missing or invalid occurred_at", _bad_timestamp(flat["occurred_at"])),
        ("missing provider", pc.is_null(flat["provider"])),
        ("missing model", pc.is_null(flat["model"])),
    ] + [(f"negative usage.{u}", _is_negative(flat[f"usage__{u}"])) for u in EVENT_USAGE]
    return flat, _validate("jsonl", flat, checks)


def shape_spans(table: pa.Table) -> tuple[pa.Table, np.ndarray, pa.Array]:
    """OTLP requests → one row per GenAI span (spans without `gen_ai.*` are not LLM calls and
    are skipped), attributes pivoted to columns; returns (spans, their line index, reasons)."""
    rs = table["resourceSpans"].combine_chunks()
    rs_line = pc.list_parent_indices(rs).to_numpy()
    rs_flat = pc.list_flatten(rs)
    service = _pivot_attributes(
        pc.struct_field(pc.struct_field(rs_flat, [0]), [0]), len(rs_flat), ("service.name",), ()
    )["service.name"]
    ss = pc.struct_field(rs_flat, [1])
    ss_parent = pc.list_parent_indices(ss).to_numpy()
    ss_flat = pc.list_flatten(ss)
    spans_list = pc.struct_field(ss_flat, [1])
    sp_parent = pc.list_parent_indices(spans_list).to_numpy()
    spans = pc.list_flatten(spans_list)
    span_rs = ss_parent[sp_parent]
    n = len(spans)
    attrs = _pivot_attributes(
        pc.struct_field(spans, [5]), n, OTLP_STRING_ATTRIBUTES, OTLP_INT_ATTRIBUTES
    )
    status = pc.struct_field(spans, [6])
    cols: dict[str, pa.Array] = {
        "trace_id": pc.struct_field(spans, [0]),
        "span_id": pc.struct_field(spans, [1]),
        "name": pc.struct_field(spans, [2]),
        "start_time_unix_nano": pc.cast(pc.struct_field(spans, [3]), _I, safe=False)
        if n
        else pa.array([], _I),
        "end_time_unix_nano": pc.cast(pc.struct_field(spans, [4]), _I, safe=False)
        if n
        else pa.array([], _I),
        "status__code": pc.struct_field(status, [0]),
        "status__message": pc.struct_field(status, [1]),
        "resource__service__name": pc.take(service, pa.array(span_rs, _I)),
    }
    for key, values in attrs.items():
        cols[_snake(key)] = values
    out = pa.table(cols)
    is_genai = pc.or_(
        pc.is_valid(out["gen_ai__operation__name"]),
        pc.is_valid(out["gen_ai__usage__input_tokens"]),
    )
    keep = np.asarray(is_genai.to_numpy(zero_copy_only=False), dtype=bool)
    out = out.filter(pa.array(keep))
    line_index = rs_line[span_rs][keep]
    checks = [
        ("missing spanId", pc.is_null(out["span_id"])),
        ("missing or invalid startTimeUnixNano", pc.is_null(out["start_time_unix_nano"])),
        (
            "missing gen_ai.provider.name",
            pc.and_(pc.is_null(out["gen_ai__provider__name"]), pc.is_null(out["gen_ai__system"])),
        ),
        (
            "missing gen_ai.response.model",
            pc.and_(
                pc.is_null(out["gen_ai__response__model"]),
                pc.is_null(out["gen_ai__request__model"]),
            ),
        ),
    ] + [(f"negative {a}", _is_negative(out[_snake(a)])) for a in OTLP_INT_ATTRIBUTES]
    return out, line_index, _validate("otlp", out, checks)


def _pivot_attributes(
    attributes: pa.Array, n: int, string_keys: tuple[str, ...], int_keys: tuple[str, ...]
) -> dict[str, pa.Array]:
    """OTLP key/value attribute lists → one column per wanted key (null where absent)."""
    parent = pc.list_parent_indices(attributes).to_numpy()
    flat = pc.list_flatten(attributes)
    keys = pc.struct_field(flat, [0])
    value = pc.struct_field(flat, [1])
    string_value = pc.struct_field(value, [0])
    int_value = pc.struct_field(value, [1])
    out: dict[str, pa.Array] = {}
    for key in string_keys + int_keys:
        mask = pc.equal(keys, key).to_numpy(zero_copy_only=False)
        mask = np.asarray(mask, dtype=bool) if len(mask) else np.zeros(0, dtype=bool)
        positions = np.full(n, -1, dtype=np.int64)
        positions[parent[mask]] = np.nonzero(mask)[0]
        index = pa.array(positions, mask=positions < 0)
        if key in int_keys:
            values = pc.take(int_value, index)
            out[key] = pc.cast(values, _I) if len(values) else pa.array([], _I)
        else:
            out[key] = pc.take(string_value, index)
    return out


LITELLM_SHORT_NAMES = {
    # PostgreSQL identifiers stop at 63 characters: the three longest paths get short names
    "metadata__usage_object__cache_creation_token_details__ephemeral_5m_input_tokens": (
        "metadata__usage_object__cache_creation_5m_input_tokens"
    ),
    "metadata__usage_object__cache_creation_token_details__ephemeral_1h_input_tokens": (
        "metadata__usage_object__cache_creation_1h_input_tokens"
    ),
    "metadata__usage_object__completion_tokens_details__reasoning_tokens": (
        "metadata__usage_object__reasoning_tokens"
    ),
}


def shape_spend_logs(table: pa.Table) -> tuple[pa.Table, pa.Array]:
    """LiteLLM spend logs, flattened (`metadata__usage_object__...`), plus rejection reasons."""
    flat = flatten_struct_table(table)
    flat = flat.rename_columns([LITELLM_SHORT_NAMES.get(n, n) for n in flat.column_names])
    checks = [
        ("missing request_id", pc.is_null(flat["request_id"])),
        ("missing or invalid startTime", _bad_timestamp(flat["start_time"])),
        ("missing model", pc.is_null(flat["model"])),
        ("negative prompt_tokens", _is_negative(flat["prompt_tokens"])),
        ("negative completion_tokens", _is_negative(flat["completion_tokens"])),
    ]
    return flat, _validate("litellm", flat, checks)


def read_file(
    fmt: str, path: Path, rel: str, loaded_at: str | None = None
) -> tuple[pa.Table, pa.Table]:
    """One telemetry file → (rows of its format's raw table, quarantined lines)."""
    data = path.read_bytes()
    parsed, numbers, bad = parse_lines(data, SCHEMAS[fmt])
    lines = data.split(b"\n") if bad or fmt == "otlp" else None
    if fmt == "otlp":
        rows, line_index, reason = shape_spans(parsed)
        line_numbers = numbers[line_index] if len(line_index) else np.zeros(0, dtype=np.int64)
        # span ordinal within its line, for a unique row key
        ordinal = np.zeros(len(line_numbers), dtype=np.int64)
        if len(line_numbers):
            change = np.ones(len(line_numbers), dtype=bool)
            change[1:] = line_numbers[1:] != line_numbers[:-1]
            starts = np.nonzero(change)[0]
            ordinal = np.arange(len(line_numbers)) - np.repeat(
                starts, np.diff(np.append(starts, len(line_numbers)))
            )
        keys = pc.binary_join_element_wise(
            rel + "#", pc.cast(pa.array(line_numbers), _S), ".", pc.cast(pa.array(ordinal), _S), ""
        )
    else:
        if fmt == "jsonl":
            rows, reason = shape_events(parsed)
        else:
            rows, reason = shape_spend_logs(parsed)
        line_numbers = numbers
        keys = pc.binary_join_element_wise(rel + "#", pc.cast(pa.array(line_numbers), _S), "")
    rows = _drop_secrets(rows)
    rows = rows.append_column(pa.field(ROW_KEY, _S, nullable=False), keys)
    rows = rows.append_column(SOURCE_FILE, pa.repeat(pa.scalar(rel, _S), rows.num_rows))
    rows = rows.append_column(LINE_NUMBER, pa.array(line_numbers, _I))
    loaded_at = loaded_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = rows.append_column(LOADED_AT, pa.repeat(pa.scalar(loaded_at, _S), rows.num_rows))
    invalid = pc.is_valid(reason)
    if pc.any(invalid).as_py():
        bad_rows = rows.filter(invalid)
        reasons = reason.filter(invalid).to_pylist()
        if lines is None:
            lines = data.split(b"\n")
        for number, text in zip(bad_rows[LINE_NUMBER].to_pylist(), reasons, strict=True):
            bad.append((number, text, lines[number - 1].decode("utf-8", errors="replace")))
        rows = rows.filter(pc.invert(invalid))
    return rows, _quarantine_rows(fmt, rel, bad, loaded_at)


def _finish_rows(
    fmt: str, parsed: pa.Table, line_numbers: np.ndarray, files: pa.Array, loaded_at: str
) -> tuple[pa.Table, pa.Array]:
    """Parsed rows of one or more files of a flat format (`files` = each row's path under the
    dir) → (raw rows with row key, file, line and load time; the reason each row is invalid)."""
    if fmt == "jsonl":
        rows, reason = shape_events(parsed)
    else:
        rows, reason = shape_spend_logs(parsed)
    numbers = pa.array(line_numbers, _I)
    keys = pc.binary_join_element_wise(files, pc.cast(numbers, _S), "#")
    rows = _drop_secrets(rows)
    rows = rows.append_column(pa.field(ROW_KEY, _S, nullable=False), keys)
    rows = rows.append_column(SOURCE_FILE, files)
    rows = rows.append_column(LINE_NUMBER, numbers)
    rows = rows.append_column(LOADED_AT, pa.repeat(pa.scalar(loaded_at, _S), rows.num_rows))
    return rows, reason


def _duckdb_type(data_type: pa.DataType, integers: str = "BIGINT") -> str:
    """DuckDB's name of an Arrow type of the format schemas (`integers`: the name for int64)."""
    if pa.types.is_struct(data_type):
        fields = ", ".join(f'"{f.name}" {_duckdb_type(f.type, integers)}' for f in data_type)
        return f"STRUCT({fields})"
    return {"string": "VARCHAR", "int64": integers, "double": "DOUBLE", "bool": "BOOLEAN"}[
        str(data_type)
    ]


def _integer_paths(fields: pa.StructType | pa.Schema, prefix: str = "") -> list[str]:
    """SQL paths (`usage.input_tokens`) of the int64 fields of a schema, nested ones too."""
    paths = []
    for field in fields:
        path = f'{prefix}"{field.name}"'
        if pa.types.is_struct(field.type):
            paths += _integer_paths(field.type, path + ".")
        elif pa.types.is_int64(field.type):
            paths.append(path)
    return paths


def _duckdb_select(schema: pa.Schema, paths: list[Path]) -> str:
    """The query that parses `paths` against a format schema. DuckDB's reader would round a
    fractional number into an integer field, so integers are read as DOUBLE, cast back, and
    a row with a fraction is named in `_not_integer` (quarantined like Arrow's reader does)."""
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    read_columns = ", ".join(f"'{f.name}': '{_duckdb_type(f.type, 'DOUBLE')}'" for f in schema)
    columns = ", ".join(f'cast("{f.name}" as {_duckdb_type(f.type)}) as "{f.name}"' for f in schema)
    checks = " ".join(
        f"when {path} <> floor({path}) then '{path.replace(chr(34), '')}'"
        for path in _integer_paths(schema)
    )
    return (
        f"select {columns}, case {checks} end as _not_integer, file_index "
        f"from read_json([{listed}], format = 'newline_delimited', "
        f"columns = {{{read_columns}}}, maximum_object_size = 16777216)"
    )


_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")  # starts with a literal: a fast scan
_BLANK_FIRST_LINE = re.compile(rb"[ \t\r]*\n")


def _has_blank_lines(path: Path) -> bool:
    """Whether a line before the last one is empty (row i of the file is then not line i)."""
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _BLANK_FIRST_LINE.match(data) is not None or _BLANK_LINE.search(data) is not None


def _parse_with_duckdb(con: duckdb.DuckDBPyConnection, fmt: str, paths: list[Path]) -> pa.Table:
    """Files of a flat format parsed by DuckDB's reader (raises if any line is malformed or
    does not fit the schema): the schema's columns in file and line order, plus
    `_not_integer` and `file_index` (position in `paths`). Order is kept:
    preserve_insertion_order is DuckDB's default."""
    return con.sql(_duckdb_select(SCHEMAS[fmt], paths)).to_arrow_table()


def read_files(
    con: duckdb.DuckDBPyConnection,
    fmt: str,
    items: list[tuple[Path, str]],
    loaded_at: str,
) -> tuple[pa.Table, pa.Table]:
    """A window of files of a flat format (jsonl, litellm) → (raw rows, quarantined lines).

    DuckDB parses the files at once; row i of a file is its line i (a file with blank lines
    skips this path). A file DuckDB rejects (a line that is not JSON or does not fit the
    schema) is read by `read_file`, which finds and quarantines its bad lines; a row that
    parses but fails a check is quarantined here with the text of its line.
    """
    blank = [_has_blank_lines(p) for p, _ in items]
    fast = [item for item, b in zip(items, blank, strict=True) if not b]
    slow = [item for item, b in zip(items, blank, strict=True) if b]
    try:
        parsed = _parse_with_duckdb(con, fmt, [p for p, _ in fast]) if fast else None
    except duckdb.Error:
        parsed, ok = None, []
        for item in fast:  # which files: each on its own (a malformed file is rare)
            try:
                _parse_with_duckdb(con, fmt, [item[0]])
                ok.append(item)
            except duckdb.Error:
                slow.append(item)
        fast = ok
        if fast:
            parsed = _parse_with_duckdb(con, fmt, [p for p, _ in fast])
    tables, quarantined = [], []
    if parsed is not None and parsed.num_rows:
        index = parsed["file_index"].to_numpy()
        not_integer = parsed["_not_integer"]
        parsed = parsed.drop_columns(["file_index", "_not_integer"])
        # files come in order, each one's rows together: line = position in the file's run
        change = np.ones(len(index), dtype=bool)
        change[1:] = index[1:] != index[:-1]
        starts = np.nonzero(change)[0]
        run_start = np.repeat(starts, np.diff(np.append(starts, len(index))))
        line_numbers = np.arange(len(index), dtype=np.int64) - run_start + 1
        rels = pa.array([rel for _, rel in fast], _S)
        files = pc.take(rels, pa.array(index.astype(np.int64)))
        rows, reason = _finish_rows(fmt, parsed, line_numbers, files, loaded_at)
        not_integer = pc.binary_join_element_wise(
            "does not match the format's schema: ", not_integer, " is not an integer", ""
        )
        reason = pc.coalesce(not_integer, reason)
        invalid = pc.is_valid(reason)
        if pc.any(invalid).as_py():
            bad_rows = rows.filter(invalid).select([SOURCE_FILE, LINE_NUMBER])
            reasons = reason.filter(invalid).to_pylist()
            by_file: dict[str, list[tuple[int, str, str]]] = {}
            for rel, number, text in zip(
                bad_rows[SOURCE_FILE].to_pylist(),
                bad_rows[LINE_NUMBER].to_pylist(),
                reasons,
                strict=True,
            ):
                by_file.setdefault(rel, []).append((number, text, ""))
            paths = {rel: p for p, rel in fast}
            for rel, bad in by_file.items():
                lines = paths[rel].read_bytes().split(b"\n")
                bad = [(n, r, lines[n - 1].decode("utf-8", errors="replace")) for n, r, _ in bad]
                quarantined.append(_quarantine_rows(fmt, rel, bad, loaded_at))
            rows = rows.filter(pc.invert(invalid))
        tables.append(rows)
    for path, rel in slow:
        rows, bad = read_file(fmt, path, rel, loaded_at)
        tables.append(rows)
        quarantined.append(bad)
    return (
        pa.concat_tables(tables, promote_options="permissive") if tables else None,
        pa.concat_tables(quarantined) if quarantined else None,
    )


KEY_ID_COLUMNS = (
    "api_key_id",
    "tokenledger__api_key_id",
    "metadata__spend_logs_metadata__provider_api_key_id",
)
SECRET_PATTERN = r"^(sk-|sk_|Bearer )"


def _drop_secrets(rows: pa.Table) -> pa.Table:
    """A key *id* column holding what looks like a secret key is nulled: a key's value never
    reaches a table (the call still counts, as one with an unknown key)."""
    for name in KEY_ID_COLUMNS:
        if name in rows.column_names:
            col = rows[name]
            secret = pc.fill_null(pc.match_substring_regex(col, SECRET_PATTERN), False)
            if pc.any(secret).as_py():
                i = rows.column_names.index(name)
                rows = rows.set_column(i, name, pc.if_else(secret, pa.scalar(None, _S), col))
    return rows


def telemetry_files(directory: Path, fmt: str) -> list[Path]:
    """The format's files under `directory/<fmt>/`, in a stable order."""
    root = directory / fmt
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


Parsed = Iterator[tuple[list[tuple[str, list[int]]], pa.Table | None, pa.Table | None]]
"""(files done as (path under the dir, [size, mtime]), their rows, their quarantined lines)."""


def _read_with_duckdb(fmt: str, todo: list[tuple[Path, str, list[int]]], loaded_at: str) -> Parsed:
    """Windows of files parsed by DuckDB on every core (one in-memory connection), one window
    ahead: the next window is parsed in a worker thread while dlt writes this one's rows
    (DuckDB and Arrow's Parquet writer both release the GIL), in order, at most one window
    held ahead."""
    step = DUCKDB_WINDOW_FILES
    windows = [todo[lo : lo + step] for lo in range(0, len(todo), step)]
    if not windows:
        return
    config = {"threads": PARSE_THREADS, "memory_limit": DUCKDB_MEMORY_LIMIT}
    with (
        duckdb.connect(":memory:", config=config) as con,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="telemetry-parse") as ahead,
    ):

        def parse(window: list[tuple[Path, str, list[int]]]) -> tuple[pa.Table, pa.Table]:
            return read_files(con, fmt, [(p, rel) for p, rel, _ in window], loaded_at)

        pending = ahead.submit(parse, windows[0])
        for i, window in enumerate(windows):
            rows, quarantined = pending.result()
            if i + 1 < len(windows):
                pending = ahead.submit(parse, windows[i + 1])
            yield [(rel, seen) for _, rel, seen in window], rows, quarantined


def _read_with_arrow(fmt: str, todo: list[tuple[Path, str, list[int]]], loaded_at: str) -> Parsed:
    """Files parsed by Arrow's JSON reader, a few at once (it releases the GIL), in order (a
    window of files at a time, so parsed files never pile up ahead of dlt)."""
    window = 4 * PARSE_THREADS
    with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
        for lo in range(0, len(todo), window):
            items = todo[lo : lo + window]
            results = pool.map(lambda item: read_file(fmt, item[0], item[1], loaded_at), items)
            for (_, rel, seen), (rows, quarantined) in zip(items, results, strict=True):
                yield [(rel, seen)], rows, quarantined


def _resource(fmt: str, directory: str | None) -> DltResource:
    table = FORMAT_TABLES[fmt]

    def read_format() -> Iterator[Any]:
        configured = directory or os.environ.get(DIR_ENV)
        if not configured:  # telemetry not configured (e.g. a Dagster run): nothing to read
            log.warning("%s is not set: no telemetry files read", DIR_ENV)
            return
        root = Path(configured)
        if not root.is_dir():
            raise MissingCredentials(f"{DIR_ENV} must name a folder of telemetry files ({root})")
        state = dlt.current.resource_state().setdefault("files", {})
        loaded_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rows_batch: list[pa.Table] = []
        quarantine_batch: list[pa.Table] = []
        pending = 0
        todo = []
        for path in telemetry_files(root, fmt):
            rel = path.relative_to(root).as_posix()
            stat = path.stat()
            seen = [stat.st_size, stat.st_mtime_ns]
            if state.get(rel) != seen:
                todo.append((path, rel, seen))
        if fmt in DUCKDB_FORMATS:
            parsed = _read_with_duckdb(fmt, todo, loaded_at)
        else:
            parsed = _read_with_arrow(fmt, todo, loaded_at)
        for done, rows, quarantined in parsed:
            if rows is not None and rows.num_rows:
                rows_batch.append(rows)
                pending += rows.num_rows
            if quarantined is not None and quarantined.num_rows:
                quarantine_batch.append(quarantined)
            for rel, seen in done:
                state[rel] = seen
            # many small files: hand dlt few large Arrow tables (per-item overhead dominates)
            if pending >= BATCH_ROWS:
                yield pa.concat_tables(rows_batch, promote_options="permissive")
                rows_batch, pending = [], 0
        if rows_batch:
            yield pa.concat_tables(rows_batch, promote_options="permissive")
        if quarantine_batch:
            yield dlt.mark.with_table_name(pa.concat_tables(quarantine_batch), QUARANTINE_TABLE)

    # one write per row: a re-read file's rows are appended with the run's `_loaded_at`; its
    # earlier rows are then superseded (deleted after the load; dbt keeps the newest version)
    return single_write(dlt.resource(read_format, name=table), scope=SOURCE_FILE, version=LOADED_AT)


@dlt.source(name=PROVIDER, max_table_nesting=0)
def telemetry_source(
    start: date | None = None,
    end: date | None = None,
    directory: str | None = dlt.config.value,
) -> list[DltResource]:
    """LLM-call telemetry files under `directory` (or `TOKENLEDGER_TELEMETRY_DIR`).

    `start`/`end` are accepted for the pipeline's uniform call and ignored: files are picked by
    change (new, or size/mtime changed since they were loaded), not by day.
    """
    return [_resource(fmt, directory) for fmt in FORMAT_TABLES]
