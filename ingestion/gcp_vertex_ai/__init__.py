"""dlt source for Google Vertex AI (Gemini) cost from Cloud Billing export files.

Business purpose: land what Google bills for Vertex AI — hourly rows of the standard billing
export (cost before credits, negative credits, SKU, project, labels, location, invoice month)
— raw, so the dbt layer can parse model and token kind out of the SKU description, net the
credits and reconcile. Grain: one row per exported line (`billing_export`), one row per
credit of a line (`billing_export_credits`).

The export is read from files in a folder or bucket laid out as
`<root>/usage_date=YYYY-MM-DD/*.json[.gz]` (newline-delimited JSON, as BigQuery's
`EXPORT DATA ... FORMAT JSON` writes it). A usage day is the unit of replacement: a day whose
files changed since the last load (Google re-exported it after updating hourly rows) is read
again and replaces every row of that day. See README.md beside this file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import dlt
import orjson
import pyarrow as pa
from dlt.sources import DltResource

from ingestion.common import (
    BILLING_ACCOUNT,
    BUCKET_DATE,
    MERGE_HINTS,
    ROW_KEY,
    MissingCredentials,
    log,
    resource_day_window,
    row_keys,
    state_last_day,
)

PROVIDER = "gcp_vertex_ai"
EXPORT_DIR_ENV = "GCP_BILLING_EXPORT_DIR"
DAY_FOLDER = re.compile(r"usage_date=(\d{4}-\d{2}-\d{2})$")
FILE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
MALFORMED = "_malformed_line"
SOURCE_FILE = "_source_file"
MAX_MALFORMED_CHARS = 2000
STATE_FILES = "day_fingerprints"

_STR = pa.string()
EXPORT_COLUMNS: dict[str, pa.DataType] = {
    "billing_account_id": _STR,
    "service__id": _STR,
    "service__description": _STR,
    "sku__id": _STR,
    "sku__description": _STR,
    "usage_start_time": _STR,
    "usage_end_time": _STR,
    "project__id": _STR,
    "project__number": _STR,
    "project__name": _STR,
    "labels": _STR,
    "system_labels": _STR,
    "location__location": _STR,
    "location__country": _STR,
    "location__region": _STR,
    "location__zone": _STR,
    "tags": _STR,
    "export_time": _STR,
    "cost": _STR,
    "currency": _STR,
    "currency_conversion_rate": _STR,
    "usage__amount": _STR,
    "usage__unit": _STR,
    "usage__amount_in_pricing_units": _STR,
    "usage__pricing_unit": _STR,
    "credits": _STR,
    "invoice__month": _STR,
    "cost_type": _STR,
    "cost_at_list": _STR,
    SOURCE_FILE: _STR,
    MALFORMED: _STR,
}
"""Contract columns (flattened with `__`), always present: every value is text as exported
(money never goes through arithmetic here). Other fields land too, as text."""

CREDIT_COLUMNS: dict[str, pa.DataType] = {
    "export_row_key": _STR,
    "credit_index": pa.int64(),
    "name": _STR,
    "amount": _STR,
    "full_name": _STR,
    "id": _STR,
    "type": _STR,
}


@dataclass(frozen=True)
class DayFiles:
    """The export files of one usage day and a fingerprint of their current content."""

    day: date
    paths: tuple[str, ...]
    fingerprint: str


def _filesystem(root: str) -> tuple[Any, str]:
    """An fsspec filesystem and path for a local folder or a bucket URL (`gs://...` needs
    gcsfs installed)."""
    from fsspec.core import url_to_fs

    return url_to_fs(root)


def list_export_days(root: str) -> list[DayFiles]:
    """Every `usage_date=YYYY-MM-DD` folder under `root` with its export files, sorted by day.
    A fingerprint changes when any file of the day is rewritten (size, mtime, etag, md5)."""
    fs, base = _filesystem(root)
    if not fs.exists(base):
        raise MissingCredentials(f"{PROVIDER}: export folder {root!r} does not exist")
    out = []
    for entry in fs.ls(base, detail=True):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        match = DAY_FOLDER.search(name)
        if entry.get("type") != "directory" or not match:
            continue
        files = sorted(
            (f for f in fs.ls(entry["name"], detail=True) if f["name"].endswith(FILE_SUFFIXES)),
            key=lambda f: f["name"],
        )
        if not files:
            continue
        parts = [
            "|".join(
                str(f.get(k))
                for k in ("name", "size", "mtime", "etag", "md5Hash", "generation", "updated")
            )
            for f in files
        ]
        fingerprint = hashlib.md5("\n".join(parts).encode(), usedforsecurity=False).hexdigest()
        out.append(
            DayFiles(
                date.fromisoformat(match.group(1)), tuple(f["name"] for f in files), fingerprint
            )
        )
    return sorted(out, key=lambda d: d.day)


def days_to_read(
    days: list[DayFiles],
    first: date,
    last: date,
    seen: dict[str, str],
    explicit_start: bool,
) -> list[DayFiles]:
    """The day folders one run reads: with an explicit start, every day in [first, last];
    otherwise the days in [first, last] (the trailing lookback) plus any earlier day whose
    files changed since they were last loaded (Google re-exported it)."""
    chosen = []
    for d in days:
        if d.day > last:
            continue
        in_window = d.day >= first
        changed = seen.get(d.day.isoformat()) != d.fingerprint
        if in_window or (not explicit_start and changed):
            chosen.append(d)
    return chosen


def _read_lines(fs: Any, path: str) -> list[str]:
    with fs.open(path, "rb") as fh:
        data = fh.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace").splitlines()


def _text(value: Any) -> str | None:
    """A JSON value as the text the export holds: a FLOAT as the shortest text that is the
    same double (what BigQuery writes), an integer as digits, a REPEATED/RECORD value as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _flatten(record: dict[str, Any], out: dict[str, Any], prefix: str = "") -> None:
    """RECORD fields become `parent__child` columns; everything else becomes text."""
    for key, value in record.items():
        if isinstance(value, dict):
            _flatten(value, out, f"{prefix}{key}__")
        else:
            out[f"{prefix}{key}"] = _text(value)


