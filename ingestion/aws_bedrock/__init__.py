"""dlt source for AWS Bedrock spend: CUR 2.0 parquet exports in S3 and Cost Explorer.

Business purpose: land what AWS bills for Bedrock, raw. The CUR 2.0 export (Data Exports,
`COST_AND_USAGE_REPORT`) is the fact's source: one row per line item (UTC day × usage account
× usage type × IAM principal × resource × line item type) with tags, principal and
Usage/Credit/Refund/Tax line types. Cost Explorer's `GetCostAndUsage` (DAILY, grouped by usage
type and the cost-allocation tag) lands beside it for reconciliation and as the early view
(it is available hours before the export is refreshed); it never feeds the fact, so the same
spend is never counted twice. See README.md beside this file.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dlt
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dlt.sources import DltResource

from ingestion.common import (
    BILLING_ACCOUNT,
    BUCKET_DATE,
    DEFAULT_RETRY_POLICY,
    MERGE_HINTS,
    ROW_KEY,
    ProviderAPIError,
    RetryPolicy,
    advance_state,
    register_secret,
    resource_day_window,
    row_keys,
    single_write,
)

log = logging.getLogger("ingestion")

PROVIDER = "aws_bedrock"
CUR_URI_ENV = "TOKENLEDGER_AWS_CUR_S3_URI"
"""`s3://<bucket>/<prefix>/<export-name>`: the CUR 2.0 export; its presence configures AWS."""
COST_EXPLORER_ENV = "TOKENLEDGER_AWS_COST_EXPLORER"
"""`off` skips Cost Explorer (each GetCostAndUsage page costs $0.01 on real AWS)."""
CE_TAG_KEY_ENV = "TOKENLEDGER_AWS_CE_TAG_KEY"
DEFAULT_CE_TAG_KEY = "team"
PRODUCT_CODES_ENV = "TOKENLEDGER_AWS_PRODUCT_CODES"
DEFAULT_PRODUCT_CODES = ("AmazonBedrock",)
CE_SERVICE = "Amazon Bedrock"
BILLING_PERIOD = "_billing_period"
SOURCE_FILE = "_source_file"
SECRET_ENVS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")

SOURCE_ROW_NUMBER = "_source_row_number"

CUR_COLUMNS_ENV = "TOKENLEDGER_AWS_CUR_COLUMNS"
"""Unset: land `CUR_COLUMNS`; `all`: every column of the export; else a comma list of extra
CUR columns to land beside `CUR_COLUMNS`."""
CUR_COLUMNS = (
    "bill_payer_account_id",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_resource_id",
    "line_item_iam_principal",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_line_item_type",
    "line_item_product_code",
    "line_item_line_item_description",
    "line_item_usage_start_date",
    "line_item_usage_amount",
    "line_item_currency_code",
    "line_item_unblended_cost",
    "line_item_net_unblended_cost",
    "pricing_public_on_demand_cost",
    "product_region_code",
    "resource_tags",
)
"""The CUR 2.0 columns landed by default: what the models read. Every column costs load time
(DuckDB stores ~0.13 CPU-s per column per million rows, ~1 CPU-s for the unique
`identity_line_item_id`), and a real export has ~125 (reservations, savings plans, discounts,
…): `TOKENLEDGER_AWS_CUR_COLUMNS=identity_line_item_id` adds AWS's line item id (a line is
already identified by `_source_file` × `_source_row_number`), `all` lands every column."""

RETRYABLE_AWS_ERRORS = frozenset(
    {
        "LimitExceededException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalServerException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
    }
)

T = TypeVar("T")


class MalformedResponse(Exception):
    """A 2xx response whose body is not what the operation returns (botocore hands back
    `{"message": <raw text>}` for a body that is not JSON): retried, never taken as data."""


# --------------------------------------------------------------------------- AWS plumbing
def _register_aws_secrets() -> None:
    """AWS credentials from the environment never reach a log line."""
    for name in SECRET_ENVS:
        register_secret(os.environ.get(name))


def aws_client(service: str) -> Any:
    """A boto3 client with the SDK's own retries off (ours honour LimitExceededException).

    Credentials and endpoints come from boto3's usual chain: `AWS_ACCESS_KEY_ID` /
    `AWS_SECRET_ACCESS_KEY` (or a profile, SSO, an instance role), `AWS_ENDPOINT_URL_S3` /
    `AWS_ENDPOINT_URL_COST_EXPLORER` to point elsewhere (the simulator, moto)."""
    import boto3
    from botocore.config import Config

    _register_aws_secrets()
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
    )
    region = "us-east-1" if service == "ce" else os.environ.get("AWS_REGION")
    return boto3.client(service, region_name=region or "us-east-1", config=config)


def call_aws(
    call: Callable[[], T],
    *,
    endpoint: str,
    policy: RetryPolicy | None = None,
) -> T:
    """`call()` retried on throttling (`LimitExceededException`, `Throttling…`), 5xx,
    connection failures and garbled responses, with the shared backoff policy; any other
    AWS error fails at once as `ProviderAPIError` (code and message, never a credential)."""
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.parsers import ResponseParserError

    policy = policy or DEFAULT_RETRY_POLICY
    status = "no response"
    detail = ""
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return call()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "")
            http = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            status, detail = f"{code} (HTTP {http})", str(error.get("Message") or "")[:300]
            if code not in RETRYABLE_AWS_ERRORS and http < 500:
                raise ProviderAPIError(PROVIDER, endpoint, status, attempt, detail) from None
        except (
            BotoConnectionError,
            HTTPClientError,
            ResponseParserError,
            MalformedResponse,
        ) as exc:
            status, detail = type(exc).__name__, str(exc)[:300]
        except BotoCoreError as exc:
            raise ProviderAPIError(
                PROVIDER, endpoint, type(exc).__name__, attempt, str(exc)[:300]
            ) from None
        if attempt == policy.max_attempts:
            break
        wait = policy.delay(attempt, None)
        log.warning(
            "%s %s: %s (attempt %d/%d), retrying in %.1fs",
            PROVIDER,
            endpoint,
            status,
            attempt,
            policy.max_attempts,
            wait,
        )
        policy.sleep(wait)
    raise ProviderAPIError(PROVIDER, endpoint, status, policy.max_attempts, detail)


# --------------------------------------------------------------------------- Cost Explorer
CE_COLUMNS: dict[str, pa.DataType] = {
    "time_period_start": pa.string(),
    "time_period_end": pa.string(),
    "estimated": pa.bool_(),
    "usage_type": pa.string(),
    "tag": pa.string(),
    "unblended_cost__amount": pa.string(),
    "unblended_cost__unit": pa.string(),
    "usage_quantity__amount": pa.string(),
    "usage_quantity__unit": pa.string(),
}


def cost_explorer_request(first: date, last: date, tag_key: str) -> dict[str, Any]:
    """GetCostAndUsage arguments for UTC days [first, last] (the API's End is exclusive)."""
    return {
        "TimePeriod": {
            "Start": first.isoformat(),
            "End": (last + timedelta(days=1)).isoformat(),
        },
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost", "UsageQuantity"],
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": [CE_SERVICE]}},
        "GroupBy": [
            {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
            {"Type": "TAG", "Key": tag_key},
        ],
    }


def cost_explorer_page_to_arrow(page: dict[str, Any]) -> pa.Table | None:
    """One GetCostAndUsage page as rows: day × usage type × tag, amounts as served (text)."""
    cols: dict[str, list] = {name: [] for name in CE_COLUMNS}
    for period in page.get("ResultsByTime") or []:
        for group in period.get("Groups") or []:
            keys = list(group.get("Keys") or []) + [None, None]
            metrics = group.get("Metrics") or {}
            cost = metrics.get("UnblendedCost") or {}
            qty = metrics.get("UsageQuantity") or {}
            cols["time_period_start"].append(period["TimePeriod"]["Start"])
            cols["time_period_end"].append(period["TimePeriod"]["End"])
            cols["estimated"].append(bool(period.get("Estimated")))
            cols["usage_type"].append(keys[0])
            cols["tag"].append(keys[1])
            cols["unblended_cost__amount"].append(cost.get("Amount"))
            cols["unblended_cost__unit"].append(cost.get("Unit"))
            cols["usage_quantity__amount"].append(qty.get("Amount"))
            cols["usage_quantity__unit"].append(qty.get("Unit"))
    n = len(cols["time_period_start"])
    if not n:
        return None
    arrays = {
        name: pa.array(values, type_)
        for (name, type_), values in zip(CE_COLUMNS.items(), cols.values(), strict=True)
    }
    days = pa.array([date.fromisoformat(d) for d in cols["time_period_start"]], pa.date32())
    arrays[ROW_KEY] = row_keys([arrays["time_period_start"], arrays["usage_type"], arrays["tag"]])
    arrays[BUCKET_DATE] = days
    arrays[BILLING_ACCOUNT] = pa.nulls(n, pa.string())
    fields = [
        pa.field(name, array.type, nullable=name not in (ROW_KEY, BUCKET_DATE))
        for name, array in arrays.items()
    ]
    return pa.Table.from_arrays(list(arrays.values()), schema=pa.schema(fields))


def _checked_page(page: dict[str, Any]) -> dict[str, Any]:
    """The page if it has the GetCostAndUsage shape; a garbled one would otherwise read as
    a last page with no rows (no `NextPageToken`) and silently cut the range short."""
    if not isinstance(page.get("ResultsByTime"), list):
        raise MalformedResponse("GetCostAndUsage response without ResultsByTime")
    return page


def fetch_cost_explorer(
    client: Any, first: date, last: date, tag_key: str, policy: RetryPolicy | None = None
) -> Iterator[pa.Table]:
    """Arrow tables, one per page, of Bedrock's daily cost by usage type × tag for UTC days
    [first, last], following `NextPageToken` (botocore has no paginator for this call)."""
    request = cost_explorer_request(first, last, tag_key)
    seen: set[str] = set()
    token: str | None = None
    while True:
        args = request if token is None else {**request, "NextPageToken": token}
        page = call_aws(
            lambda args=args: _checked_page(client.get_cost_and_usage(**args)),
            endpoint="ce:GetCostAndUsage",
            policy=policy,
        )
        table = cost_explorer_page_to_arrow(page)
        if table is not None:
            yield table
        token = page.get("NextPageToken")
        if not token:
            return
        if token in seen:
            raise ProviderAPIError(PROVIDER, "ce:GetCostAndUsage", "a repeated page token", 1, "")
        seen.add(token)


# --------------------------------------------------------------------------- CUR 2.0
def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix/export-name` → (bucket, `prefix/export-name`)."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise ValueError(f"{CUR_URI_ENV} must look like s3://<bucket>/<prefix>/<export-name>")
    return parts.netloc, parts.path.strip("/")


def billing_periods(first: date, last: date) -> list[str]:
    """The `YYYY-MM` billing periods that UTC days [first, last] touch."""
    out = []
    month = first.replace(day=1)
    while month <= last:
        out.append(month.strftime("%Y-%m"))
        month = (month + timedelta(days=32)).replace(day=1)
    return out


def current_data_files(client: Any, bucket: str, base: str, period: str) -> list[str]:
    """Keys of the current delivery of one billing period.

    The period's `Manifest.json` names them (AWS's advice: read the list, do not glob: with
    "create new export file" versioning the old deliveries stay beside the new one). Without a
    manifest ("overwrite" versioning, or a hand-made export) every parquet file of the
    partition is current."""
    partition = f"BILLING_PERIOD={period}"
    export_name = base.rsplit("/", 1)[-1]
    manifest_key = f"{base}/metadata/{partition}/{export_name}-Manifest.json"
    from botocore.exceptions import ClientError

    def get_manifest() -> dict | None:
        try:
            body = client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(body)

    manifest = call_aws(get_manifest, endpoint="s3:GetObject manifest")
    if manifest is not None:
        keys = []
        for uri in manifest.get("dataFiles") or []:
            file_bucket, key = parse_s3_uri(uri) if uri.startswith("s3://") else (bucket, uri)
            if file_bucket != bucket:
                raise ProviderAPIError(
                    PROVIDER, "s3 manifest", "data file in another bucket", 1, file_bucket
                )
            keys.append(key)
        return keys

    def list_partition() -> list[str]:
        keys: list[str] = []
        token = None
        while True:
            kwargs = {"Bucket": bucket, "Prefix": f"{base}/data/{partition}/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = client.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents") or [] if o["Key"].endswith(".parquet")]
            token = page.get("NextContinuationToken")
            if not token:
                return sorted(keys)

    return call_aws(list_partition, endpoint="s3:ListObjectsV2")


def _json_escape(array: pa.Array) -> pa.Array:
    array = pc.replace_substring(array, "\\", "\\\\")
    array = pc.replace_substring(array, '"', '\\"')
    return pc.replace_substring_regex(array, r"[\x00-\x1f]", " ")


def _json_strings(values: pa.Array) -> pa.Array:
    """JSON string literals (`"..."`) of text values; null stays null."""
    return pc.binary_join_element_wise('"', _json_escape(values), '"', "")


def _first_positions(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Index of the first element of each code 0..n_codes-1 in `codes`."""
    first = np.full(n_codes, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return first


def map_to_json(array: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A `map<string,string>` column (CUR 2.0 `resource_tags`, `product`, …) as JSON object
    text with keys sorted; empty or null maps → null.

    Vectorised for millions of rows: tag sets repeat, so each distinct (key, value) pair and
    each distinct row of pairs is rendered once and then taken by index."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks else pa.array([], array.type)
    n = len(array)
    offsets = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.diff(offsets)
    entries = int(counts.sum())
    if entries == 0:
        return pa.nulls(n, pa.string())
    keys = pc.dictionary_encode(array.keys.slice(offsets[0], entries))
    items = pc.dictionary_encode(array.items.slice(offsets[0], entries))
    # keys ranked alphabetically, then entries ordered by (row, key rank)
    key_rank = np.argsort(np.argsort(np.array(keys.dictionary.to_pylist(), dtype=object)))
    k_idx = key_rank[keys.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
    v_codes = pc.fill_null(items.indices, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    v_idx = np.where(pc.is_null(items.indices).to_numpy(zero_copy_only=False), -1, v_codes)
    entry_row = np.repeat(np.arange(n, dtype=np.int64), counts)
    # rows ascend already, keys are permuted within a row: timsort on this is near-linear
    order = np.argsort(entry_row * len(key_rank) + k_idx, kind="stable")
    k_idx, v_idx = k_idx[order], v_idx[order]
    # distinct (key, value) pairs rendered once (hash factorisation, no sort)
    n_values = len(items.dictionary) + 1
    pair = k_idx.astype(np.int64) * n_values + (v_idx + 1)
    pair_of_entry, pair_codes = pd.factorize(pair, sort=False)
    sorted_keys = pc.take(keys.dictionary, pa.array(np.argsort(key_rank)))
    pk = pc.take(sorted_keys, pa.array(pair_codes // n_values))
    pv_code = pair_codes % n_values - 1
    pv = pc.take(items.dictionary, pa.array(np.where(pv_code < 0, 0, pv_code)))
    value_text = pc.if_else(
        pa.array(pv_code < 0), pa.scalar("null"), _json_strings(pc.fill_null(pv, ""))
    )
    pair_text = pc.binary_join_element_wise(_json_strings(pk), value_text, ":")
    # distinct rows of pairs rendered once (padded matrix of pair ids, for short maps)
    width = int(counts.max())
    list_offsets = np.concatenate([[0], np.cumsum(counts)])
    bits = max(1, int(len(pair_codes) + 1).bit_length())
    if width * bits <= 62:  # a row's pairs fit one int64: factorise rows by it
        matrix = np.full((n, width), -1, dtype=np.int64)
        position = np.arange(entries) - np.repeat(list_offsets[:-1], counts)
        matrix[entry_row, position] = pair_of_entry
        shift = np.arange(width, dtype=np.int64) * bits
        row_key = ((matrix + 1) << shift).sum(axis=1)
        row_of, first_row = pd.factorize(row_key, sort=False)
        rows = matrix[_first_positions(row_of, len(first_row))]
        row_counts = (rows >= 0).sum(axis=1)
        flat = rows[rows >= 0]
        texts = pc.take(pair_text, pa.array(flat))
        row_offsets = pa.array(np.concatenate([[0], np.cumsum(row_counts)]), pa.int32())
        joined = pc.binary_join(pa.ListArray.from_arrays(row_offsets, texts), ",")
        rendered = pc.binary_join_element_wise("{", joined, "}", "")
        # dictionary-encoded: each distinct tag set is stored once (dlt and parquet keep it)
        empty = (row_counts == 0)[row_of]
        if array.null_count:
            empty |= pc.is_null(array).to_numpy(zero_copy_only=False)
        return pa.DictionaryArray.from_arrays(
            pa.array(row_of.astype(np.int32), mask=empty), rendered
        )
    else:
        texts = pc.take(pair_text, pa.array(pair_of_entry))
        joined = pc.binary_join(
            pa.ListArray.from_arrays(pa.array(list_offsets, pa.int32()), texts), ","
        )
        text = pc.binary_join_element_wise("{", joined, "}", "")
        text = pc.if_else(pa.array(counts == 0), pa.nulls(n, pa.string()), text)
    if array.null_count:
        text = pc.if_else(pc.is_null(array), pa.nulls(n, pa.string()), text)
    return text


def cur_columns() -> tuple[str, ...] | None:
    """The CUR columns to land (None: all), from `TOKENLEDGER_AWS_CUR_COLUMNS`."""
    raw = os.environ.get(CUR_COLUMNS_ENV, "").strip()
    if raw.lower() == "all":
        return None
    extra = tuple(c.strip() for c in raw.split(",") if c.strip() and c.strip() not in CUR_COLUMNS)
    return CUR_COLUMNS + extra


def cur_file_to_arrow(
    data: bytes,
    *,
    period: str,
    source: str,
    product_codes: tuple[str, ...],
    columns: tuple[str, ...] | None = CUR_COLUMNS,
) -> pa.Table:
    """One CUR 2.0 parquet file as the raw table's rows: the selected products' line items,
    the `columns` the file has (None: all; map columns as JSON text), plus
    `_source_row_number` (the line's 0-based position in its file: with `_source_file` it
    identifies a line, since AWS keeps `identity_line_item_id` unique only within a file),
    `_bucket_date` (UTC day of the usage start), `_billing_account_id` (payer),
    `_billing_period` and `_source_file`."""
    schema = pq.read_schema(io.BytesIO(data))
    wanted = [
        f
        for f in schema
        if columns is None or f.name in columns or f.name == "line_item_product_code"
    ]
    # low-cardinality text (account, usage type, description) stays dictionary-encoded
    text = [
        f.name
        for f in wanted
        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        and f.name != "identity_line_item_id"  # unique per line: a dictionary would not pay
    ]
    table = pq.read_table(io.BytesIO(data), columns=[f.name for f in wanted], read_dictionary=text)
    row_number = pa.array(np.arange(table.num_rows, dtype=np.int64))
    if "line_item_product_code" in table.column_names:
        keep = pc.is_in(table["line_item_product_code"], pa.array(product_codes))
        table, row_number = table.filter(keep), row_number.filter(pc.fill_null(keep, False))
    n = table.num_rows
    out = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_map(column.type):
            out[name] = map_to_json(column)
        elif pa.types.is_timestamp(column.type) and column.type.tz is None:
            out[name] = pc.cast(column, pa.timestamp("us", tz="UTC"))
        else:
            out[name] = column
    start = table["line_item_usage_start_date"] if n else pa.array([], pa.timestamp("ms"))
    if isinstance(start, pa.ChunkedArray):
        start = start.combine_chunks()
    out[SOURCE_ROW_NUMBER] = row_number
    out[BUCKET_DATE] = pc.cast(start, pa.date32()) if n else pa.array([], pa.date32())
    payer = (
        table["bill_payer_account_id"]
        if "bill_payer_account_id" in table.column_names
        else pa.nulls(n, pa.string())
    )
    out[BILLING_ACCOUNT] = payer
    # constants: one dictionary value each
    zeros = pa.array(np.zeros(n, dtype=np.int32))
    out[BILLING_PERIOD] = pa.DictionaryArray.from_arrays(zeros, pa.array([period]))
    out[SOURCE_FILE] = pa.DictionaryArray.from_arrays(zeros, pa.array([source]))
    return pa.table(out)


def fetch_cur(
    client: Any,
    uri: str,
    first: date,
    last: date,
    product_codes: tuple[str, ...] = DEFAULT_PRODUCT_CODES,
) -> Iterator[pa.Table]:
    """Arrow tables of the current delivery of every billing period that UTC days
    [first, last] touch (whole periods: a period is the unit AWS re-delivers)."""
    bucket, base = parse_s3_uri(uri)
    columns = cur_columns()

    def read(item: tuple[str, str]) -> pa.Table:
        period, key = item
        data = call_aws(
            lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read(),
            endpoint="s3:GetObject",
        )
        return cur_file_to_arrow(
            data,
            period=period,
            source=f"s3://{bucket}/{key}",
            product_codes=product_codes,
            columns=columns,
        )

    files = []
    for period in billing_periods(first, last):
        keys = current_data_files(client, bucket, base, period)
        if not keys:
            log.info("%s: no CUR delivery for billing period %s yet", PROVIDER, period)
        files += [(period, key) for key in keys]
    # one file ahead: the next file downloads and decodes (Arrow releases the GIL) while dlt
    # writes this one
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = [pool.submit(read, item) for item in files[:1]]
        for item in files[1:] + [None]:
            if item is not None:
                ahead.append(pool.submit(read, item))
            table = ahead.pop(0).result()
            if table.num_rows:
                yield table


# --------------------------------------------------------------------------- dlt source
def _product_codes() -> tuple[str, ...]:
    raw = os.environ.get(PRODUCT_CODES_ENV, "")
    codes = tuple(c.strip() for c in raw.split(",") if c.strip())
    return codes or DEFAULT_PRODUCT_CODES


def _cur_resource(start: date | None, end: date | None, cur_uri: str | None) -> DltResource:
    def cur_line_items() -> Iterator[pa.Table]:
        uri = cur_uri or os.environ.get(CUR_URI_ENV)
        if not uri:
            raise ProviderAPIError(PROVIDER, "CUR 2.0", f"{CUR_URI_ENV} not set", 0, "")
        state, first, last, today = resource_day_window(start, end)
        yield from fetch_cur(aws_client("s3"), uri, first, last, _product_codes())
        advance_state(state, last, today)

    # whole deliveries of a billing period: AWS re-delivers every file of an open (or recently
    # closed) period, never across periods (ingestion.common.single_write)
    return single_write(dlt.resource(cur_line_items, name="cur_line_items"), scope=BILLING_PERIOD)


def _ce_resource(start: date | None, end: date | None) -> DltResource:
    def cost_explorer() -> Iterator[pa.Table]:
        if not cost_explorer_enabled():
            log.info("%s: Cost Explorer skipped (%s=off)", PROVIDER, COST_EXPLORER_ENV)
            return
        state, first, last, today = resource_day_window(start, end)
        tag_key = os.environ.get(CE_TAG_KEY_ENV) or DEFAULT_CE_TAG_KEY
        yield from fetch_cost_explorer(aws_client("ce"), first, last, tag_key)
        advance_state(state, last, today)

    return dlt.resource(cost_explorer, name="cost_explorer", **MERGE_HINTS)


def cost_explorer_enabled() -> bool:
    """Cost Explorer runs unless `TOKENLEDGER_AWS_COST_EXPLORER` is `off`/`0`/`false`."""
    return os.environ.get(COST_EXPLORER_ENV, "on").strip().lower() not in ("off", "0", "false")


@dlt.source(name=PROVIDER, max_table_nesting=0)
def aws_bedrock_source(
    start: date | None = None,
    end: date | None = None,
    cur_s3_uri: str | None = dlt.config.value,
) -> list[DltResource]:
    """AWS Bedrock billing for the UTC days [start, end]: `cur_line_items` (CUR 2.0, whole
    billing periods touching the range) and `cost_explorer` (GetCostAndUsage, those days).

    `start` None resumes from the last loaded day minus TOKENLEDGER_LOOKBACK_DAYS. The export
    comes from `cur_s3_uri` (dlt config `sources.aws_bedrock.cur_s3_uri`) or
    TOKENLEDGER_AWS_CUR_S3_URI; credentials from boto3's chain (env vars, profile, role).
    Nothing is read until the resources run.
    """
    return [_cur_resource(start, end, cur_s3_uri), _ce_resource(start, end)]
