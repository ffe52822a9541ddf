"""The backtest broker's own rules: the simulated clock, cash never negative, costs, day orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from broker_connector_base import (
    BrokerAPIError,
    InvalidInputError,
    OrderExecutionError,
    OrderSpec,
    OrderStatus,
)
from rebalance_backtest.broker import BacktestBroker
from rebalance_backtest.costs import Costs
from rebalance_backtest.prices import PriceHistory

ACCOUNT = "BACKTEST"
MON, TUE = date(2024, 1, 8), date(2024, 1, 9)
PRICES = PriceHistory(
    closes={"AAA": {MON: Decimal("10.00"), TUE: Decimal("11.00")}},
    opens={"AAA": {MON: Decimal("9.50"), TUE: Decimal("10.50")}},
    source="test prices",
)


@dataclass(frozen=True)
class PerShare:
    """A commission of 1 cent per share (a stand-in schedule with an obvious result)."""

    def estimate(self, quantity: int, price: Decimal) -> Decimal:
        return Decimal("0.01") * abs(quantity)


async def _broker(**options: object) -> BacktestBroker:
    broker = BacktestBroker(PRICES, cash=Decimal("100.00"), **options)  # type: ignore[arg-type]
    await broker.connect()
    broker.open_session(MON)
    return broker


async def test_buy_beyond_cash_is_rejected_and_cash_stays_put() -> None:
    broker = await _broker()
    with pytest.raises(OrderExecutionError, match="cannot borrow") as caught:
        await broker.place_order(ACCOUNT, "AAA", 11)  # 110.00 > 100.00
    assert caught.value.order_id is not None
    assert await broker.get_order_status(caught.value.order_id) is OrderStatus.REJECTED
    snapshot = await broker.get_account_snapshot(ACCOUNT)
    assert snapshot.cash_balance == Decimal("100.00")
    assert snapshot.positions == []


async def test_buy_of_all_the_cash_fills_and_leaves_exactly_zero() -> None:
    broker = await _broker()
    await broker.place_order(ACCOUNT, "AAA", 10)
    snapshot = await broker.get_account_snapshot(ACCOUNT)
    assert snapshot.cash_balance == Decimal("0.00")
    assert snapshot.total_value == Decimal("100.00")


async def test_commission_is_charged_on_each_fill_and_counts_against_the_cash() -> None:
    broker = await _broker(costs=Costs(commission=PerShare()))
    with pytest.raises(OrderExecutionError):
        await broker.place_order(ACCOUNT, "AAA", 10)  # 100.00 + 0.10 commission > 100.00
    await broker.place_order(ACCOUNT, "AAA", 9)
    await broker.place_order(ACCOUNT, "AAA", -4)
    assert [(f.quantity, f.price, f.commission) for f in broker.fills] == [
        (9, Decimal("10.00"), Decimal("0.09")),
        (-4, Decimal("10.00"), Decimal("0.04")),
    ]
    assert broker.book.cash == Decimal("100.00") - 90 - Decimal("0.09") + 40 - Decimal("0.04")


async def test_half_spread_in_bps_makes_buys_pay_the_ask_and_sells_get_the_bid() -> None:
    broker = await _broker(costs=Costs(half_spread_bps=Decimal(5)))  # 0.05 % of 10.00
    [quote] = await broker.get_multiple_market_prices(["aaa"])
    assert (quote.bid, quote.ask) == (Decimal("9.9950"), Decimal("10.0050"))
    buy = await broker.place_order(ACCOUNT, "AAA", 2)
    sell = await broker.place_order(ACCOUNT, "AAA", -2)
    assert (await broker.wait_for_order(buy.order_id, timeout_secs=0)).avg_fill_price == Decimal(
        "10.0050"
    )
    assert (await broker.wait_for_order(sell.order_id, timeout_secs=0)).avg_fill_price == Decimal(
        "9.9950"
    )
    assert broker.book.cash == Decimal("100.00") - Decimal("0.0200")


async def test_fill_at_next_open_quotes_the_open_and_values_the_close() -> None:
    broker = await _broker(fill_at="next_open")
    result = await broker.place_order(ACCOUNT, "AAA", 4)
    fill = await broker.wait_for_order(result.order_id, timeout_secs=0)
    assert fill.avg_fill_price == Decimal("9.50")
    broker.close_session()
    assert broker.equity_at_close() == Decimal("100.00") - Decimal("38.00") + 4 * Decimal("10.00")


async def test_fill_at_next_open_without_opens_is_refused_naming_the_source() -> None:
    closes_only = PriceHistory(closes=PRICES.closes, source="closes.csv")
    with pytest.raises(InvalidInputError, match=r"closes\.csv"):
        BacktestBroker(closes_only, cash=Decimal(1), fill_at="next_open")


async def test_resting_order_expires_at_the_close_of_its_session() -> None:
    broker = await _broker()
    resting = await broker.place_order(
        ACCOUNT, "AAA", 1, order=OrderSpec(type="LIMIT", limit_price=Decimal("5.00"))
    )
    assert broker.close_session() == [resting.order_id]
    assert await broker.get_order_status(resting.order_id) is OrderStatus.EXPIRED
    broker.open_session(TUE)
    assert await broker.get_open_orders(ACCOUNT) == []


async def test_order_placed_while_closed_rests_until_the_next_session_and_fills_there() -> None:
    broker = await _broker()
    broker.close_session()
    placed = await broker.place_order(ACCOUNT, "AAA", 1)
    assert placed.status is OrderStatus.PENDING
    hours = await broker.get_trading_hours_status(["AAA"])
    assert hours.is_open is False
    assert hours.next_open is not None
    assert hours.next_open.date() == TUE
    broker.open_session(TUE)
    fill = await broker.wait_for_order(placed.order_id, timeout_secs=0)
    assert (fill.status, fill.avg_fill_price) == (OrderStatus.FILLED, Decimal("11.00"))


async def test_symbols_bought_today_follow_the_simulated_day() -> None:
    broker = await _broker()
    await broker.place_order(ACCOUNT, "AAA", 1)
    assert await broker.get_symbols_bought_today(ACCOUNT) == frozenset({"AAA"})
    broker.close_session()
    broker.open_session(TUE)
    assert await broker.get_symbols_bought_today(ACCOUNT) == frozenset()


async def test_open_session_on_a_holiday_is_refused() -> None:
    broker = await _broker()
    with pytest.raises(InvalidInputError, match="2024-01-15 is not an NYSE session"):
        broker.open_session(date(2024, 1, 15))  # Martin Luther King Jr. Day


async def test_quote_of_a_symbol_without_a_price_that_day_names_symbol_and_day() -> None:
    prices = PriceHistory(
        closes={"AAA": {MON: Decimal(10), TUE: Decimal(11)}, "NEW": {TUE: Decimal(5)}},
        source="late.csv",
    )
    broker = BacktestBroker(prices, cash=Decimal(100))
    await broker.connect()
    broker.open_session(MON)
    with pytest.raises(BrokerAPIError, match=r"no price of NEW on 2024-01-08 in late\.csv"):
        await broker.get_multiple_market_prices(["NEW"])


async def test_position_in_a_fund_no_longer_quoted_is_valued_at_its_last_close() -> None:
    wed, thu, mon = date(2024, 1, 10), date(2024, 1, 11), date(2024, 1, 15)
    prices = PriceHistory(
        closes={
            "AAA": {MON: Decimal("10.00"), TUE: Decimal("11.00")},
            "BBB": {MON: Decimal("5.00"), TUE: Decimal("5.00"), wed: Decimal("5.00")},
        },
        source="test prices",
    )
    broker = BacktestBroker(prices, cash=Decimal(0), positions={"AAA": 3})
    await broker.connect()
    for day, equity in ((TUE, "33.00"), (wed, "33.00"), (thu, "33.00")):
        broker.open_session(day)
        assert broker.equity_at_close() == Decimal(equity), day
        broker.close_session()
    assert broker.close_price("AAA", mon) == Decimal("11.00")
    with pytest.raises(BrokerAPIError, match="no close of AAA on or before 2024-01-05"):
        broker.close_price("AAA", date(2024, 1, 5))