def _parse(line: str) -> dict[str, Any]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        # orjson refuses integers beyond 64 bits; the standard parser keeps them as text
        record = json.loads(line, parse_float=str, parse_int=str)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    return record


def read_day(fs: Any, day: DayFiles) -> tuple[pa.Table | None, pa.Table | None]:
    """One usage day's export rows and credit rows as Arrow tables.

    Every value lands as text exactly as exported (floats as their shortest round-trip text,
    which is what BigQuery writes; money never passes through arithmetic here). A line that is
    not a JSON object lands with only `_malformed_line` (the text, cut at 2000 characters), so
    dbt quarantines it with its reason instead of the load failing or the line vanishing.
    """
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    credits: list[tuple[int, int, dict[str, Any]]] = []  # (row index, credit index, credit)
    for path in day.paths:
        for number, line in enumerate(_read_lines(fs, path), start=1):
            if not line.strip():
                continue
            flat: dict[str, Any] = {}
            try:
                record = _parse(line)
            except ValueError:
                log.warning("%s: %s line %d is not valid JSON; quarantined", PROVIDER, path, number)
                flat[MALFORMED] = line[:MAX_MALFORMED_CHARS]
            else:
                row_credits = record.get("credits")
                if isinstance(row_credits, list):
                    for i, credit in enumerate(row_credits):
                        if isinstance(credit, dict):
                            credits.append((len(rows), i, credit))
                _flatten(record, flat)
            flat[SOURCE_FILE] = path
            rows.append(flat)
            texts.append(line)
    if not rows:
        return None, None
    n = len(rows)
    keys = row_keys([pa.array([day.day.isoformat()] * n), pa.array(texts)])
    names: dict[str, None] = dict.fromkeys(EXPORT_COLUMNS)
    for row in rows:
        names.update(dict.fromkeys(row))
    arrays = {name: pa.array([row.get(name) for row in rows], _STR) for name in names}
    account = next((r.get("billing_account_id") for r in rows if r.get("billing_account_id")), None)
    export = _with_keys(arrays, keys, day.day, account)

    credit_table = None
    if credits:
        key_list = keys.to_pylist()
        c_arrays = {
            "export_row_key": pa.array([key_list[r] for r, _, _ in credits], _STR),
            "credit_index": pa.array([i for _, i, _ in credits], pa.int64()),
        }
        for name in ("name", "amount", "full_name", "id", "type"):
            values = [_text(c.get(name)) for _, _, c in credits]
            c_arrays[name] = pa.array(values, CREDIT_COLUMNS[name])
        c_keys = row_keys([c_arrays["export_row_key"], c_arrays["credit_index"]])
        credit_table = _with_keys(c_arrays, c_keys, day.day, account)
    return export, credit_table


