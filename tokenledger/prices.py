"""The dated price catalogue: generated from the maintained `genai-prices` package, never typed.

Business purpose: estimated cost (usage × price) needs a list price per provider, model, token
type, service tier, context tier and day. Nobody keeps that table by hand: `tokenledger prices
refresh` writes it from the pinned `genai-prices` package into two generated dbt seeds, and
`tokenledger prices check` (and a test) fail when the committed seeds drift from the package.
Negotiated prices and corrections go in `seeds/price_overrides.csv`, which wins over the
catalogue; `validate_price_overrides` rejects a malformed or unknown row, naming it.

Seeds written (grain in brackets):
- `seeds/genai_prices_catalogue.csv` [catalogue provider × model × service tier × token type ×
  context tier × effective_from]: `unit_price` is USD per token (per request for web search),
  exact; `list_price` / `list_price_unit` are the figures as published (per 1M tokens / 1K).
- `seeds/genai_prices_model_matches.csv` [provider × match_order × alternative × atom]: the
  package's model-matching rules flattened to OR-of-AND atoms (`equals`, `starts_with`,
  `ends_with`, `contains`, `regex`, `not_regex`) so SQL resolves a model name exactly as
  `genai_prices` does (first matching model in the package's order, then fallback providers).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

from tokenledger import paths

CATALOGUE_SEED = "genai_prices_catalogue.csv"
MATCHES_SEED = "genai_prices_model_matches.csv"
OVERRIDES_SEED = "price_overrides.csv"

CATALOGUE_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws_bedrock": "aws",
    "gcp_vertex_ai": "google",
    "azure_openai": "azure",
}
"""tokenledger provider slug → genai-prices provider id."""

TOKEN_TYPE_USAGE_KEYS: dict[str, str] = {
    "input": "input_tokens",
    "cached_input": "cache_read_tokens",
    "cache_write": "cache_write_tokens",
    "cache_write_5m": "cache_write_5m_tokens",
    "cache_write_1h": "cache_write_1h_tokens",
    "output": "output_tokens",
    "input_audio": "input_audio_tokens",
    "output_audio": "output_audio_tokens",
    "web_search": "web_searches",
}
"""Conformed token type → genai-prices usage key. Reasoning tokens are part of `output` (the
providers report and bill them inside output tokens), so they have no price of their own."""

SERVICE_TIER_CONTEXTS: dict[str, dict[str, str] | None] = {
    "standard": None,
    "batch": {"processing": "batch"},
    "priority": {"service_tier": "priority"},
    "flex": {"service_tier": "flex"},
}
"""Conformed service tier → the genai-prices price context that selects its price variant."""

SERVICE_TIERS = tuple(SERVICE_TIER_CONTEXTS)
TOKEN_TYPES = tuple(TOKEN_TYPE_USAGE_KEYS)
PRICE_UNITS: dict[str, Decimal] = {
    "1M tokens": Decimal("0.000001"),
    "1K requests": Decimal("0.001"),
    "1 unit": Decimal("1"),
}
"""Published price units → the factor that turns a published price into a price per unit."""

CATALOGUE_COLUMNS = (
    "catalogue_provider_id",
    "catalogue_model_id",
    "service_tier",
    "token_type",
    "context_tier_start_tokens",
    "effective_from",
    "effective_to",
    "unit_price",
    "list_price",
    "list_price_unit",
    "currency",
    "price_source",
)
MATCH_COLUMNS = (
    "provider",
    "match_order",
    "catalogue_provider_id",
    "catalogue_model_id",
    "alternative_id",
    "atom_count",
    "match_op",
    "match_value",
)
OVERRIDE_COLUMNS = (
    "override_id",
    "provider",
    "model",
    "token_type",
    "service_tier",
    "context_tier_start_tokens",
    "effective_from",
    "effective_to",
    "price",
    "price_unit",
    "currency",
    "reason",
)


def package_version() -> str:
    """The genai-prices version the catalogue is generated from (pinned in pyproject.toml)."""
    return version("genai-prices")


def _units() -> dict[str, tuple[str, int, frozenset]]:
    """usage key → (price key, per, dimensions) from the package's unit registry data."""
    from genai_prices.data_units import unit_data

    return {
        key: (raw["price_key"], int(raw["per"]), frozenset(raw.get("dimensions", {}).items()))
        for key, raw in unit_data.items()
    }


