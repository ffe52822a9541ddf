"""``fetch_targets``: several strategies fetched at once, blended by weight, replaced after the
blend, and every target symbol attributed to the strategies whose allocations it carries."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import (
    AccountConfig,
    AllocationItem,
    InvalidInputError,
    StrategyAttribution,
)
from rebalance_engine import (
    Replacement,
    ReplacementService,
    StaticAllocationSource,
    StrategyAllocations,
    calculator_targets,
    fetch_targets,
)

IRA = ReplacementService(
    {
        "ira": [
            Replacement(source="DBC", target="PDBC", scale=Decimal(1)),
            Replacement(source="GLD", target="IAU", scale=Decimal("0.5")),
        ]
    }
)


def _config(**changes: Any) -> AccountConfig:
    return AccountConfig.model_validate({"account_id": "DU1", "type": "paper", **changes})


def _two(a: str = "0.6", b: str = "0.4", **changes: Any) -> AccountConfig:
    return _config(strategies=[{"name": "A", "weight": a}, {"name": "B", "weight": b}], **changes)


def _weights(items: list[AllocationItem]) -> dict[str, Decimal]:
    return {i.symbol: i.allocation for i in items}


def _shares(attribution: StrategyAttribution) -> dict[str, Decimal]:
    return dict(attribution.shares)


async def test_two_strategies_blend_by_weight_and_each_unallocated_share_stays_cash() -> None:
    source = StaticAllocationSource(
        {"A": {"SPY": "0.5", "AGG": "0.49"}, "B": {"SPY": "0.25", "IEF": "0.75"}}
    )
    targets = await fetch_targets(_two(), source, None)

    assert _weights(targets.allocations) == {
        "SPY": Decimal("0.4"),
        "AGG": Decimal("0.294"),
        "IEF": Decimal("0.3"),
    }
    # A leaves 1 % of its 60 % in cash: 0.6 %, kept in the calculator's reserve.
    weights, reserve = calculator_targets(targets.allocations, Decimal(1))
    assert sum(w.allocation for w in weights) == 1
    assert reserve == Decimal(100) * (1 - Decimal("0.99") * Decimal("0.994"))
    assert _shares(targets.attribution_of("SPY")) == {"A": Decimal("0.75"), "B": Decimal("0.25")}
    assert _shares(targets.attribution_of("AGG")) == {"A": 1}
    assert _shares(targets.attribution_of("IEF")) == {"B": 1}
    assert targets.attribution_of("TLT") == StrategyAttribution()
    assert [d.name for d in targets.sources] == ["A", "B"]


async def test_identical_strategies_blend_to_the_strategy_itself() -> None:
    weights = {"SPY": "0.25", "AGG": "0.35", "IEF": "0.4"}
    source = StaticAllocationSource({"A": weights, "B": weights, "solo": weights})
    blended = await fetch_targets(_two("0.3", "0.7"), source, None)
    alone = await fetch_targets(_config(strategy_name="solo"), source, None)
    assert _weights(blended.allocations) == _weights(alone.allocations)


async def test_replacement_applies_after_the_blend_and_keeps_the_source_strategies() -> None:
    source = StaticAllocationSource({"A": {"SPY": "1"}, "B": {"DBC": "0.4", "GLD": "0.6"}})
    targets = await fetch_targets(_two("0.5", "0.5", replacement_set="ira"), source, IRA)

    assert _weights(targets.allocations) == {
        "SPY": Decimal("0.5"),
        "PDBC": Decimal("0.2"),
        "IAU": Decimal("0.15"),  # GLD's 0.3 at scale 0.5: the other 0.15 stays cash
    }
    assert _shares(targets.attribution_of("PDBC")) == {"B": 1}
    assert _shares(targets.attribution_of("IAU")) == {"B": 1}
    assert targets.attribution_of("DBC") == StrategyAttribution()


async def test_replacement_onto_a_symbol_another_strategy_holds_shares_it_between_both() -> None:
    source = StaticAllocationSource({"A": {"PDBC": "1"}, "B": {"DBC": "1"}})
    targets = await fetch_targets(_two("0.5", "0.5", replacement_set="ira"), source, IRA)
    assert _weights(targets.allocations) == {"PDBC": Decimal(1)}
    assert _shares(targets.attribution_of("PDBC")) == {"A": Decimal("0.5"), "B": Decimal("0.5")}


async def test_single_strategy_is_its_allocations_all_attributed_to_it() -> None:
    source = StaticAllocationSource({"solo": {"SPY": "0.7", "DBC": "0.3", "BIL": "0"}})
    targets = await fetch_targets(_config(strategy_name="solo", replacement_set="ira"), source, IRA)
    assert _weights(targets.allocations) == {
        "SPY": Decimal("0.7"),
        "PDBC": Decimal("0.3"),
        "BIL": Decimal(0),
    }
    assert _shares(targets.attribution_of("PDBC")) == {"solo": 1}
    assert targets.attribution_of("BIL") == StrategyAttribution()  # targeted at 0: nobody's


class _Barrier:
    """An allocation source that answers only once every expected strategy was asked for."""

    def __init__(self, expected: int, documents: Mapping[str, Mapping[str, str]]) -> None:
        self.expected = expected
        self.asked: list[str] = []
        self.all_asked = asyncio.Event()
        self.inner = StaticAllocationSource(documents)

    async def get_allocations(self, strategy_name: str) -> StrategyAllocations:
        self.asked.append(strategy_name)
        if len(self.asked) == self.expected:
            self.all_asked.set()
        await self.all_asked.wait()
        return await self.inner.get_allocations(strategy_name)


async def test_strategies_are_fetched_at_once_not_one_after_the_other() -> None:
    source = _Barrier(2, {"A": {"SPY": "1"}, "B": {"AGG": "1"}})
    # One after the other, the first fetch would wait for the second forever.
    targets = await asyncio.wait_for(fetch_targets(_two(), source, None), 5)
    assert sorted(source.asked) == ["A", "B"]
    assert _weights(targets.allocations) == {"SPY": Decimal("0.6"), "AGG": Decimal("0.4")}


class _OneFails:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()

    async def get_allocations(self, strategy_name: str) -> StrategyAllocations:
        if strategy_name == "A":
            self.started.set()
            try:
                await asyncio.Event().wait()  # a server that never answers
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        await self.started.wait()
        raise InvalidInputError(f"strategy name {strategy_name!r} is unknown", source="api")


async def test_a_failing_strategy_raises_its_own_error_and_cancels_the_other_fetch() -> None:
    source = _OneFails()
    with pytest.raises(InvalidInputError, match="strategy name 'B' is unknown"):
        await asyncio.wait_for(fetch_targets(_two(), source, None), 5)
    assert source.cancelled.is_set()


async def test_replacement_set_without_loaded_sets_is_refused_naming_account_and_set() -> None:
    source = StaticAllocationSource({"A": {"SPY": "1"}, "B": {"AGG": "1"}})
    with pytest.raises(InvalidInputError, match="DU1 uses replacement set 'ira' but no"):
        await fetch_targets(_two(replacement_set="ira"), source, None)
    with pytest.raises(InvalidInputError, match=r"unknown replacement set 'roth' \(known: ira\)"):
        await fetch_targets(_two(replacement_set="roth"), source, IRA)


async def test_static_source_unknown_strategy_names_it_and_the_known_ones() -> None:
    source = StaticAllocationSource({"A": {"SPY": "1"}})
    with pytest.raises(InvalidInputError, match=r"no allocations for strategy 'Z' \(known: A\)"):
        await source.get_allocations("Z")
