"""Allocation lines pinned to one security (``conid``/``isin``): told to the broker before any
quote, refused by a broker that cannot use them, and never pinned two ways at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from broker_connector_base import AllocationItem, InstrumentRef
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from rebalance_engine import Rebalancer, StaticAllocationSource, StrategyAllocations
from rebalance_engine.testing import account_config

pytestmark = pytest.mark.timeout(30)


def _document(name: str, pin: InstrumentRef) -> StrategyAllocations:
    return StrategyAllocations(
        name=name,
        strategy_long_name=name,
        last_rebalance_on="",
        allocations=[
            AllocationItem(symbol="SPY", allocation=Decimal("0.5")),
            AllocationItem(symbol="AGG", allocation=Decimal("0.5")),
        ],
        instruments=(pin,),
    )


class _Resolving(InMemoryBroker):
    """The fake, with a connector that can use pins: it records what it was told."""

    resolved: list[InstrumentRef]

    async def resolve_instruments(self, instruments: object) -> None:
        assert isinstance(instruments, list)
        self.resolved = instruments


async def test_pinned_symbols_are_resolved_before_the_preview_quotes_them(
    exchange: FakeExchange,
) -> None:
    broker = _Resolving(exchange)
    await broker.connect()
    pin = InstrumentRef(symbol="SPY", con_id=756733)
    source = StaticAllocationSource({"etf-blend": _document("etf-blend", pin)})

    preview = await Rebalancer(broker, allocation_source=source).calculate_rebalance(
        account_config()
    )

    assert preview.success
    assert broker.resolved == [pin]


async def test_broker_that_identifies_by_ticker_only_refuses_a_pinned_run_before_any_order(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    pin = InstrumentRef(symbol="SPY", isin="US78462F1030")
    source = StaticAllocationSource({"etf-blend": _document("etf-blend", pin)})

    result = await Rebalancer(broker, allocation_source=source).rebalance_account(account_config())

    assert not result.success
    assert result.error is not None
    assert "InMemoryBroker identifies securities by ticker only" in result.error
    assert "SPY (ISIN US78462F1030)" in result.error
    assert exchange.order_log == []


async def test_two_strategies_pinning_one_symbol_differently_refuse_the_run(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    source = StaticAllocationSource(
        {
            "a": _document("a", InstrumentRef(symbol="SPY", con_id=1)),
            "b": _document("b", InstrumentRef(symbol="SPY", con_id=2)),
        }
    )
    config = account_config(strategies=[{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}])

    result = await Rebalancer(broker, allocation_source=source).rebalance_account(config)

    assert not result.success
    assert result.error is not None
    assert "strategies a and b pin SPY to different securities" in result.error
    assert exchange.order_log == []


def test_a_pin_for_a_symbol_not_allocated_is_refused() -> None:
    with pytest.raises(ValueError, match=r"instruments \['QQQ'\] are not among the allocations"):
        _document("x", InstrumentRef(symbol="QQQ", con_id=1))
