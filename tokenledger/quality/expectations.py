"""Great Expectations suites on the raw cost reports and the staging cost models of a batch
(blocking).

One suite per raw cost table, run on the batch's rows only (the UTC days the run loaded, a
small pandas frame), with an ephemeral GX context: required columns present, `_row_key`
present and unique, amounts parseable as exact decimals and bucket times present (both
`mostly` 95 %: a single malformed line is quarantined row by row by the models, a batch where
the format changed is stopped), and every bucket day inside the batch and not in the future.
Per-row problems the models already handle (a missing amount, an unknown currency) are not
repeated here; checks on the built models are dbt tests (models/, tests/dbt/).

The staging suites run after the dbt build (the staging views exist only then), on the batch's
rows of `staging.stg_<provider>__costs` that the models did not quarantine
(`quarantine.quarantined_cost_rows`): billed cost not null, currency in seeds/currency_codes,
token type in the conformed vocabulary (seeds/token_type_map + `unknown`), charge day (UTC day
of the bucket start) inside the batch. Those are the rows the fact sums, so a row the
quarantine missed stops the batch.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from tokenledger.paths import PROJECT_DIR
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


def _gx_source(name: str):
    """An ephemeral GX context's pandas data source, progress bars off."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:  # no progress bars on every pipeline run
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    return context.data_sources.add_pandas(name)


