"""The dbt project against hand-made raw tables (docs/contracts.md): totals, quarantine, and
reconciliation tests that fail when the fact and the raw cost disagree.

Each scenario builds a fresh DuckDB file with the raw tables dlt would land, runs
`dbt build` in-process and reads the marts back.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tokenledger import dbt as tokenledger_dbt

PROJECT_DIR = Path(__file__).resolve().parents[1]

DAY1 = dt.date(2026, 1, 5)
DAY2 = dt.date(2026, 1, 6)
OPENAI_ORG = "org-fixture"
ANTHROPIC_ORG = "anthropic-org-fixture"


def _unix(day: dt.date, plus_days: int = 0) -> int:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int((start + dt.timedelta(days=plus_days)).timestamp())


def _rfc3339(day: dt.date, plus_days: int = 0) -> str:
    return f"{(day + dt.timedelta(days=plus_days)).isoformat()}T00:00:00Z"


# --- raw fixture -------------------------------------------------------------------------------
# OpenAI costs: (row key, day, amount text, currency, line_item, project, api key, qty, unit)
OPENAI_COSTS = [
    ("oc1", DAY1, "0.42", "usd", "gpt-4o-2024-08-06, input", "proj_a", "key_1", 168000, "tokens"),
    ("oc2", DAY1, "0.08", "usd", "gpt-4o-2024-08-06, input", "proj_a", "key_1", 32000, "tokens"),
    (
        "oc3",
        DAY1,
        "1.250000000",
        "usd",
        "gpt-4o-2024-08-06, output",
        "proj_a",
        "key_1",
        125000,
        "tokens",
    ),
    # served as a JSON string with padding: still a valid amount
    (
        "oc4",
        DAY1,
        " 12.50",
        "usd",
        "gpt-4o-mini, cached input",
        "proj_b",
        "key_2",
        2000,
        "1000_tokens",
    ),
    ("oc5", DAY1, None, "usd", "gpt-4o-2024-08-06, input", "proj_a", "key_3", 1, "tokens"),
    # a kind the seed does not know: kept as token type `unknown`
    (
        "oc6",
        DAY2,
        "0.000000123",
        "usd",
        "gpt-4o-2024-08-06, reasoning",
        "proj_a",
        None,
        7,
        "tokens",
    ),
    ("oc7", DAY2, "abc", "usd", "gpt-4o-2024-08-06, output", "proj_a", "key_1", 1, "tokens"),
    ("oc8", DAY2, "3.3", "xyz", "gpt-4o-2024-08-06, output", "proj_a", "key_1", 1, "tokens"),
    ("oc9", DAY2, "0.5", "usd", "web search tool calls", "proj_b", None, 50, None),
]
# Anthropic cost report: (row key, day or None, amount cents, workspace, description,
#   cost_type, model, tier, token_type, context window)
SONNET = "claude-sonnet-4-20250514"
ANTHROPIC_COSTS = [
    (
        "ac1",
        DAY1,
        "123.78912",
        "wrkspc_1",
        "Claude Sonnet 4 Usage - Input Tokens",
        "tokens",
        SONNET,
        "standard",
        "uncached_input_tokens",
        "0-200k",
    ),
    (
        "ac2",
        DAY1,
        "10.5",
        "wrkspc_1",
        "Claude Sonnet 4 Usage - Input Tokens (long context)",
        "tokens",
        SONNET,
        "standard",
        "uncached_input_tokens",
        "200k-1M",
    ),
    # default workspace: workspace_id is null
    (
        "ac3",
        DAY1,
        "50",
        None,
        "Claude Sonnet 4 Usage - Output Tokens",
        "tokens",
        SONNET,
        "standard",
        "output_tokens",
        "0-200k",
    ),
    ("ac4", DAY1, "1000", "wrkspc_1", "Web Search Usage", "web_search", None, None, None, None),
    (
        "ac5",
        DAY2,
        "7",
        "wrkspc_1",
        "Claude Sonnet 4 Usage - Cache Write (2h)",
        "tokens",
        SONNET,
        "standard",
        "cache_creation.ephemeral_2h_input_tokens",
        "0-200k",
    ),
    (
        "ac6",
        None,
        "9",
        "wrkspc_1",
        "Claude Sonnet 4 Usage - Output Tokens",
        "tokens",
        SONNET,
        "standard",
        "output_tokens",
        "0-200k",
    ),
    (
        "ac7",
        DAY2,
        None,
        "wrkspc_1",
        "Claude Sonnet 4 Usage - Output Tokens",
        "tokens",
        SONNET,
        "batch",
        "output_tokens",
        "0-200k",
    ),
]
# Anthropic usage: (row key, day, workspace, model, tier, context window,
#   uncached, cache read, 5m write, 1h write, output, web search requests)
ANTHROPIC_USAGE = [
    ("au1", DAY1, "wrkspc_1", SONNET, "standard", "0-200k", 1000, 200, 0, 0, 300, 4),
    ("au2", DAY1, "wrkspc_1", SONNET, "standard", "200k-1M", 500, 0, 0, 0, 0, 1),
    ("au3", DAY1, None, SONNET, "standard", "0-200k", 0, 0, 0, 0, 700, 0),
]

EXPECTED_BILLED = {
    ("openai", DAY1): Decimal("14.25"),
    ("openai", DAY2): Decimal("0.500000123"),
    ("anthropic", DAY1): Decimal("11.8428912"),
    ("anthropic", DAY2): Decimal("0.07"),
}
EXPECTED_QUARANTINE = {
    ("openai", "oc5", "null_amount"),
    ("openai", "oc7", "unparseable_amount"),
    ("openai", "oc8", "unknown_currency"),
    ("anthropic", "ac6", "null_bucket_time"),
    ("anthropic", "ac7", "null_amount"),
}


def _insert_sql(table: str, n_columns: int) -> str:
    placeholders = ", ".join(["?"] * n_columns)
    return f"insert into {table} values ({placeholders})"


def raw_fixture_statements() -> list[tuple[str, list[tuple]]]:
    """DDL and inserts of the raw tables (portable SQL: DuckDB and PostgreSQL)."""
    stmts: list[tuple[str, list[tuple]]] = [
        ("create schema if not exists raw_openai", []),
        ("create schema if not exists raw_anthropic", []),
        (
            "create table raw_openai.costs (_row_key varchar, _bucket_date date, "
            "_billing_account_id varchar, start_time bigint, end_time bigint, "
            "amount__value varchar, amount__currency varchar, line_item varchar, "
            "project_id varchar, api_key_id varchar, quantity double precision, "
            "quantity_unit varchar)",
            [],
        ),
        (
            "create table raw_openai.usage_completions (_row_key varchar, _bucket_date date, "
            "_billing_account_id varchar, start_time bigint, end_time bigint, "
            "project_id varchar, user_id varchar, api_key_id varchar, model varchar, "
            "batch boolean, service_tier varchar, input_tokens bigint, output_tokens bigint, "
            "input_cached_tokens bigint, input_audio_tokens bigint, output_audio_tokens bigint, "
            "num_model_requests bigint)",
            [],
        ),
        (
            "create table raw_openai.usage_embeddings (_row_key varchar, _bucket_date date, "
            "_billing_account_id varchar, start_time bigint, end_time bigint, "
            "project_id varchar, user_id varchar, api_key_id varchar, model varchar, "
            "input_tokens bigint, num_model_requests bigint)",
            [],
        ),
        (
            "create table raw_anthropic.cost_report (_row_key varchar, _bucket_date date, "
            "_billing_account_id varchar, starting_at varchar, ending_at varchar, "
            "amount varchar, currency varchar, workspace_id varchar, description varchar, "
            "cost_type varchar, model varchar, service_tier varchar, token_type varchar, "
            "context_window varchar)",
            [],
        ),
        (
            "create table raw_anthropic.usage_messages (_row_key varchar, _bucket_date date, "
            "_billing_account_id varchar, starting_at varchar, ending_at varchar, "
            "uncached_input_tokens bigint, cache_read_input_tokens bigint, "
            "cache_creation__ephemeral_5m_input_tokens bigint, "
            "cache_creation__ephemeral_1h_input_tokens bigint, output_tokens bigint, "
            "server_tool_use__web_search_requests bigint, api_key_id varchar, "
            "workspace_id varchar, model varchar, service_tier varchar, context_window varchar)",
            [],
        ),
    ]
    stmts.append(
        (
            _insert_sql("raw_openai.costs", 12),
            [
                (
                    key,
                    day,
                    OPENAI_ORG,
                    _unix(day),
                    _unix(day, 1),
                    amount,
                    cur,
                    item,
                    proj,
                    api_key,
                    qty,
                    unit,
                )
                for key, day, amount, cur, item, proj, api_key, qty, unit in OPENAI_COSTS
            ],
        )
    )
    stmts.append(
        (
            _insert_sql("raw_openai.usage_completions", 17),
            [
                (
                    "uc1",
                    DAY1,
                    OPENAI_ORG,
                    _unix(DAY1),
                    _unix(DAY1, 1),
                    "proj_a",
                    None,
                    "key_1",
                    "gpt-4o-2024-08-06",
                    False,
                    "default",
                    200000,
                    125000,
                    40000,
                    0,
                    0,
                    12,
                ),
                (
                    "uc2",
                    DAY1,
                    OPENAI_ORG,
                    _unix(DAY1),
                    _unix(DAY1, 1),
                    "proj_b",
                    None,
                    "key_2",
                    "gpt-4o-mini",
                    True,
                    "default",
                    2000000,
                    0,
                    None,
                    None,
                    None,
                    3,
                ),
            ],
        )
    )
    stmts.append(
        (
            _insert_sql("raw_openai.usage_embeddings", 11),
            [
                (
                    "ue1",
                    DAY1,
                    OPENAI_ORG,
                    _unix(DAY1),
                    _unix(DAY1, 1),
                    "proj_a",
                    None,
                    "key_1",
                    "text-embedding-3-small",
                    5000,
                    2,
                )
            ],
        )
    )
    stmts.append(
        (
            _insert_sql("raw_anthropic.cost_report", 14),
            [
                (
                    key,
                    day or DAY2,
                    ANTHROPIC_ORG,
                    _rfc3339(day) if day else None,
                    _rfc3339(day, 1) if day else None,
                    amount,
                    "USD",
                    ws,
                    desc,
                    ctype,
                    model,
                    tier,
                    ttype,
                    ctx,
                )
                for key, day, amount, ws, desc, ctype, model, tier, ttype, ctx in ANTHROPIC_COSTS
            ],
        )
    )
    stmts.append(
        (
            _insert_sql("raw_anthropic.usage_messages", 16),
            [
                (
                    key,
                    day,
                    ANTHROPIC_ORG,
                    _rfc3339(day),
                    _rfc3339(day, 1),
                    unc,
                    read,
                    w5,
                    w1,
                    out,
                    web,
                    None,
                    ws,
                    model,
                    tier,
                    ctx,
                )
                for key, day, ws, model, tier, ctx, unc, read, w5, w1, out, web in ANTHROPIC_USAGE
            ],
        )
    )
    return stmts


def create_raw_duckdb(path: Path, schemas: tuple[str, ...] = ("raw_openai", "raw_anthropic")):
    """A DuckDB file holding the raw tables of the fixture, as dlt would land them."""
    con = duckdb.connect(str(path))
    try:
        for sql, rows in raw_fixture_statements():
            if not any(f" {schema}" in sql for schema in schemas):
                continue
            if rows:
                con.executemany(sql, rows)
            else:
                con.execute(sql)
    finally:
        con.close()


def run_dbt(args: list[str], target_dir: Path) -> tuple[bool, dict[str, str]]:
    """`dbt <args>` in-process against the project; (success, node unique_id → status)."""
    summary = tokenledger_dbt.run_dbt(
        [*args, "--quiet"], target_path=target_dir / "target", raise_on_failure=False
    )
    return summary.success, summary.statuses


def _by_suffix(statuses: dict[str, str], name: str) -> str:
    matches = [
        status
        for uid, status in statuses.items()
        if uid.split(".")[2] == name or uid.endswith("." + name)
    ]
    assert matches, f"no dbt node named {name} in {sorted(statuses)}"
    return matches[0]


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory):
    """The fixture's raw tables, `dbt seed` + `dbt build` run over them; the DuckDB path."""
    tmp = tmp_path_factory.mktemp("dbt_models")
    db = tmp / "warehouse.duckdb"
    create_raw_duckdb(db)
    old = os.environ.get("TOKENLEDGER_DUCKDB")
    os.environ["TOKENLEDGER_DUCKDB"] = str(db)
    try:
        ok, _ = run_dbt(["seed"], tmp)
        assert ok, "dbt seed failed"
        ok, statuses = run_dbt(["build"], tmp)
        ok_statuses = ("success", "pass", "warn", "no-op")
        failed = {k: v for k, v in statuses.items() if v not in ok_statuses}
        assert ok and not failed, f"dbt build failed: {failed}"
        yield db, tmp, statuses
    finally:
        if old is None:
            os.environ.pop("TOKENLEDGER_DUCKDB", None)
        else:
            os.environ["TOKENLEDGER_DUCKDB"] = old


