"""Helpers for tests built on the backtest broker (not used by the backtest itself).

``quoted_broker`` puts a ``BacktestBroker`` in a state given as bid/ask quotes (one session);
``backtest_scenario_broker`` is the rebalancer conformance suite's ``BuildBroker`` for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal

from broker_connector_base.types import NEW_YORK
from rebalance_engine.conformance import BrokerOrder, RebalanceScenario, ScenarioBroker

from rebalance_backtest.broker import BacktestBroker
from rebalance_backtest.costs import Costs
from rebalance_backtest.prices import PriceHistory

__all__ = ["SATURDAY_NOON", "SESSION", "backtest_scenario_broker", "quoted_broker"]

SESSION = date(2026, 11, 20)
"""A Friday session; the Saturday after it is a closed market."""
SATURDAY_NOON = datetime.combine(date(2026, 11, 21), time(12, 0), tzinfo=NEW_YORK)


def quoted_broker(
    quotes: Mapping[str, tuple[Decimal, Decimal]],
    *,
    cash: Decimal,
    positions: Mapping[str, int] | None = None,
    account_id: str = "BT100001",
    market_open: bool = True,
) -> BacktestBroker:
    """A disconnected broker whose session ``SESSION`` has exactly these bid/ask quotes.

    The close is each quote's midpoint and the half spread a fixed amount per symbol; with
    ``market_open=False`` the clock stands on the Saturday after it.
    """
    closes = {symbol: {SESSION: (bid + ask) / 2} for symbol, (bid, ask) in quotes.items()}
    halves = {symbol: (ask - bid) / 2 for symbol, (bid, ask) in quotes.items()}
    broker = BacktestBroker(
        PriceHistory(closes=closes, source="scenario quotes"),
        cash=cash,
        positions=positions,
        account_id=account_id,
        costs=Costs(half_spreads=halves),
    )
    broker.open_session(SESSION)
    if not market_open:
        broker.set_clock(SATURDAY_NOON)
    return broker


async def backtest_scenario_broker(scenario: RebalanceScenario) -> ScenarioBroker:
    """``scenario`` on a connected backtest broker (a ``rebalance_engine.conformance.BuildBroker``).

    Fills happen within the simulated session, so ``fill_delay_secs`` has nothing to delay;
    the suite's sell-before-buy check holds all the same.
    """
    broker = quoted_broker(
        scenario.quotes,
        cash=scenario.cash,
        positions=scenario.positions,
        market_open=scenario.market_open,
    )
    await broker.connect()
    for symbol in scenario.reject_symbols:
        broker.reject_symbol(symbol, "the account may not trade it")
    for symbol in scenario.partial_fill_symbols:
        broker.set_partial_fill(symbol, 1)
    broker.drop_connection_after_orders(scenario.drop_connection_after_orders)

    def clear() -> None:
        for symbol in scenario.reject_symbols:
            broker.reject_symbol(symbol, None)
        for symbol in scenario.partial_fill_symbols:
            broker.set_partial_fill(symbol, None)
        broker.drop_connection_after_orders(None)

    def orders() -> list[BrokerOrder]:
        return [
            BrokerOrder(
                symbol=o.symbol,
                quantity=o.quantity,
                order_ref=o.order_ref,
                filled_quantity=o.filled,
                working=not o.status.is_final,
            )
            for o in broker.book.orders.values()
        ]

    return ScenarioBroker(broker, broker.account_id, orders, clear)
