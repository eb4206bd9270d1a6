"""App telemetry and attribution, on a real run: the simulator's world (seed 42, whose apps and
allocation rules the seeds describe) emits its apps' LLM calls as JSONL / OTLP / LiteLLM files
→ `tokenledger run` (real dlt, real dbt) → marts.fct_cost_attributed / fct_unit_economics.

What a user would notice: every billed dollar is attributed, unattributed or unallocated
(per provider and day, exactly); with complete telemetry each team's, each feature's and each
conversation's cost equals the truth to the cent; with 10 % of calls untagged the unattributed
share grows by the untagged share and no team is charged for another team's calls; a
re-written file replaces its calls even when the ingestion stopped before deleting the old
ones; malformed lines are quarantined with their reason; the helper records what the real SDKs
return.
Expected figures come from the simulator (`TelemetrySim` calls × the world's prices), never
from the SQL.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from ingestion.common import delete_superseded_rows
from ingestion.pipeline import PIPELINES_DIRNAME, duckdb_destination, make_pipeline, run_ingestion
from ingestion.telemetry import QUARANTINE_TABLE, ROW_KEY, telemetry_source
from simulator.server import serve
from simulator.telemetry import TelemetrySim
from simulator.world import World
from tokenledger.cli import main
from tokenledger.dbt import run_dbt
from tokenledger.demo import SIM_ANTHROPIC_KEY, SIM_OPENAI_KEY
from tokenledger.warehouse import Warehouse

SEED, DAYS = 42, 14
CENT = Decimal("0.01")
PICO = Decimal(10) ** 12
BAD_LINES = {
    "jsonl": ['{"event_id": "broken", "occurred_at": ', '{"event_id": "e1", "provider": "openai"}'],
    "otlp": ["not json at all"],
    "litellm": [
        '{"request_id": "r1", "startTime": "2026-01-01T00:00:00Z", "model": "gpt-4o", '
        '"prompt_tokens": "many"}'
    ],
}


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, days=DAYS)


def _query(db: Path, sql: str) -> list[tuple]:
    with Warehouse.resolve(db).reader() as con:
        return con.execute(sql).fetchall()


def _append_bad_lines(root: Path) -> dict[str, int]:
    """Append malformed lines to one file of each format; returns bad lines per format."""
    for fmt, lines in BAD_LINES.items():
        path = sorted((root / fmt).rglob("*.jsonl"))[0]
        with path.open("a") as fh:
            fh.write("\n".join(lines) + "\n")
    return {fmt: len(lines) for fmt, lines in BAD_LINES.items()}


@pytest.fixture(scope="module")
def run(world, tmp_path_factory):
    """One real pipeline run with complete telemetry; yields (db, telemetry dir, mp)."""
    base = tmp_path_factory.mktemp("telemetry")
    db, telemetry_dir = base / "wh.duckdb", base / "telemetry"
    TelemetrySim(world).write(telemetry_dir)
    _append_bad_lines(telemetry_dir)
    server = serve(world)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_ADMIN_KEY", SIM_OPENAI_KEY)
        mp.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        mp.setenv("ANTHROPIC_ADMIN_KEY", SIM_ANTHROPIC_KEY)
        mp.setenv("ANTHROPIC_BASE_URL", server.url)
        mp.setenv("TOKENLEDGER_DUCKDB", str(db))
        mp.setenv("TOKENLEDGER_TELEMETRY_DIR", str(telemetry_dir))
        mp.delenv("TOKENLEDGER_WAREHOUSE", raising=False)
        last = world.start + timedelta(days=world.days - 1)
        try:
            assert main(["run", "--start", str(world.start), "--end", str(last), "--quiet"]) == 0
        finally:
            server.shutdown()
        yield db, telemetry_dir


@pytest.fixture(scope="module")
def complete(run):
    """Figures of the complete-telemetry run, read before the untagged re-run."""
    db, _ = run
    return {
        "by_feature": _attributed_by(db, "team, feature", "x_attribution_method = 'telemetry'"),
        "unattributed_by_day": _attributed_by(
            db,
            "x_provider, cast(charge_period_start as date)",
            "x_attribution_method <> 'telemetry'",
        ),
        "unit": _query(
            db,
            "select feature, sum(request_count), sum(attributed_cost), "
            "sum(cost_per_request * request_count) from marts.fct_unit_economics group by 1",
        ),
        "unit_conversations": _query(
            db,
            "select charge_date, provider, team, application, feature, prompt_template_id, "
            "model, conversation_count, cost_per_conversation::varchar "
            "from marts.fct_unit_economics",
        ),
        "by_conversation": _cost_by_conversation(db),
        "quarantined": _query(
            db, f"select source_format, reason from raw_telemetry.{QUARANTINE_TABLE}"
        ),
        "raw_counts": dict(
            _query(
                db,
                "select 'jsonl', count(*) from raw_telemetry.llm_call_events union all "
                "select 'otlp', count(*) from raw_telemetry.otlp_spans union all "
                "select 'litellm', count(*) from raw_telemetry.litellm_spend_logs",
            )
        ),
    }


@pytest.fixture(scope="module")
def untagged(run, world, complete):
    """The same calls re-reported with 10 % untagged: files re-written, re-ingested, the
    telemetry models rebuilt (incrementally). The ingestion stops right after dlt's load, as if
    it crashed before deleting the rows the re-written files replace (what
    `delete_superseded_rows` does next): the build must read only the newest version of each
    file. The delete runs after the build."""
    db, telemetry_dir = run
    sim = TelemetrySim(world, untagged_fraction=0.10)
    sim.write(telemetry_dir)
    pipeline = make_pipeline("telemetry", duckdb_destination(db), db.parent / PIPELINES_DIRNAME)
    pipeline.run(telemetry_source())
    versions_sql = (
        "select max(n) from (select _source_file, count(distinct _loaded_at) as n "
        "from raw_telemetry.llm_call_events group by 1) as files"
    )
    (versions_at_build,) = _query(db, versions_sql)[0]
    summary = run_dbt(
        ["build", "--select", "stg_telemetry__llm_calls+", "--exclude", "fct_spend_anomalies"],
        duckdb_path=db,
        target_path=db.parent / "dbt_target_untagged",
        raise_on_failure=False,
    )
    assert summary.success, summary.failures
    figures = {
        "by_conversation": _cost_by_conversation(db),
        "versions_at_build": versions_at_build,
    }
    delete_superseded_rows(pipeline)
    (figures["versions_after_cleanup"],) = _query(db, versions_sql)[0]
    return sim, figures


def _cost_by_conversation(db: Path) -> dict[str, Decimal]:
    rows = _query(
        db,
        "select conversation_id, sum(attributed_cost)::varchar from marts.fct_conversation_costs "
        "group by 1",
    )
    return {conversation: Decimal(cost) for conversation, cost in rows}


def _truth_by_conversation(sim: TelemetrySim) -> dict[str, Decimal]:
    """True cost of every conversation's reported, tagged calls."""
    t = sim.calls.select(["conversation_id", "cost_pico", "is_missing", "is_untagged"])
    t = t.to_pandas()
    t = t[~t["is_missing"] & ~t["is_untagged"]]
    return {
        conversation: Decimal(int(p)) / PICO
        for conversation, p in t.groupby("conversation_id")["cost_pico"].sum().items()
    }