def _query(db: Path, sql: str) -> list[tuple]:
    # not read_only: dbt-duckdb may still hold the file in this process, and DuckDB shares an
    # open database only between connections of the same configuration
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_dbt_unit_test_passes(built_warehouse, dbt_manifest):
    """The models' dbt unit tests (price arithmetic, splits, parsers) run here, once: every
    one the project defines ran in the fixture's plain `dbt build` and passed."""
    import json

    _, _, statuses = built_warehouse
    manifest = json.loads(dbt_manifest.read_text())
    defined = set(manifest.get("unit_tests", {}))
    ran = {k: v for k, v in statuses.items() if k.startswith("unit_test.")}
    assert len(defined) > 20
    assert ran == dict.fromkeys(defined, "pass")
    for name in (
        "test_price_cache_batch_tiers_reasoning_unknown",
        "test_batch_derived_at_half_override_units",
        "test_model_names_normalised_and_matched",
    ):
        assert any(k.endswith(name) for k in ran), name


def test_fact_billed_cost_per_provider_and_day_matches_raw(built_warehouse):
    db, _, _ = built_warehouse
    rows = _query(
        db,
        "select x_provider, cast(charge_period_start as date), sum(billed_cost) "
        "from marts.fct_cost_and_usage group by 1, 2",
    )
    assert {(p, d): Decimal(c) for p, d, c in rows} == EXPECTED_BILLED


