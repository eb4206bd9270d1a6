"""dlt source for FOCUS 1.2 cost-and-usage exports (AWS Data Exports, Azure Cost Management,
the GCP BigQuery FOCUS view extracted to files), read from a folder.

Business purpose: land the rest of the cloud bill (EC2, Kubernetes, storage, databases,
marketplace SaaS such as Snowflake, and the clouds' AI services) raw, beside the AI providers'
own bills, so the marts can answer AI vs non-AI spend per team. Grain: one row per row of an
export file. A *delivery* (one billing period of one export) is the unit of loading: when any
file of a delivery is new or changed, the whole delivery is re-read and replaces the rows it
loaded before; unchanged deliveries are skipped. See README.md beside this file.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from dlt.sources import DltResource

from ingestion.common import BILLING_ACCOUNT, ROW_KEY, ProviderAPIError, row_keys

log = logging.getLogger("ingestion")

PROVIDER = "focus"
EXPORTS_DIR_ENV = "TOKENLEDGER_FOCUS_EXPORTS_DIR"
ADMIN_KEY_ENV = EXPORTS_DIR_ENV  # "configured" = the env var names the folder
RESOURCE = "cost_and_usage"
EXPORT_PARTITION = "_export_partition"
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row_number"
STATE_KEY = "delivery_fingerprints"

FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
_AZURE_PERIOD = re.compile(r"^\d{8}-\d{8}$")

MERGE_HINTS = {
    "primary_key": ROW_KEY,
    "write_disposition": {
        "disposition": "merge",
        "strategy": "delete-insert",
        # a re-delivered billing period replaces every row it loaded before
        "destination_scope": (
            f"{EXPORT_PARTITION} IN (SELECT {EXPORT_PARTITION} FROM {{staging_table}})"
        ),
        "deduplicated": True,
    },
}


class FocusExportError(ProviderAPIError):
    """A FOCUS export folder or file cannot be read: names the file and the parser's reason."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(PROVIDER, what, "unreadable", 1, detail)


@dataclass(frozen=True)
class Delivery:
    """One billing period of one export: the files of its newest run."""

    partition: str  # folder path relative to the exports root, run folder excluded
    files: tuple[Path, ...]

    def fingerprint(self, root: Path) -> str:
        parts = []
        for f in self.files:
            st = f.stat()
            parts.append(f"{f.relative_to(root).as_posix()}:{st.st_size}:{st.st_mtime_ns}")
        return "|".join(sorted(parts))