def _assert_conversations_match(got: dict[str, Decimal], truth: dict[str, Decimal]) -> None:
    """Every conversation to the cent (half a cent either way) and in total; a conversation the
    bill charges nothing for (Priority Tier calls) has no row."""
    truth = {c: v for c, v in truth.items() if v != 0}
    assert set(got) == set(truth)
    off = {c: (got[c], truth[c]) for c in truth if abs(got[c] - truth[c]) >= CENT / 2}
    assert not off, list(off.items())[:5]
    assert abs(sum(got.values()) - sum(truth.values())) < CENT


def _attributed_by(db: Path, dims: str, where: str) -> dict[tuple, Decimal]:
    rows = _query(
        db,
        f"select {dims}, sum(attributed_cost)::varchar from marts.fct_cost_attributed "
        f"where {where} group by all",
    )
    return {tuple(r[:-1]): Decimal(r[-1]) for r in rows}


def _truth_by_feature(sim: TelemetrySim, *, include_untagged: bool = False) -> dict:
    t = sim.truth_cost_frame()
    t = t[~t["is_missing"] & (include_untagged | ~t["is_untagged"])]
    return {
        (team, feature): Decimal(int(p)) / PICO
        for (team, feature), p in t.groupby(["team", "feature"])["cost_pico"].sum().items()
    }