def test_uncostable_rows_are_quarantined_with_their_reason(built_warehouse):
    db, _, _ = built_warehouse
    rows = _query(db, "select provider, cost_row_key, reason from quarantine.quarantined_cost_rows")
    assert set(rows) == EXPECTED_QUARANTINE
    raw_amounts = dict(
        _query(db, "select cost_row_key, raw_amount from quarantine.quarantined_cost_rows")
    )
    assert raw_amounts["oc7"] == "abc"


def test_fact_grain_token_types_and_quantities(built_warehouse):
    db, _, _ = built_warehouse
    fact = {
        (r[0], r[1], r[2], r[3]): r[4:]
        for r in _query(
            db,
            "select x_provider, coalesce(sub_account_id, '-'), coalesce(x_model, '-'), "
            "x_token_type, billed_cost, consumed_quantity, consumed_unit, x_source_row_count, "
            "billing_currency, provider_name, service_name, charge_period_end - "
            "charge_period_start from marts.fct_cost_and_usage",
        )
    }
    # two raw lines of the same grain are summed, and counted
    gpt_in = fact[("openai", "proj_a", "gpt-4o-2024-08-06", "input")]
    assert gpt_in[:5] == (Decimal("0.5"), Decimal(200000), "Tokens", 2, "USD")
    assert gpt_in[5:7] == ("OpenAI", "OpenAI API")
    assert gpt_in[7] == dt.timedelta(days=1)
    # 1000_tokens normalised to tokens
    assert fact[("openai", "proj_b", "gpt-4o-mini", "cached_input")][1] == Decimal(2_000_000)
    # unmapped label kept, as `unknown`, with its cost
    assert fact[("openai", "proj_a", "gpt-4o-2024-08-06", "unknown")][0] == Decimal("1.23E-7")
    assert fact[("anthropic", "wrkspc_1", SONNET, "unknown")][0] == Decimal("0.07")
    # cents -> dollars; both context windows in one row; quantity from usage
    sonnet_in = fact[("anthropic", "wrkspc_1", SONNET, "input")]
    assert sonnet_in[:4] == (Decimal("1.3428912"), Decimal(1500), "Tokens", 2)
    # default workspace (null) keeps its own row and its usage
    assert fact[("anthropic", "-", SONNET, "output")][:2] == (Decimal("0.5"), Decimal(700))
    # web search has no model on the bill: quantity = requests of every model
    assert fact[("anthropic", "wrkspc_1", "-", "web_search")][:3] == (
        Decimal(10),
        Decimal(5),
        "Requests",
    )
    keys = _query(
        db, "select count(*), count(distinct x_cost_row_key) from marts.fct_cost_and_usage"
    )
    assert keys[0][0] == keys[0][1]