def _priced_unit(model_price, usage_key: str, units) -> tuple[str, int] | None:
    """The price key that bills `usage_key` under genai-prices' decomposition: the unit itself
    when priced, else its most specific priced ancestor (cache writes with no price of their
    own bill as input, as the package computes). None when nothing prices it."""
    _, _, dims = units[usage_key]
    candidates = [
        (len(a_dims), price_key, per)
        for key, (price_key, per, a_dims) in units.items()
        if a_dims <= dims and getattr(model_price, price_key, None) is not None
    ]
    if not candidates:
        return None
    candidates.sort(reverse=True)
    if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
        return None  # two equally specific parents: ambiguous, leave unpriced
    return candidates[0][1], candidates[0][2]


def _tier_prices(value) -> list[tuple[int, Decimal]]:
    """[(context tier start, price)] of a Decimal or TieredPrices (cliff tiers by input)."""
    from genai_prices.types import TieredPrices

    if isinstance(value, TieredPrices):
        return [(0, value.base)] + [(t.start, t.price) for t in value.tiers]
    return [(0, value)]


def _breakpoints(model) -> list[date]:
    """Every day a price of `model` (standard or a variant) starts."""
    from genai_prices.types import StartDateConstraint

    days: set[date] = set()
    prices = model.prices if isinstance(model.prices, list) else []
    for conditional in prices:
        if isinstance(conditional.constraint, StartDateConstraint):
            days.add(conditional.constraint.start_date)
    for variant in model.price_variants or ():
        if isinstance(variant.constraint, StartDateConstraint):
            days.add(variant.constraint.start_date)
    return sorted(days)


def _has_variant(model, context: dict[str, str], at: datetime) -> bool:
    return any(
        all(context.get(k) == v for k, v in variant.when.items())
        and (variant.constraint is None or variant.constraint.active(at))
        for variant in model.price_variants or ()
    )


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _model_rows(provider_id: str, model, units, source: str) -> Iterator[dict]:
    """Catalogue rows of one model: per tier × token type × context tier × date segment."""
    starts = [None, *_breakpoints(model)]
    segments = [(s, starts[i + 1] if i + 1 < len(starts) else None) for i, s in enumerate(starts)]
    for tier, context in SERVICE_TIER_CONTEXTS.items():
        previous: dict[tuple, tuple] = {}
        for seg_from, seg_to in segments:
            at = datetime.combine(seg_from or date(1970, 1, 1), datetime.min.time(), tzinfo=UTC)
            if context is not None and not _has_variant(model, context, at):
                continue  # the catalogue has no price for this tier on these days
            model_price = model.get_prices(at, context)
            for token_type, usage_key in TOKEN_TYPE_USAGE_KEYS.items():
                priced = _priced_unit(model_price, usage_key, units)
                if priced is None:
                    continue
                price_key, per = priced
                for tier_start, price in _tier_prices(getattr(model_price, price_key)):
                    key = (token_type, tier_start)
                    row = {
                        "catalogue_provider_id": provider_id,
                        "catalogue_model_id": model.id,
                        "service_tier": tier,
                        "token_type": token_type,
                        "context_tier_start_tokens": tier_start,
                        "effective_from": seg_from.isoformat() if seg_from else "",
                        "effective_to": seg_to.isoformat() if seg_to else "",
                        "unit_price": _fmt(price / per),
                        "list_price": _fmt(price),
                        "list_price_unit": "1K requests" if per == 1000 else "1M tokens",
                        "currency": "USD",
                        "price_source": source,
                    }
                    # merge a segment into the previous one when nothing changed
                    last = previous.get(key)
                    if (
                        last is not None
                        and last[0]["unit_price"] == row["unit_price"]
                        and (last[0]["effective_to"] == row["effective_from"])
                    ):
                        last[0]["effective_to"] = row["effective_to"]
                        continue
                    previous[key] = (row,)
                    yield row