def _to_cent(amounts: dict) -> dict:
    return {k: v.quantize(CENT) for k, v in amounts.items() if v.quantize(CENT) != 0}


def _billed_by_provider_day(world: World) -> dict[tuple[str, str], Decimal]:
    out: dict = defaultdict(Decimal)
    for row in world.truth_billed_cost():
        out[(row["provider"], str(row["date"]))] += row["billed_cost"]
    return dict(out)


# ------------------------------------------------------------------------ formats, quarantine
def test_every_format_lands_and_malformed_lines_are_quarantined(world, complete):
    sim = TelemetrySim(world)
    reported = sim.reported().group_by("source_format").aggregate([("event_id", "count")])
    expected = dict(zip(*(reported.column(i).to_pylist() for i in (0, 1)), strict=True))
    assert complete["raw_counts"] == expected  # every reported call, in every format
    by_format = defaultdict(list)
    for fmt, reason in complete["quarantined"]:
        by_format[fmt].append(reason)
    assert {f: len(r) for f, r in by_format.items()} == {f: len(b) for f, b in BAD_LINES.items()}
    reasons = " | ".join(r for rs in by_format.values() for r in rs)
    assert "invalid JSON" in reasons
    assert "missing or invalid occurred_at" in reasons
    assert "schema" in reasons  # "many" where a token count belongs


def test_unchanged_files_are_not_read_again(run, complete):
    db, _ = run
    landed = run_ingestion(None, None, db, providers=["telemetry"])
    assert sum(landed["rows"].values()) == 0


# ------------------------------------------------------------------------ attribution
def test_complete_telemetry_matches_truth_per_team_and_feature(world, complete):
    truth = _truth_by_feature(TelemetrySim(world))
    got = complete["by_feature"]
    assert _to_cent(got) == _to_cent(truth)
    by_team_truth, by_team_got = defaultdict(Decimal), defaultdict(Decimal)
    for (team, _), v in truth.items():
        by_team_truth[team] += v
    for (team, _), v in got.items():
        by_team_got[team] += v
    assert _to_cent(by_team_got) == _to_cent(by_team_truth)


def test_only_usage_no_app_reports_is_unattributed(world, complete):
    """Complete telemetry: what stays unattributed per provider-day is exactly the cost of the
    usage no app reports (the leaked key, Anthropic Console), to the cent."""
    sim = TelemetrySim(world)
    t = sim.truth_cost_frame()
    covered = defaultdict(Decimal)
    for (provider, day), p in t.groupby(["provider", "date"])["cost_pico"].sum().items():
        covered[(provider, str(day))] += Decimal(int(p)) / PICO
    billed = _billed_by_provider_day(world)
    expected = {k: v - covered.get(k, Decimal(0)) for k, v in billed.items()}
    got = {(p, str(d)): v for (p, d), v in complete["unattributed_by_day"].items()}
    assert _to_cent(got) == _to_cent(expected)


