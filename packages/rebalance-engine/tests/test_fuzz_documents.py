"""Property-based fuzzing of the engine's external documents: allocations and replacement sets.

Whatever the bytes, the parser either returns a valid value or raises ``InvalidInputError``
whose ``source`` is the document's file or URL; never any other exception. A document that
parses goes on to a plan on the in-memory broker: a plan, a refusal or a named error, never a
traceback. Derandomized with a bounded number of examples, so ``make test`` stays fast and
reproducible (no example database).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import yaml
from broker_connector_base import BrokerError, InvalidInputError
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.models import ContractPrice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rebalance_engine import Rebalancer, StaticAllocationSource, parse_allocations
from rebalance_engine.allocation_document import SUM_TOLERANCE
from rebalance_engine.replacement_service import parse_replacement_sets
from rebalance_engine.testing import ACCOUNT, account_config

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SOURCE = "https://api.example/v1/etf-blend/allocations"

VALID: dict[str, Any] = {
    "status": "success",
    "data": {
        "name": "etf-blend",
        "strategy_long_name": "ETF blend",
        "last_rebalance_on": "2026-11-20",
        "allocations": [
            {"symbol": "SPY", "allocation": 0.6},
            {"symbol": "AGG", "allocation": 0.3},
            {"symbol": "GLD", "allocation": 0.1},
        ],
    },
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["0.5", "SPY", "success", "", " ", "etf-blend", "1e999", "NaN"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
PATHS: list[tuple[str | int, ...]] = [
    (),
    ("status",),
    ("data",),
    ("data", "name"),
    ("data", "strategy_long_name"),
    ("data", "last_rebalance_on"),
    ("data", "allocations"),
    ("data", "allocations", 0),
    ("data", "allocations", 1, "symbol"),
    ("data", "allocations", 2, "allocation"),
]


def _replaced(path: tuple[str | int, ...], value: Any) -> Any:
    document = json.loads(json.dumps(VALID))
    if not path:
        return value
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


def _with_key(path: tuple[str | int, ...], key: str, value: Any) -> Any:
    document = json.loads(json.dumps(VALID))
    target = document
    for part in path:
        target = target[part]
    if isinstance(target, dict):
        target[key] = value
    return document


def _dumps(document: Any) -> str:
    return json.dumps(document, allow_nan=True)


def _corrupt(text: str, edits: list[tuple[int, int, str]]) -> str:
    for position, cut, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + cut :]
    return text


documents = st.one_of(
    json_values.map(_dumps),
    st.builds(_replaced, st.sampled_from(PATHS), json_values).map(_dumps),
    st.builds(
        _with_key,
        st.sampled_from([(), ("data",), ("data", "allocations", 0)]),
        st.text(max_size=12),
        json_values,
    ).map(_dumps),
    st.builds(
        _corrupt,
        st.just(_dumps(VALID)),
        st.lists(
            st.tuples(st.integers(0, 400), st.integers(0, 5), st.text(max_size=4)), max_size=3
        ),
    ),
    st.text(max_size=200),
)
raw_documents = st.one_of(
    documents.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
)


def _exchange() -> FakeExchange:
    """Cash and some holdings, quotes for a few symbols (others are unknown to the broker)."""
    quotes = {"SPY": "589.10", "AGG": "99.02", "GLD": "245.80", "TLT": "92.87"}
    return FakeExchange(
        accounts={ACCOUNT: FakeAccount(cash=Decimal(100_000), positions={"SPY": 50, "TLT": 100})},
        quotes=[
            ContractPrice(symbol=s, bid=Decimal(bid), ask=Decimal(bid) + Decimal("0.02"))
            for s, bid in quotes.items()
        ],
    )


def _check_parsed_or_named(raw: str | bytes) -> Any:
    """Parse; a refusal must be an ``InvalidInputError`` naming ``SOURCE``."""
    try:
        parsed = parse_allocations(raw, source=SOURCE, strategy_name="etf-blend")
    except InvalidInputError as exc:
        refusal: InvalidInputError | None = exc
    else:
        refusal = None
    if refusal is not None:
        assert refusal.source == SOURCE
        assert str(refusal).startswith(f"{SOURCE}: allocations document")
        return None
    symbols = [item.symbol for item in parsed.allocations]
    assert parsed.name == "etf-blend"
    assert len(symbols) == len(set(symbols))
    total = sum((item.allocation for item in parsed.allocations), Decimal(0))
    assert abs(total - 1) <= SUM_TOLERANCE
    assert all(isinstance(item.allocation, Decimal) for item in parsed.allocations)
    return parsed


@FUZZ
@given(documents)
def test_fuzzed_allocation_text_is_parsed_or_refused_naming_source(text: str) -> None:
    _check_parsed_or_named(text)


@FUZZ
@given(raw_documents)
def test_fuzzed_allocation_bytes_are_parsed_or_refused_naming_source(raw: bytes) -> None:
    _check_parsed_or_named(raw)


@settings(max_examples=40, derandomize=True, database=None, deadline=None)
@given(documents)
def test_fuzzed_allocations_that_parse_give_a_plan_or_a_named_error(text: str) -> None:
    parsed = _check_parsed_or_named(text)
    if parsed is None:
        return

    async def preview() -> None:
        broker = InMemoryBroker(_exchange())
        await broker.connect()
        source = StaticAllocationSource({"etf-blend": parsed})
        try:
            result = await Rebalancer(broker, allocation_source=source).calculate_rebalance(
                account_config()
            )
        except (InvalidInputError, BrokerError):
            return  # a symbol the broker does not know, named by the error
        finally:
            await broker.disconnect()
        assert result.success or result.refusal is not None

    asyncio.run(preview())


def test_the_unfuzzed_document_is_valid() -> None:
    assert _check_parsed_or_named(_dumps(VALID)) is not None


# --------------------------------------------------------------------------------------------
# Replacement sets
# --------------------------------------------------------------------------------------------

SETS_SOURCE = "/etc/rebalancer/replacement-sets.yaml"

symbols = st.sampled_from(["DBC", "PDBC", "GLD", "IAU", "SPY", "spy ", "", "A/B", "X" * 30])
entries = st.fixed_dictionaries(
    {"source": symbols | scalars, "target": symbols | scalars},
    optional={"scale": scalars | st.decimals(-2, 2, places=3), "extra": scalars},
)
set_documents = st.one_of(
    st.dictionaries(st.text(max_size=8) | scalars, st.lists(entries, max_size=4) | json_values),
    json_values,
).map(lambda data: yaml.safe_dump(json.loads(json.dumps(data, default=str))))
yaml_texts = st.one_of(set_documents, st.text(max_size=200))


@FUZZ
@given(yaml_texts)
def test_fuzzed_replacement_sets_are_parsed_or_refused_naming_the_file(text: str) -> None:
    try:
        service = parse_replacement_sets(text, source=SETS_SOURCE)
    except InvalidInputError as exc:
        refusal: InvalidInputError | None = exc
    else:
        refusal = None
    if refusal is not None:
        assert refusal.source == SETS_SOURCE
        return
    for name in service.set_names():
        if name in service.invalid_sets():
            continue
        entries_of = service.replacements(name)
        sources = {r.source for r in entries_of}
        # Applied once: no target is replaced again (no chain, no cycle).
        assert not sources & {r.target for r in entries_of}
        assert len(sources) == len(entries_of)
        assert all(Decimal(0) < r.scale <= 1 for r in entries_of)