def test_unmapped_token_type_warns_but_does_not_fail(built_warehouse):
    _, _, statuses = built_warehouse
    assert _by_suffix(statuses, "assert_no_unmapped_token_types") == "warn"
    assert _by_suffix(statuses, "assert_fact_reconciles_with_raw_cost") == "pass"


def _execute(db: Path, sql: str, params: list | None = None) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute(sql, params)
    finally:
        con.close()


def _run_reconciliation_tests(db: Path, work: Path) -> dict[str, str]:
    """Only the blocking reconciliation tests, against the warehouse as it is now."""
    assert os.environ["TOKENLEDGER_DUCKDB"] == str(db)
    _, statuses = run_dbt(
        [
            "test",
            "--select",
            "assert_fact_reconciles_with_raw_cost",
            "assert_every_raw_day_in_fact",
            "assert_no_cost_row_lost",
        ],
        work,
    )
    return statuses


def test_reconciliation_fails_when_a_fact_row_is_tampered_with(built_warehouse):
    db, work, _ = built_warehouse
    row = (
        "(select min(x_cost_row_key) from marts.fct_cost_and_usage where x_provider = 'anthropic')"
    )
    _execute(
        db,
        "update marts.fct_cost_and_usage set billed_cost = billed_cost + 0.01 "
        f"where x_cost_row_key = {row}",
    )
    try:
        statuses = _run_reconciliation_tests(db, work)
    finally:
        _execute(
            db,
            "update marts.fct_cost_and_usage set billed_cost = billed_cost - 0.01 "
            f"where x_cost_row_key = {row}",
        )
    assert _by_suffix(statuses, "assert_fact_reconciles_with_raw_cost") == "fail"
    assert _by_suffix(statuses, "assert_every_raw_day_in_fact") == "pass"