def test_conservation_per_provider_and_day(run, world, untagged):
    db, _ = run
    rows = _query(
        db,
        "select x_provider, cast(charge_period_start as date)::varchar, "
        "sum(attributed_cost)::varchar from marts.fct_cost_attributed group by 1, 2",
    )
    got = {(p, d): Decimal(c) for p, d, c in rows}
    billed = _billed_by_provider_day(world)
    assert {k: v.quantize(CENT) for k, v in got.items()} == {
        k: v.quantize(CENT) for k, v in billed.items()
    }
    # exactly, line by line, under every allocation split method
    methods = _query(
        db,
        "select a.x_allocation_method, count(*) from (select x_cost_row_key, "
        "min(x_allocation_method) as x_allocation_method, sum(attributed_cost) as c "
        "from marts.fct_cost_attributed group by 1) as a join marts.fct_cost_and_usage f "
        "on a.x_cost_row_key = f.x_cost_row_key where a.c <> f.billed_cost group by 1",
    )
    assert methods == []
    used = {
        m
        for (m,) in _query(db, "select distinct x_allocation_method from marts.fct_cost_attributed")
    }
    assert {"direct", "even", "fixed", "proportional"} <= used


def test_ten_percent_untagged_is_the_unattributed_share(run, world, untagged):
    db, _ = run
    sim, figures = untagged
    # every re-written file was read again: two versions of its rows while dbt built (the
    # build kept the newest, or the figures below would be off), one after the cleanup
    assert figures["versions_at_build"] == 2
    assert figures["versions_after_cleanup"] == 1
    t = sim.truth_cost_frame()
    total = sum(_billed_by_provider_day(world).values())
    untagged_share = Decimal(int(t[t["is_untagged"]]["cost_pico"].sum())) / PICO / total
    uncovered_share = (total - Decimal(int(t["cost_pico"].sum())) / PICO) / total
    unattributed = sum(
        _attributed_by(db, "x_provider", "x_attribution_method <> 'telemetry'").values()
    )
    share = unattributed / total - uncovered_share
    assert abs(share - untagged_share) <= Decimal("0.005"), (share, untagged_share)
    # no team is charged for another team's calls: what each team pays for features is
    # exactly its own tagged calls, and every telemetry row names the calls' own team
    truth = _truth_by_feature(sim)
    got = _attributed_by(db, "team, feature", "x_attribution_method = 'telemetry'")
    assert _to_cent(got) == _to_cent(truth)
    owners = {(team, feature) for team, feature in truth}
    assert set(got) <= owners
    # each conversation pays for its tagged calls, to the cent: the incremental rebuild
    # redid every day whose calls changed
    _assert_conversations_match(figures["by_conversation"], _truth_by_conversation(sim))


def test_unit_economics(complete, world):
    sim = TelemetrySim(world)
    calls = sim.reported().to_pandas()
    requests = calls.groupby("feature").size().to_dict()
    for feature, request_count, cost, cost_by_request in complete["unit"]:
        if feature == "unattributed":
            continue
        assert request_count == requests[feature]
        assert abs(Decimal(str(cost_by_request)) - Decimal(str(cost))) < CENT


def test_complete_telemetry_matches_truth_per_conversation(world, complete):
    _assert_conversations_match(
        complete["by_conversation"], _truth_by_conversation(TelemetrySim(world))
    )


def test_cost_per_conversation_in_unit_economics(world, complete):
    """Per day × feature group: the conversations whose calls the bill charges, and what they
    cost each on average, against the simulator's calls."""
    calls = TelemetrySim(world).reported().to_pandas()
    calls = calls[calls["cost_pico"] > 0]  # Priority Tier calls: not on the bill
    keys = ["event_date", "provider", "team", "application", "feature", "prompt_template_id"]
    grouped = calls.groupby([*keys, "model"])
    conversations = grouped["conversation_id"].nunique().to_dict()
    cost = grouped["cost_pico"].sum().to_dict()
    seen = set()
    for *key, conversation_count, cost_per_conversation in complete["unit_conversations"]:
        key = tuple(key)
        seen.add(key)
        assert conversation_count == conversations.get(key, 0), key
        if conversation_count:
            spent = Decimal(cost_per_conversation) * conversation_count
            assert abs(spent - Decimal(int(cost[key])) / PICO) < CENT, key
    assert set(conversations) <= seen