def catalogue_rows() -> list[dict]:
    """The whole dated catalogue of the providers tokenledger prices (genai-prices data)."""
    from genai_prices.data import providers

    units = _units()
    source = f"genai-prices {package_version()}"
    wanted = set(CATALOGUE_PROVIDERS.values())
    rows: list[dict] = []
    for provider in providers:
        if provider.id not in wanted:
            continue
        for model in provider.models:
            # rows are yielded before a later segment may extend them: materialise per model
            rows.extend(list(_model_rows(provider.id, model, units, source)))
    for provider in providers:  # fallback providers' models are priced under their own id
        for fallback in provider.fallback_model_providers or ():
            if provider.id in wanted and fallback not in wanted:
                target = next(p for p in providers if p.id == fallback)
                for model in target.models:
                    rows.extend(list(_model_rows(target.id, model, units, source)))
                wanted.add(fallback)
    return rows


_NEGATIVE_LOOKAHEAD = re.compile(r"^\^\(\?!(.*)\)$")


def _atoms(logic) -> list[list[tuple[str, str]]]:
    """A genai-prices match clause as OR of AND lists of (op, value) atoms (lower-cased text
    for the text ops; regexes as written, matched against the lower-cased model name)."""
    from genai_prices import types as t

    if isinstance(logic, t.ClauseOr):
        return [alt for clause in logic.or_ for alt in _atoms(clause)]
    if isinstance(logic, t.ClauseAnd):
        alternatives: list[list[tuple[str, str]]] = [[]]
        for clause in logic.and_:
            alternatives = [a + b for a in alternatives for b in _atoms(clause)]
        return alternatives
    if isinstance(logic, t.ClauseRegex):
        lookahead = _NEGATIVE_LOOKAHEAD.match(logic.regex)
        if lookahead:  # `^(?!X)` → not matching `^X` (RE2 has no lookaround)
            return [[("not_regex", "^" + lookahead.group(1))]]
        return [[("regex", logic.regex)]]
    for cls, op, attr in (
        (t.ClauseEquals, "equals", "equals"),
        (t.ClauseStartsWith, "starts_with", "starts_with"),
        (t.ClauseEndsWith, "ends_with", "ends_with"),
        (t.ClauseContains, "contains", "contains"),
    ):
        if isinstance(logic, cls):
            return [[(op, getattr(logic, attr).lower())]]
    raise TypeError(f"unknown genai-prices match clause {logic!r}")


def _portable_regex(pattern: str) -> bool:
    """True when DuckDB's RE2 accepts the pattern (PostgreSQL's ARE accepts a superset)."""
    import duckdb

    try:
        duckdb.sql("select regexp_matches('x', ?)", params=[pattern]).fetchall()
    except duckdb.Error:
        return False
    return True


def match_rows() -> list[dict]:
    """Model-matching atoms per tokenledger provider, in genai-prices' lookup order."""
    from genai_prices.data import providers

    by_id = {p.id: p for p in providers}
    rows: list[dict] = []
    for slug, provider_id in CATALOGUE_PROVIDERS.items():
        provider = by_id[provider_id]
        chain = [provider] + [by_id[f] for f in provider.fallback_model_providers or ()]
        order = 0
        for source in chain:
            for model in source.models:
                order += 1
                for alt_id, atoms in enumerate(_atoms(model.match)):
                    if any(op.endswith("regex") and not _portable_regex(v) for op, v in atoms):
                        continue  # SQL cannot evaluate it: the model stays unmatched (visible)
                    for op, value in atoms:
                        rows.append(
                            {
                                "provider": slug,
                                "match_order": order,
                                "catalogue_provider_id": source.id,
                                "catalogue_model_id": model.id,
                                "alternative_id": alt_id,
                                "atom_count": len(atoms),
                                "match_op": op,
                                "match_value": value,
                            }
                        )
    return rows


def _write_csv(path: Path, columns: Iterable[str], rows: Iterable[dict]) -> int:
    n = 0
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


def seeds_dir() -> Path:
    return paths.PROJECT_DIR / "seeds"