def test_reconciliation_fails_when_raw_has_a_row_the_fact_lacks(built_warehouse):
    db, work, _ = built_warehouse
    day3 = DAY2 + dt.timedelta(days=1)
    _execute(
        db,
        "insert into raw_openai.costs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            "oc_late",
            day3,
            OPENAI_ORG,
            _unix(day3),
            _unix(day3, 1),
            "2.00",
            "usd",
            "gpt-4o-2024-08-06, input",
            "proj_a",
            "key_1",
            1000,
            "tokens",
        ],
    )
    try:
        statuses = _run_reconciliation_tests(db, work)
    finally:
        _execute(db, "delete from raw_openai.costs where _row_key = 'oc_late'")
    assert _by_suffix(statuses, "assert_fact_reconciles_with_raw_cost") == "fail"
    assert _by_suffix(statuses, "assert_every_raw_day_in_fact") == "fail"
    assert _by_suffix(statuses, "assert_no_cost_row_lost") == "fail"


def test_reconciliation_passes_again_once_restored(built_warehouse):
    db, work, _ = built_warehouse
    statuses = _run_reconciliation_tests(db, work)
    assert set(statuses.values()) == {"pass"}, statuses


def test_build_succeeds_when_only_one_provider_is_configured(tmp_path, monkeypatch):
    """No Anthropic key → no raw_anthropic tables: the build still publishes OpenAI's cost."""
    db = tmp_path / "openai_only.duckdb"
    create_raw_duckdb(db, schemas=("raw_openai",))
    monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(db))
    ok, statuses = run_dbt(["build", "--exclude-resource-type", "unit_test"], tmp_path)
    failed = {k: v for k, v in statuses.items() if v not in ("success", "pass", "warn", "no-op")}
    assert ok and not failed, f"dbt build failed: {failed}"
    rows = _query(
        db,
        "select x_provider, cast(charge_period_start as date), sum(billed_cost) "
        "from marts.fct_cost_and_usage group by 1, 2",
    )
    expected = {k: v for k, v in EXPECTED_BILLED.items() if k[0] == "openai"}
    assert {(p, d): Decimal(c) for p, d, c in rows} == expected


# --- the same project on PostgreSQL ----------------------------------------------------------
PG_TEST_DATABASE = "tokenledger_test_models"