# ------------------------------------------------------------------------ recording helper
def test_helper_records_real_sdk_responses(world, tmp_path):
    import anthropic
    import openai

    from ingestion.telemetry import read_file
    from tokenledger.telemetry import record_llm_call

    out = tmp_path / "jsonl" / "helpdesk" / "calls.jsonl"
    tags = dict(
        team="support",
        feature="reply-draft",
        prompt_template_id="tpl-reply",
        prompt_template_version="v3",
        conversation_id="c-1",
        end_user_id="u-1",
        application="helpdesk",
        api_key_id="key_abc",
        sub_account_id="proj_x",
    )
    server = serve(world)
    try:
        oa = openai.OpenAI(api_key="sk-test", base_url=f"{server.url}/v1", max_retries=0)
        chat = oa.chat.completions.create(
            model="o3-mini", messages=[{"role": "user", "content": "hello " * 900}]
        )
        resp = oa.responses.create(model="gpt-4o", input="hello " * 1200)
        an = anthropic.Anthropic(api_key="sk-ant-test", base_url=server.url, max_retries=0)
        msg = an.messages.create(
            model="claude-sonnet-4-0",
            max_tokens=100,
            system=[
                {
                    "type": "text",
                    "text": "policy " * 500,
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                }
            ],
            messages=[{"role": "user", "content": "hi"}],
        )
        events = [record_llm_call(r, path=out, **tags) for r in (chat, resp, msg)]
    finally:
        server.shutdown()
    u = chat.usage
    assert (
        events[0]["usage"]["input_tokens"]
        == u.prompt_tokens - u.prompt_tokens_details.cached_tokens
    )
    assert events[0]["usage"]["cached_input_tokens"] == u.prompt_tokens_details.cached_tokens > 0
    assert (
        events[0]["usage"]["reasoning_tokens"] == u.completion_tokens_details.reasoning_tokens > 0
    )
    assert events[0]["model"] == "o3-mini-2025-01-31"
    r = resp.usage
    assert (
        events[1]["usage"]["input_tokens"] + events[1]["usage"]["cached_input_tokens"]
        == r.input_tokens
    )
    m = msg.usage
    assert events[2]["provider"] == "anthropic"
    assert events[2]["usage"]["input_tokens"] == m.input_tokens
    assert events[2]["usage"]["cached_input_tokens"] == m.cache_read_input_tokens
    assert events[2]["usage"]["cache_write_1h_tokens"] == m.cache_creation_input_tokens > 0
    assert events[2]["usage"]["cache_write_5m_tokens"] == 0
    assert events[2]["service_tier"] == "standard"
    # the file is what the pipeline reads: three valid events, nothing quarantined
    rows, quarantined = read_file("jsonl", out, "jsonl/helpdesk/calls.jsonl")
    assert rows.num_rows == 3 and quarantined.num_rows == 0
    assert rows["team"].to_pylist() == ["support"] * 3
    assert json.loads(out.read_text().splitlines()[2])["usage"]["output_tokens"] == m.output_tokens
    with pytest.raises(ValueError, match="never the secret"):
        record_llm_call(msg, path=out, api_key_id="sk-ant-api03-secret")


def test_a_secret_key_in_a_key_id_field_never_lands(tmp_path):
    """An app that logs its key's secret where the key id belongs: the call lands (its tokens
    still explain the bill) with no key, and the secret is in no column."""
    from ingestion.telemetry import read_file

    secret = "sk-proj-THISISASECRET"
    path = tmp_path / "calls.jsonl"
    path.write_text(
        json.dumps(
            {
                "event_id": "e1",
                "occurred_at": "2026-01-05T10:00:00Z",
                "provider": "openai",
                "model": "gpt-4o",
                "api_key_id": secret,
                "usage": {"input_tokens": 12},
            }
        )
        + "\n"
    )
    rows, quarantined = read_file("jsonl", path, "jsonl/app/calls.jsonl")
    assert rows.num_rows == 1 and quarantined.num_rows == 0
    assert rows["api_key_id"].to_pylist() == [None]
    assert secret not in str(rows.to_pylist())