def refresh_catalogue(directory: Path | None = None) -> dict[str, int]:
    """Write the two generated seeds from the installed genai-prices; returns rows per file."""
    directory = directory or seeds_dir()
    return {
        CATALOGUE_SEED: _write_csv(directory / CATALOGUE_SEED, CATALOGUE_COLUMNS, catalogue_rows()),
        MATCHES_SEED: _write_csv(directory / MATCHES_SEED, MATCH_COLUMNS, match_rows()),
    }


def catalogue_is_current(directory: Path | None = None) -> list[str]:
    """Names of the generated seeds that differ from what the installed package generates."""
    import tempfile

    directory = directory or seeds_dir()
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        refresh_catalogue(Path(tmp))
        for name in (CATALOGUE_SEED, MATCHES_SEED):
            current = directory / name
            fresh = Path(tmp) / name
            if not current.exists() or current.read_bytes() != fresh.read_bytes():
                stale.append(name)
    return stale


# ------------------------------------------------------------------ override seed validation
class PriceOverrideError(ValueError):
    """A row of seeds/price_overrides.csv that cannot be applied; the message names the row."""


@dataclass(frozen=True)
class PriceOverride:
    row_number: int
    override_id: str
    provider: str
    model: str
    token_type: str
    service_tier: str
    context_tier_start_tokens: int
    effective_from: date | None
    effective_to: date | None
    unit_price: Decimal
    currency: str


def _known_providers() -> set[str]:
    with (seeds_dir() / "providers.csv").open() as fh:
        return {row["provider"] for row in csv.DictReader(fh)}


def _known_currencies() -> set[str]:
    with (seeds_dir() / "currency_codes.csv").open() as fh:
        return {row["currency_code"] for row in csv.DictReader(fh)}


def normalize_model_ref(model: str) -> str:
    """The catalogue reference of a reported model name: lower case, the part after the last
    `/` (Bedrock ARNs, Vertex publisher paths); the Python twin of the dbt macro."""
    return model.strip().rsplit("/", 1)[-1].strip().lower()


def model_is_known(provider: str, model: str) -> bool:
    """True when genai-prices resolves `model` for the provider (as the SQL lookup does)."""
    from genai_prices.data_snapshot import get_snapshot

    provider_id = CATALOGUE_PROVIDERS.get(provider)
    if provider_id is None:
        return False
    try:
        get_snapshot().find_provider_model(normalize_model_ref(model), None, provider_id, None)
    except LookupError:
        return False
    return True


def _overlaps(a: PriceOverride, b: PriceOverride) -> bool:
    """Same key and at least one common day."""
    key_a = (a.provider, a.model.lower(), a.token_type, a.service_tier, a.context_tier_start_tokens)
    key_b = (b.provider, b.model.lower(), b.token_type, b.service_tier, b.context_tier_start_tokens)
    if key_a != key_b:
        return False
    a_before_b = (
        a.effective_to is not None
        and b.effective_from is not None
        and (a.effective_to <= b.effective_from)
    )
    b_before_a = (
        b.effective_to is not None
        and a.effective_from is not None
        and (b.effective_to <= a.effective_from)
    )
    return not (a_before_b or b_before_a)