def _run_suite(
    source: Any,
    relation: str,
    frame: Any,
    suite: Any,
    required: tuple[str, ...],
    names: list[str],
    helper_columns: tuple[str, ...] = (),
) -> list[CheckFailure]:
    """Validate `frame` (rows of `relation`) against `suite`; one CheckFailure per failed
    expectation, with the offending rows (without `helper_columns`) where it is per row."""
    import pandas as pd

    frame = frame.reset_index(drop=True)
    asset = source.add_dataframe_asset(relation)
    definition = asset.add_batch_definition_whole_dataframe("batch")
    gx_batch = definition.get_batch(batch_parameters={"dataframe": frame})
    result = gx_batch.validate(suite, result_format="COMPLETE")
    failures: list[CheckFailure] = []
    for outcome in result.results:
        if outcome.success:
            continue
        name, kwargs = _describe(outcome.expectation_config)
        details = outcome.result or {}
        indexes = details.get("unexpected_index_list") or []
        rows = (
            frame.drop(columns=list(helper_columns), errors="ignore")
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
            missing = sorted(set(required) - set(names))
            reason = f"required columns missing: {', '.join(missing)}"
        else:
            shown = {k: v for k, v in kwargs.items() if v is not None}
            bad = details.get("unexpected_count", 0)
            total = details.get("element_count", len(frame))
            reason = f"{bad} of {total} rows unexpected ({shown})"
        failures.append(
            CheckFailure(
                check_name=f"{relation}:{name}",
                kind=GREAT_EXPECTATIONS,
                relation=relation,
                reason=reason,
                rows=[{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows],
                failing_rows=int(details.get("unexpected_count") or len(rows)),
            )
        )
    return failures


def validate_raw_cost_reports(
    warehouse: Any, batch: Batch, tables: tuple[RawCostTable, ...] = RAW_COST_TABLES
) -> list[CheckFailure]:
    """Run the suites on the batch's raw cost rows of `tables` (those of configured
    providers); one CheckFailure per failed expectation, with the offending raw rows where the
    expectation is per row."""
    source = _gx_source("tokenledger_raw")
    failures: list[CheckFailure] = []
    for table in tables:
        if batch.providers and table.provider not in batch.providers:
            continue
        frame, names = _batch_frame(warehouse, table, batch)
        if frame is None:
            continue
        failures += _run_suite(
            source,
            table.relation,
            frame,
            _suite(table, batch, names),
            table.required,
            names,
            helper_columns=("bucket_day",),
        )
    return failures


# --- staging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagingCostModel:
    """A staging cost model (a dbt view) as the staging suite reads it."""

    provider: str
    schema: str
    table: str

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"


STAGING_COST_MODELS = (
    StagingCostModel("openai", "staging", "stg_openai__costs"),
    StagingCostModel("anthropic", "staging", "stg_anthropic__costs"),
)
STAGING_REQUIRED = (
    "cost_row_key",
    "token_type",
    "billing_currency",
    "billed_cost",
    "bucket_start_at",
    "bucket_date",
)
QUARANTINED_COST_ROWS = "quarantine.quarantined_cost_rows"


def _seed_values(name: str, column: str) -> list[str]:
    with (PROJECT_DIR / "seeds" / f"{name}.csv").open(newline="") as f:
        return sorted({row[column].strip() for row in csv.DictReader(f) if row[column].strip()})


def known_currencies() -> list[str]:
    """Billing currencies the models accept (seeds/currency_codes.csv)."""
    return _seed_values("currency_codes", "currency_code")


def conformed_token_types() -> list[str]:
    """The conformed token types (seeds/token_type_map.csv) plus `unknown`."""
    return sorted({*_seed_values("token_type_map", "token_type"), "unknown"})


def _columns(warehouse: Any, schema: str, table: str) -> list[str]:
    _, rows = warehouse.query(
        "select column_name from information_schema.columns "
        f"where table_schema = '{schema}' and table_name = '{table}'"
    )
    return [r[0] for r in rows]


def _staging_frame(warehouse: Any, model: StagingCostModel, batch: Batch):
    """The batch's rows of one staging cost model that the models did not quarantine, and
    the model's column names; None when the model has not been built."""
    import pandas as pd

    names = _columns(warehouse, model.schema, model.table)
    if not names:
        return None, []
    where = []
    if batch.start is not None:
        where.append(f"s.bucket_date >= cast('{batch.start.isoformat()}' as date)")
    if batch.end is not None:
        where.append(f"s.bucket_date <= cast('{batch.end.isoformat()}' as date)")
    schema, table = QUARANTINED_COST_ROWS.split(".")
    if {"provider", "cost_row_key"} <= set(_columns(warehouse, schema, table)):
        where.append(
            f"not exists (select 1 from {QUARANTINED_COST_ROWS} q where q.provider = "
            f"'{model.provider}' and q.cost_row_key = s.cost_row_key)"
        )
    sql = f"select s.* from {model.relation} s" + (
        f" where {' and '.join(where)}" if where else ""
    )
    cols, data = warehouse.query(sql)
    frame = pd.DataFrame(data, columns=cols)
    if "bucket_start_at" in frame:
        stamps = pd.to_datetime(frame["bucket_start_at"], errors="coerce", utc=True)
        # python dates (GX compares its min/max as dates); null bucket times stay null
        frame["charge_day"] = pd.Series(
            [None if pd.isna(t) else t.date() for t in stamps], index=frame.index, dtype=object
        )
    return frame, names


def _staging_suite(model: StagingCostModel, batch: Batch, names: list[str]):
    import great_expectations as gx

    gxe = gx.expectations
    today = dt.datetime.now(dt.UTC).date()
    last = min(batch.end, today) if batch.end else today
    suite = gx.ExpectationSuite(name=f"staging_{model.provider}_costs")
    suite.add_expectation(
        gxe.ExpectTableColumnsToMatchSet(column_set=list(STAGING_REQUIRED), exact_match=False)
    )
    present = set(names)
    if "billed_cost" in present:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="billed_cost"))
    if "billing_currency" in present:
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(column="billing_currency", value_set=known_currencies())
        )
    if "token_type" in present:
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(
                column="token_type", value_set=conformed_token_types()
            )
        )
    if "bucket_start_at" in present:
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(
                column="charge_day",
                min_value=batch.start.isoformat() if batch.start else "2000-01-01",
                max_value=last.isoformat(),
            )
        )
    return suite


def validate_staging_costs(
    warehouse: Any, batch: Batch, models: tuple[StagingCostModel, ...] = STAGING_COST_MODELS
) -> list[CheckFailure]:
    """Run the staging suites on the batch's non-quarantined rows of `models` (those of
    configured providers, built by dbt); one CheckFailure per failed expectation, with the
    offending staging rows."""
    source = _gx_source("tokenledger_staging")
    failures: list[CheckFailure] = []
    for model in models:
        if batch.providers and model.provider not in batch.providers:
            continue
        frame, names = _staging_frame(warehouse, model, batch)
        if frame is None:
            continue
        failures += _run_suite(
            source,
            model.relation,
            frame,
            _staging_suite(model, batch, names),
            STAGING_REQUIRED,
            names,
            helper_columns=("charge_day",),
        )
    return failures