def test_both_readers_land_the_same_rows_and_quarantine(tmp_path):
    """DuckDB's reader (many files at once) and Arrow's (file by file) give the same rows, row
    keys and line numbers, and quarantine the same lines with the same reasons: whole files,
    a file with blank lines, a line that is not JSON, a token count that is text, a missing
    timestamp, a missing model; in both flat formats."""
    import duckdb

    from ingestion.telemetry import read_file, read_files

    def event(i: int, **extra) -> str:
        row = {
            "event_id": f"e{i}",
            "occurred_at": "2026-01-05T10:00:00Z",
            "provider": "openai",
            "model": "gpt-4o",
            "team": "search",
            "usage": {"input_tokens": i, "output_tokens": 2 * i},
        }
        return json.dumps({**row, **extra})

    def spend_log(i: int, **extra) -> str:
        row = {
            "request_id": f"r{i}",
            "startTime": "2026-01-05T10:00:00Z",
            "model": "gpt-4o",
            "prompt_tokens": i,
            "metadata": {"spend_logs_metadata": {"feature": "f"}},
        }
        return json.dumps({**row, **extra})

    for fmt, line in (("jsonl", event), ("litellm", spend_log)):
        files = {
            "good.jsonl": "\n".join(line(i) for i in range(5)) + "\n",
            "blank.jsonl": "\n" + line(10) + "\n  \n" + line(11),
            "not_json.jsonl": line(20) + '\n{"event_id": "broken", \n' + line(21) + "\n",
            "text_count.jsonl": line(30) + "\n" + line(31, prompt_tokens="many") + "\n"
            if fmt == "litellm"
            else line(30) + "\n" + line(31, usage={"input_tokens": "many"}) + "\n",
            "missing.jsonl": line(40, occurred_at=None, startTime=None)
            + "\n"
            + line(41, model=None)
            + "\n"
            + line(42)
            + "\n",
        }
        items = []
        for name, text in files.items():
            path = tmp_path / fmt / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            items.append((path, f"{fmt}/{name}"))
        with duckdb.connect() as con:
            rows, quarantined = read_files(con, fmt, items, "t")
        one_by_one = [read_file(fmt, path, rel, "t") for path, rel in items]
        expected_rows = pa.concat_tables([r for r, _ in one_by_one])
        expected_bad = pa.concat_tables([q for _, q in one_by_one])
        assert rows.sort_by(ROW_KEY).equals(expected_rows.sort_by(ROW_KEY)), fmt
        assert quarantined.sort_by(ROW_KEY).equals(expected_bad.sort_by(ROW_KEY)), fmt
        keys = set(rows[ROW_KEY].to_pylist())
        assert {f"{fmt}/blank.jsonl#2", f"{fmt}/blank.jsonl#4", f"{fmt}/good.jsonl#5"} <= keys
        assert len(keys) == 5 + 2 + 2 + 1 + 1
        reasons = dict(
            zip(quarantined[ROW_KEY].to_pylist(), quarantined["reason"].to_pylist(), strict=True)
        )
        assert reasons[f"{fmt}/not_json.jsonl#2"].startswith("invalid JSON")
        assert "schema" in reasons[f"{fmt}/text_count.jsonl#2"]
        assert "missing or invalid" in reasons[f"{fmt}/missing.jsonl#1"]
        assert reasons[f"{fmt}/missing.jsonl#2"] == "missing model"

    # a fractional token count: DuckDB would round it; it is quarantined (as Arrow's reader
    # does), the other lines of its file land
    path = tmp_path / "fraction.jsonl"
    path.write_text(event(50) + "\n" + event(51, usage={"input_tokens": 1.5}) + "\n")
    with duckdb.connect() as con:
        rows, quarantined = read_files(con, "jsonl", [(path, "jsonl/fraction.jsonl")], "t")
    assert rows["event_id"].to_pylist() == ["e50"]
    assert quarantined[ROW_KEY].to_pylist() == ["jsonl/fraction.jsonl#2"]
    assert quarantined["reason"].to_pylist() == [
        "does not match the format's schema: usage.input_tokens is not an integer"
    ]
    rows, quarantined = read_file("jsonl", path, "jsonl/fraction.jsonl", "t")
    assert rows["event_id"].to_pylist() == ["e50"] and quarantined.num_rows == 1
