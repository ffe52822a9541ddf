"""The planner's reuse of its last calculation, and ``Rebalancer.proposed_trades``, on the
in-memory fake broker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from rebalance_calculator import TradeCalculationResult, TradeCalculator
from rebalance_engine import Rebalancer, StaticAllocationSource
from rebalance_engine.testing import account_config

pytestmark = pytest.mark.timeout(30)

WEIGHTS = {"SPY": "0.1", "AGG": "0.4", "QQQ": "0.3", "IEF": "0.2"}


class CountingCalculator(TradeCalculator):
    """The calculator, counting the calculations it really makes."""

    def __init__(self) -> None:
        self.calls = 0

    def calculate_trades(self, **kwargs: Any) -> TradeCalculationResult:
        self.calls += 1
        return super().calculate_trades(**kwargs)


def _counted(broker: InMemoryBroker) -> tuple[Rebalancer, CountingCalculator]:
    rebalancer = Rebalancer(
        broker, allocation_source=StaticAllocationSource({"etf-blend": WEIGHTS})
    )
    calculator = CountingCalculator()
    rebalancer.planner.calculator = calculator
    return rebalancer, calculator


async def test_a_second_preview_of_an_unchanged_account_reuses_the_calculation(
    broker: InMemoryBroker,
) -> None:
    rebalancer, calculator = _counted(broker)

    first = await rebalancer.calculate_rebalance(account_config())
    second = await rebalancer.calculate_rebalance(account_config())

    assert calculator.calls == 1
    assert second.proposed_trades == first.proposed_trades
    assert len(first.proposed_trades) >= 4


async def test_a_new_quote_makes_the_planner_calculate_again(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    rebalancer, calculator = _counted(broker)
    first = await rebalancer.calculate_rebalance(account_config())

    exchange.set_quote("AGG", bid=Decimal("49.51"), ask=Decimal("49.52"))
    second = await rebalancer.calculate_rebalance(account_config())

    assert calculator.calls == 2
    agg = {t.symbol: t.quantity for t in first.proposed_trades}["AGG"]
    assert {t.symbol: t.quantity for t in second.proposed_trades}["AGG"] > agg


async def test_another_reserve_makes_the_planner_calculate_again(
    broker: InMemoryBroker,
) -> None:
    rebalancer, calculator = _counted(broker)
    first = await rebalancer.calculate_rebalance(account_config())

    second = await rebalancer.calculate_rebalance(account_config(cash_reserve_percent="20"))

    assert calculator.calls == 2
    assert second.proposed_trades != first.proposed_trades


async def test_proposed_trades_are_the_previews_trades_and_place_nothing(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    rebalancer = Rebalancer(
        broker, allocation_source=StaticAllocationSource({"etf-blend": WEIGHTS})
    )

    proposed = await rebalancer.proposed_trades(account_config())
    preview = await Rebalancer(
        broker, allocation_source=StaticAllocationSource({"etf-blend": WEIGHTS})
    ).calculate_rebalance(account_config())

    assert proposed == preview.proposed_trades
    assert {t.symbol for t in proposed} == {"SPY", "AGG", "QQQ", "IEF", "TLT", "GLD"}
    assert exchange.order_log == []