def _with_keys(
    arrays: dict[str, pa.Array], keys: pa.Array, day: date, account: str | None
) -> pa.Table:
    n = len(keys)
    fields = [pa.field(name, array.type) for name, array in arrays.items()]
    fields += [
        pa.field(ROW_KEY, pa.string(), nullable=False),
        pa.field(BUCKET_DATE, pa.date32(), nullable=False),
        pa.field(BILLING_ACCOUNT, pa.string()),
    ]
    data = list(arrays.values()) + [
        keys,
        pa.array([day] * n, type=pa.date32()),
        pa.array([account] * n, type=pa.string()),
    ]
    return pa.Table.from_arrays(data, schema=pa.schema(fields))


def _resource(
    table: str, start: date | None, end: date | None, export_dir: str | None
) -> DltResource:
    def read_exports() -> Iterator[pa.Table]:
        root = export_dir or os.environ.get(EXPORT_DIR_ENV)
        if not root:
            raise MissingCredentials(
                f"{PROVIDER}: no export folder; set {EXPORT_DIR_ENV} "
                f"or sources.{PROVIDER}.export_dir"
            )
        state, first, last, today = resource_day_window(start, end)
        if start is None and state_last_day(state) is None:
            first = date.min  # first run: every exported day
        seen: dict[str, str] = state.setdefault(STATE_FILES, {})
        fs, _ = _filesystem(root)
        days = list_export_days(root)
        for day in days_to_read(days, first, last, seen, explicit_start=start is not None):
            export, credit_rows = read_day(fs, day)
            out = export if table == "billing_export" else credit_rows
            if out is not None:
                yield out
            seen[day.day.isoformat()] = day.fingerprint
        loaded = [d.day for d in days if d.day <= last]
        current = state_last_day(state)
        if loaded and (current is None or max(loaded) > current):
            state["last_loaded_day"] = min(max(loaded), today).isoformat()

    return dlt.resource(read_exports, name=table, **MERGE_HINTS)


@dlt.source(name=PROVIDER, max_table_nesting=0)
def gcp_vertex_ai_source(
    start: date | None = None,
    end: date | None = None,
    export_dir: str | None = dlt.config.value,
) -> list[DltResource]:
    """Vertex AI billing export rows and their credits for the usage days [start, end].

    `start` None: every day whose files changed since the last load, plus the trailing
    TOKENLEDGER_LOOKBACK_DAYS (a first run reads every exported day); `end` None means today.
    The folder/bucket comes from `export_dir` (dlt config `sources.gcp_vertex_ai.export_dir`)
    or GCP_BILLING_EXPORT_DIR. Nothing is read until the resources run.
    """
    return [
        _resource(table, start, end, export_dir)
        for table in ("billing_export", "billing_export_credits")
    ]


__all__ = [
    "EXPORT_DIR_ENV",
    "days_to_read",
    "gcp_vertex_ai_source",
    "list_export_days",
    "read_day",
]