def _pg_connect(dbname: str):
    import psycopg2

    return psycopg2.connect(
        host=os.environ.get("TOKENLEDGER_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("TOKENLEDGER_PG_PORT", "5432")),
        user=os.environ.get("TOKENLEDGER_PG_USER", "postgres"),
        dbname=dbname,
        connect_timeout=3,
    )


@pytest.mark.postgres
def test_same_models_build_and_reconcile_on_postgres(tmp_path, monkeypatch):
    """dbt build on PostgreSQL gives the same fact totals and quarantine as on DuckDB."""
    try:
        admin = _pg_connect("postgres")
    except Exception as exc:  # noqa: BLE001 - any connection failure means no server here
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {PG_TEST_DATABASE} with (force)")
        cur.execute(f"create database {PG_TEST_DATABASE}")
    admin.close()

    con = _pg_connect(PG_TEST_DATABASE)
    con.autocommit = True
    with con.cursor() as cur:
        for sql, rows in raw_fixture_statements():
            if rows:
                cur.executemany(sql.replace("?", "%s"), rows)
            else:
                cur.execute(sql)

    monkeypatch.setenv("TOKENLEDGER_PG_DATABASE", PG_TEST_DATABASE)
    ok, statuses = run_dbt(["build", "--target", "postgres"], tmp_path)
    failed = {k: v for k, v in statuses.items() if v not in ("success", "pass", "warn", "no-op")}
    assert ok and not failed, f"dbt build on postgres failed: {failed}"

    with con.cursor() as cur:
        cur.execute(
            "select x_provider, cast(charge_period_start as date), sum(billed_cost) "
            "from marts.fct_cost_and_usage group by 1, 2"
        )
        assert {(p, d): c for p, d, c in cur.fetchall()} == EXPECTED_BILLED
        cur.execute("select provider, cost_row_key, reason from quarantine.quarantined_cost_rows")
        assert set(cur.fetchall()) == EXPECTED_QUARANTINE
    con.close()


# --- the real thing: simulator → dlt ingestion → dbt ----------------------------------------
def test_simulated_world_reconciles_with_truth_to_the_cent(tmp_path, provider_env, monkeypatch):
    """Real HTTP simulator → real dlt ingestion → dbt build: Σ fact billed cost per provider
    and day equals the world's ground truth to the cent, and at the full truth grain exactly.
    """
    from ingestion.pipeline import run_ingestion
    from simulator.server import serve
    from simulator.world import World

    # four days across a month end, so two billing periods appear
    world = World(seed=5, days=4, start=dt.date(2026, 1, 30))
    server = serve(world)
    try:
        provider_env(server)
        db = tmp_path / "sim.duckdb"
        first, last = world.start, world.start + dt.timedelta(days=world.days - 1)
        run_ingestion(first, last, db)
    finally:
        server.shutdown()

    monkeypatch.setenv("TOKENLEDGER_DUCKDB", str(db))
    ok, statuses = run_dbt(["build", "--exclude-resource-type", "unit_test"], tmp_path)
    failed = {k: v for k, v in statuses.items() if v not in ("success", "pass", "warn", "no-op")}
    assert ok and not failed, f"dbt build failed: {failed}"

    truth = world.truth_billed_cost()
    cent = Decimal("0.01")
    truth_daily: dict[tuple[str, str], Decimal] = {}
    truth_grain: dict[tuple, Decimal] = {}
    for row in truth:
        day = str(row["date"])
        cost = Decimal(str(row["billed_cost"]))
        truth_daily[(row["provider"], day)] = truth_daily.get((row["provider"], day), 0) + cost
        key = (
            row["provider"],
            day,
            row["sub_account_id"],
            row["api_key_id"],
            row["model"],
            row["token_type"],
            row["service_tier"],
        )
        truth_grain[key] = truth_grain.get(key, 0) + cost

    fact_daily = {
        (p, str(d)): Decimal(c)
        for p, d, c in _query(
            db,
            "select x_provider, cast(charge_period_start as date), sum(billed_cost) "
            "from marts.fct_cost_and_usage group by 1, 2",
        )
    }
    assert len(fact_daily) == 2 * world.days
    assert {k: v.quantize(cent) for k, v in fact_daily.items()} == {
        k: v.quantize(cent) for k, v in truth_daily.items()
    }
    fact_grain = {
        (p, str(d), sub, key, model, tt, tier): Decimal(c)
        for p, d, sub, key, model, tt, tier, c in _query(
            db,
            "select x_provider, cast(charge_period_start as date), sub_account_id, "
            "x_api_key_id, x_model, x_token_type, x_service_tier, billed_cost "
            "from marts.fct_cost_and_usage",
        )
    }
    assert fact_grain == truth_grain
    # every Anthropic token and web search row found its usage (code execution has none in
    # the usage report, so its quantity stays null); nothing was quarantined
    assert _query(
        db,
        "select count(*) from marts.fct_cost_and_usage "
        "where x_provider = 'anthropic' and consumed_quantity is null "
        "and x_token_type <> 'code_execution'",
    ) == [(0,)]
    assert _query(db, "select count(*) from quarantine.quarantined_cost_rows") == [(0,)]
    periods = _query(
        db, "select distinct billing_period_start from marts.fct_cost_and_usage order by 1"
    )
    assert [p for (p,) in periods] == [dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1)]
