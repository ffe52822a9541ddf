"""A run never trades a symbol back: what it bought it does not sell in a later round (a round
trip only pays the commission and the spread twice, and reads as churn in the journal)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from broker_connector_base import ContractPrice, RebalanceResult, Trade
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from rebalance_engine import Rebalancer, StaticAllocationSource
from rebalance_engine.testing import ACCOUNT, account_config

pytestmark = pytest.mark.timeout(30)

QUOTES = {"TLT": ("92.87", "92.88"), "AGG": ("99.02", "99.03")}


def _exchange(cash: str, positions: dict[str, int]) -> FakeExchange:
    return FakeExchange(
        accounts={ACCOUNT: FakeAccount(cash=Decimal(cash), positions=positions)},
        quotes=[
            ContractPrice(symbol=s, bid=Decimal(bid), ask=Decimal(ask))
            for s, (bid, ask) in QUOTES.items()
        ],
    )


def _move_after_fill(
    exchange: FakeExchange, symbol: str, side: int, bid: str, ask: str
) -> Callable[[Trade], None]:
    """A journal callback that moves ``symbol``'s quote once its ``side`` order filled (the
    market moving between the fills and the next plan)."""

    def on_order(trade: Trade) -> None:
        if trade.symbol == symbol and trade.quantity * side > 0 and trade.filled_quantity:
            exchange.set_quote(symbol, bid=Decimal(bid), ask=Decimal(ask))

    return on_order


async def _run(exchange: FakeExchange, on_order: Callable[[Trade], None]) -> RebalanceResult:
    broker = InMemoryBroker(exchange)
    await broker.connect()
    try:
        rebalancer = Rebalancer(
            broker,
            allocation_source=StaticAllocationSource({"etf-blend": {"TLT": "0.5", "AGG": "0.5"}}),
            on_order=on_order,
            fill_timeout_secs=2,
            settle_timeout_secs=1,
        )
        return await rebalancer.rebalance_account(account_config())
    finally:
        await broker.disconnect()


def _placed(exchange: FakeExchange) -> list[tuple[str, int]]:
    return [(o.symbol, o.quantity) for o in exchange.order_log]


async def test_run_does_not_sell_in_a_later_round_a_symbol_it_bought_when_its_price_rises() -> None:
    # All cash, targets half TLT half AGG: the run buys both. Then AGG rises 4% before the
    # next round plans: AGG is over its target by a share, but this run bought it today.
    exchange = _exchange("10000.00", {})
    on_order = _move_after_fill(exchange, "AGG", 1, "103.00", "103.01")
    result = await _run(exchange, on_order)

    assert result.success, result.error
    placed = _placed(exchange)
    assert all(q > 0 for _, q in placed), placed
