"""Great Expectations suites on the raw cost reports of a batch (blocking).

One suite per raw cost table, run on the batch's rows only (the UTC days the run loaded, a
small pandas frame), with an ephemeral GX context: required columns present, `_row_key`
present and unique, amounts parseable as exact decimals and bucket times present (both
`mostly` 95 %: a single malformed line is quarantined row by row by the models, a batch where
the format changed is stopped), and every bucket day inside the batch and not in the future.
Per-row problems the models already handle (a missing amount, an unknown currency) are not
repeated here; checks on the built models are dbt tests (models/, tests/dbt/).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from tokenledger.quality.checks import (
    GREAT_EXPECTATIONS,
    MAX_ROWS_PER_CHECK,
    Batch,
    CheckFailure,
)

log = logging.getLogger(__name__)

DECIMAL_TEXT = r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$"
MOSTLY = 0.95


@dataclass(frozen=True)
class RawCostTable:
    """A raw cost report as the suite reads it."""

    provider: str
    schema: str
    table: str
    required: tuple[str, ...]
    amount: str
    bucket_start: str
    bucket_start_kind: str  # unix | rfc3339

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"


RAW_COST_TABLES = (
    RawCostTable(
        "openai",
        "raw_openai",
        "costs",
        (
            "_row_key",
            "_bucket_date",
            "_billing_account_id",
            "start_time",
            "end_time",
            "amount__value",
            "amount__currency",
            "line_item",
        ),
        "amount__value",
        "start_time",
        "unix",
    ),
    RawCostTable(
        "anthropic",
        "raw_anthropic",
        "cost_report",
        (
            "_row_key",
            "_bucket_date",
            "_billing_account_id",
            "starting_at",
            "ending_at",
            "amount",
            "currency",
            "description",
        ),
        "amount",
        "starting_at",
        "rfc3339",
    ),
)


def _batch_frame(warehouse: Any, table: RawCostTable, batch: Batch):
    """The batch's rows of one raw table (all columns) and its column names; None when the
    table has not been landed (provider not configured)."""
    import pandas as pd

    columns, rows = warehouse.query(
        "select column_name from information_schema.columns "
        f"where table_schema = '{table.schema}' and table_name = '{table.table}'"
    )
    names = [r[0] for r in rows]
    if not names:
        return None, []
    where = []
    if batch.start is not None:
        where.append(f"cast(_bucket_date as date) >= cast('{batch.start.isoformat()}' as date)")
    if batch.end is not None:
        where.append(f"cast(_bucket_date as date) <= cast('{batch.end.isoformat()}' as date)")
    sql = f"select * from {table.relation}" + (f" where {' and '.join(where)}" if where else "")
    cols, data = warehouse.query(sql)
    frame = pd.DataFrame(data, columns=cols)
    if table.amount in frame:
        frame[table.amount] = frame[table.amount].map(lambda v: None if v is None else str(v))
    if table.bucket_start in frame:
        frame["bucket_day"] = _bucket_days(frame[table.bucket_start], table.bucket_start_kind)
    return frame, names


def _bucket_days(values, kind: str):
    import pandas as pd

    if kind == "unix":
        stamps = pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="s", utc=True)
    else:
        stamps = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    # python dates (GX compares its min/max as dates); unreadable times stay null
    return pd.Series(
        [None if pd.isna(t) else t.date() for t in stamps], index=values.index, dtype=object
    )


def _suite(table: RawCostTable, batch: Batch, names: list[str]):
    import great_expectations as gx

    gxe = gx.expectations
    today = dt.datetime.now(dt.UTC).date()
    last = min(batch.end, today) if batch.end else today
    suite = gx.ExpectationSuite(name=f"raw_{table.provider}_cost_report")
    suite.add_expectation(
        gxe.ExpectTableColumnsToMatchSet(column_set=list(table.required), exact_match=False)
    )
    present = set(names)
    if "_row_key" in present:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="_row_key"))
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="_row_key"))
    if table.amount in present:
        suite.add_expectation(
            gxe.ExpectColumnValuesToMatchRegex(
                column=table.amount, regex=DECIMAL_TEXT, mostly=MOSTLY
            )
        )
    if table.bucket_start in present:
        suite.add_expectation(
            gxe.ExpectColumnValuesToNotBeNull(column=table.bucket_start, mostly=MOSTLY)
        )
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(
                column="bucket_day",
                min_value=batch.start.isoformat() if batch.start else "2000-01-01",
                max_value=last.isoformat(),
            )
        )
    return suite


def _describe(config: Any) -> tuple[str, dict[str, Any]]:
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
    column = kwargs.pop("column", None)
    name = config.type + (f"({column})" if column else "")
    return name, kwargs


def validate_raw_cost_reports(
    warehouse: Any, batch: Batch, tables: tuple[RawCostTable, ...] = RAW_COST_TABLES
) -> list[CheckFailure]:
    """Run the suites on the batch's raw cost rows of `tables` (those of configured
    providers); one CheckFailure per failed expectation, with the offending raw rows where the
    expectation is per row."""
    import great_expectations as gx
    import pandas as pd

    context = gx.get_context(mode="ephemeral")
    try:  # no progress bars on every pipeline run
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    source = context.data_sources.add_pandas("tokenledger_raw")
    failures: list[CheckFailure] = []
    for table in tables:
        if batch.providers and table.provider not in batch.providers:
            continue
        frame, names = _batch_frame(warehouse, table, batch)
        if frame is None:
            continue
        frame = frame.reset_index(drop=True)
        asset = source.add_dataframe_asset(table.relation)
        definition = asset.add_batch_definition_whole_dataframe("batch")
        gx_batch = definition.get_batch(batch_parameters={"dataframe": frame})
        result = gx_batch.validate(_suite(table, batch, names), result_format="COMPLETE")
        for outcome in result.results:
            if outcome.success:
                continue
            name, kwargs = _describe(outcome.expectation_config)
            details = outcome.result or {}
            indexes = details.get("unexpected_index_list") or []
            rows = (
                frame.drop(columns=["bucket_day"], errors="ignore")
                .iloc[[i for i in indexes if isinstance(i, int)][:MAX_ROWS_PER_CHECK]]
                .to_dict("records")
                if indexes
                else []
            )
            errors = [
                info.get("exception_message")
                for info in (outcome.exception_info or {}).values()
                if isinstance(info, dict) and info.get("raised_exception")
            ]
            if errors:
                reason = f"the expectation could not be evaluated: {errors[0]}"
            elif name.startswith("expect_table_columns_to_match_set"):
                missing = sorted(set(table.required) - set(names))
                reason = f"required columns missing: {', '.join(missing)}"
            else:
                shown = {k: v for k, v in kwargs.items() if v is not None}
                bad = details.get("unexpected_count", 0)
                total = details.get("element_count", len(frame))
                reason = f"{bad} of {total} rows unexpected ({shown})"
            failures.append(
                CheckFailure(
                    check_name=f"{table.relation}:{name}",
                    kind=GREAT_EXPECTATIONS,
                    relation=table.relation,
                    reason=reason,
                    rows=[{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows],
                    failing_rows=int(details.get("unexpected_count") or len(rows)),
                )
            )
    return failures