def _is_export_file(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(FILE_SUFFIXES) and not name.startswith(".")


def _run_order(run_dir: Path) -> tuple[str, int]:
    """Sort key of an Azure run folder: its manifest's submittedTime, then newest mtime."""
    submitted = ""
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        try:
            submitted = json.loads(manifest.read_text())["runInfo"]["submittedTime"] or ""
        except (ValueError, KeyError, TypeError):
            submitted = ""
    mtimes = [f.stat().st_mtime_ns for f in run_dir.rglob("*") if f.is_file()]
    return submitted, max(mtimes, default=0)


def discover_deliveries(root: Path) -> list[Delivery]:
    """The deliveries under `root`: files grouped by their folder (AWS `BILLING_PERIOD=…`,
    GCP month folders); under an Azure `YYYYMMDD-YYYYMMDD` folder only the newest run."""
    groups: dict[str, list[Path]] = {}
    azure_runs: dict[str, dict[Path, list[Path]]] = {}
    for path in sorted(root.rglob("*")):
        if not _is_export_file(path):
            continue
        rel = path.relative_to(root).parts[:-1]
        period_at = next((i for i, p in enumerate(rel) if _AZURE_PERIOD.match(p)), None)
        if period_at is not None and period_at + 1 < len(rel):
            partition = "/".join(rel[: period_at + 1])
            run_dir = root.joinpath(*rel[: period_at + 2])
            azure_runs.setdefault(partition, {}).setdefault(run_dir, []).append(path)
        else:
            groups.setdefault("/".join(rel) or ".", []).append(path)
    for partition, runs in azure_runs.items():
        newest = max(runs, key=_run_order)
        groups[partition] = runs[newest]
    return [Delivery(p, tuple(sorted(files))) for p, files in sorted(groups.items())]


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as text exactly as the file states it: timestamps as ISO 8601 UTC (`Z`),
    numbers in their shortest round-trip form, JSON/nested values as JSON text."""
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.cast(column, pa.string())
    if pa.types.is_timestamp(t):
        utc = column if t.tz else pc.assume_timezone(column, "UTC")
        seconds = pc.cast(utc, pa.timestamp("s", tz="UTC"), safe=False)
        return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_nested(t):
        return pa.chunked_array(
            [
                pa.array(
                    [None if v is None else json.dumps(v) for v in column.to_pylist()], pa.string()
                )
            ]
        )
    return pc.cast(column, pa.string())


def read_export_file(path: Path) -> pa.Table:
    """One export file (parquet, CSV, CSV gzip) as an Arrow table of text columns."""
    try:
        if path.name.lower().endswith(".parquet"):
            table = pq.read_table(path)
        else:
            with pacsv.open_csv(path) as reader:
                names = reader.schema.names
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=True,
                    null_values=[""],
                ),
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise FocusExportError(f"export file {path}", str(exc)) from exc
    return pa.table({name: _as_text(table[name]) for name in table.column_names})


def read_delivery(root: Path, delivery: Delivery) -> Iterator[pa.Table]:
    """The rows of a delivery's files, each with its partition, file, row number and key."""
    for path in delivery.files:
        table = read_export_file(path)
        n = table.num_rows
        if n == 0:
            continue
        rel = path.relative_to(root).as_posix()
        partition = pa.array([delivery.partition] * n, pa.string())
        source = pa.array([rel] * n, pa.string())
        rownum = pa.array(range(1, n + 1), pa.int64())
        account = (
            table["BillingAccountId"]
            if "BillingAccountId" in table.column_names
            else pa.nulls(n, pa.string())
        )
        table = (
            table.append_column(
                pa.field(ROW_KEY, pa.string(), nullable=False),
                row_keys([partition, source, rownum]),
            )
            .append_column(EXPORT_PARTITION, partition)
            .append_column(SOURCE_FILE, source)
            .append_column(SOURCE_ROW, rownum)
            .append_column(BILLING_ACCOUNT, account)
        )
        yield table


def exports_root(exports_dir: str | None) -> Path | None:
    """The configured exports folder; None when unset (not configured: nothing to load, the
    models build empty); a clear error when it names a folder that does not exist."""
    value = exports_dir or os.environ.get(EXPORTS_DIR_ENV)
    if not value:
        log.info("focus: %s is not set; no FOCUS exports to load", EXPORTS_DIR_ENV)
        return None
    root = Path(value)
    if not root.is_dir():
        raise FocusExportError(f"exports folder {root}", "no such folder")
    return root


@dlt.source(name=PROVIDER, max_table_nesting=0)
def focus_source(
    start: date | None = None,
    end: date | None = None,
    exports_dir: str | None = dlt.config.value,
) -> list[DltResource]:
    """FOCUS cost-and-usage rows of every new or changed delivery under the exports folder.

    `exports_dir` (dlt config `sources.focus.exports_dir`) or `TOKENLEDGER_FOCUS_EXPORTS_DIR`
    names the folder. `start`/`end` are accepted for the common signature and ignored: a
    delivery (a whole billing period) is always loaded whole, so that it can replace itself.
    """

    def cost_and_usage() -> Iterator[pa.Table]:
        root = exports_root(exports_dir)
        if root is None:
            return
        state = dlt.current.resource_state()
        seen: dict[str, str] = state.setdefault(STATE_KEY, {})
        done: dict[str, str] = {}
        for delivery in discover_deliveries(root):
            fingerprint = delivery.fingerprint(root)
            if seen.get(delivery.partition) == fingerprint:
                continue
            yield from read_delivery(root, delivery)
            done[delivery.partition] = fingerprint
        seen.update(done)

    return [dlt.resource(cost_and_usage, name=RESOURCE, **MERGE_HINTS)]