def _parse_override(
    raw: dict, number: int, providers: set[str], currencies: set[str], seen: set | None
) -> PriceOverride:
    """One seed row → PriceOverride, or PriceOverrideError naming the line and the reason."""
    where = (
        f"{OVERRIDES_SEED} line {number} (override_id {raw.get('override_id')!r}: "
        f"{raw.get('provider')}, {raw.get('model')}, {raw.get('token_type')}, "
        f"{raw.get('service_tier')})"
    )

    def bad(reason: str) -> PriceOverrideError:
        return PriceOverrideError(f"{where}: {reason}")

    provider = (raw["provider"] or "").strip()
    model = (raw["model"] or "").strip()
    token_type, tier = raw["token_type"], raw["service_tier"]
    if not (raw["override_id"] or "").strip():
        raise bad("override_id is empty")
    if provider not in providers:
        raise bad(f"unknown provider {provider!r} (not in seeds/providers.csv)")
    if not model:
        raise bad("model is empty")
    if (
        seen is not None
        and not model_is_known(provider, model)
        and (provider, normalize_model_ref(model)) not in seen
    ):
        raise bad(
            f"unknown model {model!r}: genai-prices does not know it for {provider} "
            "and no usage reports it (check the spelling)"
        )
    if token_type not in TOKEN_TYPES:
        raise bad(f"token_type {token_type!r} is not one of {', '.join(TOKEN_TYPES)}")
    if tier not in SERVICE_TIERS:
        raise bad(f"service_tier {tier!r} is not one of {', '.join(SERVICE_TIERS)}")
    try:
        tier_start = int(raw["context_tier_start_tokens"] or 0)
        start = date.fromisoformat(raw["effective_from"]) if raw["effective_from"] else None
        end = date.fromisoformat(raw["effective_to"]) if raw["effective_to"] else None
    except ValueError as exc:
        raise bad(f"bad context tier or date: {exc}") from None
    if start and end and end <= start:
        raise bad(f"effective_to {end} is not after effective_from {start}")
    try:
        price = Decimal(raw["price"])
    except (ArithmeticError, TypeError, ValueError):
        raise bad(f"price {raw['price']!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise bad(f"price {raw['price']!r} must be a non-negative number")
    unit = raw["price_unit"]
    if unit not in PRICE_UNITS:
        raise bad(f"price_unit {unit!r} is not one of {', '.join(PRICE_UNITS)}")
    if raw["currency"] not in currencies:
        raise bad(f"currency {raw['currency']!r} is not in seeds/currency_codes.csv")
    if not (raw.get("reason") or "").strip():
        raise bad("reason is empty: say why this price differs from the catalogue")
    return PriceOverride(
        number,
        raw["override_id"].strip(),
        provider,
        model,
        token_type,
        tier,
        tier_start,
        start,
        end,
        price * PRICE_UNITS[unit],
        raw["currency"],
    )


def validate_price_overrides(
    path: Path | None = None, seen_models: Iterable[tuple[str, str]] | None = ()
) -> list[PriceOverride]:
    """Parse and check the override seed; raise PriceOverrideError naming the first bad row.

    A row must have an id, name a known provider, a conformed token type and service tier, a
    model that the catalogue knows or that usage has reported (`seen_models`: (provider,
    model) pairs; None skips the model check, left to the dbt test), a non-negative price in
    a known unit and currency, a reason, and from < to; two rows of one key share no day.
    """
    path = path or seeds_dir() / OVERRIDES_SEED
    providers, currencies = _known_providers(), _known_currencies()
    seen = None if seen_models is None else {(p, normalize_model_ref(m)) for p, m in seen_models}
    out: list[PriceOverride] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in OVERRIDE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise PriceOverrideError(f"{path.name}: missing column(s) {', '.join(missing)}")
        for number, raw in enumerate(reader, start=2):  # line 1 is the header
            override = _parse_override(raw, number, providers, currencies, seen)
            for other in out:
                if other.override_id == override.override_id:
                    raise PriceOverrideError(
                        f"{OVERRIDES_SEED} line {number}: override_id "
                        f"{override.override_id!r} repeats line {other.row_number}"
                    )
                if _overlaps(other, override):
                    raise PriceOverrideError(
                        f"{OVERRIDES_SEED} line {number} (override_id "
                        f"{override.override_id!r}): overlaps line {other.row_number} "
                        f"({other.override_id!r}) for the same key and days"
                    )
            out.append(override)
    return out


def reported_models(warehouse) -> set[tuple[str, str]] | None:
    """(provider, model) pairs usage has reported (int_models__resolved), None before the
    first build."""
    try:
        _, rows = warehouse.query(
            "select provider, model, model_ref from intermediate.int_models__resolved"
        )
    except Exception:  # no warehouse or no build yet: the dbt test checks models then
        return None
    return {(p, m) for p, m, _ in rows} | {(p, r) for p, _, r in rows}


def check_price_overrides(warehouse=None) -> list[PriceOverride]:
    """The pipeline's pre-flight: the override seed is valid, else PriceOverrideError."""
    seen = reported_models(warehouse) if warehouse is not None else None
    return validate_price_overrides(seen_models=seen)
