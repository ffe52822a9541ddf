"""Market-on-close orders: resting, the closing auction, the entry cut-off (real ib_async)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB, LimitOrder, Order, Stock, Trade
from ib_gateway_sim import GatewaySimulator, Scenario
from ib_gateway_sim.scenario import ClockSpec

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]
TradeUntil = Callable[..., Awaitable[None]]

# Monday 2026-11-23, 15:00 US/Eastern: an hour before the close, before the 15:50 cut-off.
_AFTERNOON = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)
_CLOSE = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.UTC)


@pytest.fixture
def scenario() -> Scenario:
    """The example scenario with trading hours and a clock frozen at Monday 15:00."""
    base = Scenario.builtin("example")
    return base.model_copy(
        update={"clock": ClockSpec(time=_AFTERNOON, always_open=False, holidays=[])}
    )


def _moc(action: str, quantity: int, **kwargs: Any) -> Order:
    return Order(action=action, totalQuantity=quantity, orderType="MOC", **kwargs)


async def _spy(ib: IB) -> Stock:
    contract = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    return contract


async def test_moc_rests_in_the_session_and_fills_at_the_close_price_when_the_clock_closes(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    spy = await _spy(ib)
    moc = ib.placeOrder(spy, _moc("BUY", 10, account="DU789012", orderRef="close-1"))
    day_limit = ib.placeOrder(spy, LimitOrder("BUY", 1, 500, account="DU789012"))
    await trade_until(moc, lambda t: t.orderStatus.status == "Submitted")
    sim.set_price("SPY", bid="589.50", ask="589.52")  # continuous trading never fills it
    await ib.reqCurrentTimeAsync()
    assert sim.orders()[0].filled == 0

    sim.set_price("SPY", close="590.05")
    sim.advance_clock(dt.timedelta(hours=1, minutes=1))  # 16:01: the close has passed
    await trade_until(moc, Trade.isDone)
    await trade_until(day_limit, Trade.isDone)

    assert moc.orderStatus.status == "Filled"
    [fill] = moc.fills
    assert fill.execution.price == 590.05
    assert fill.execution.orderRef == "close-1"
    assert fill.commissionReport.commission == 1.0
    assert sim.orders()[0].fills[0].time == _CLOSE
    assert day_limit.orderStatus.status == "Cancelled"
    assert sim.cash("DU789012") == Decimal("50000.00") - 10 * Decimal("590.05") - Decimal("1.00")


async def test_moc_after_the_cutoff_is_rejected_with_201_and_the_cutoff_is_configurable(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    sim.set_clock(dt.datetime(2026, 11, 23, 20, 51, tzinfo=dt.UTC))  # 15:51 Eastern
    ib = await connect()
    errors = ib_errors(ib)
    spy = await _spy(ib)

    late = ib.placeOrder(spy, _moc("BUY", 1, account="DU789012"))
    await trade_until(late, Trade.isDone)
    sim.set_fills(moc_cutoff="15:55")
    accepted = ib.placeOrder(spy, _moc("BUY", 1, account="DU789012"))
    await trade_until(accepted, lambda t: t.orderStatus.status == "Submitted")

    assert late.orderStatus.status == "Cancelled"
    [(code, text)] = [(c, t) for r, c, t in errors if r == late.order.orderId]
    assert code == 201
    assert "after the 15:50 US/Eastern cut-off" in text
    assert [o.order_id for o in sim.orders()] == [accepted.order.orderId]


async def test_moc_placed_after_the_close_fills_at_the_next_session_close(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.set_clock(dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.UTC))  # Monday 17:00 Eastern
    ib = await connect()
    spy = await _spy(ib)

    trade = ib.placeOrder(spy, _moc("BUY", 1, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.status == "PreSubmitted")
    sim.advance_clock(dt.timedelta(hours=17))  # Tuesday 10:00: open, not yet closed
    await ib.reqCurrentTimeAsync()
    assert trade.orderStatus.status == "Submitted"
    sim.advance_clock(dt.timedelta(hours=6, minutes=30))  # Tuesday 16:30
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.avgFillPrice == 587.40  # the example's SPY close
    assert sim.orders()[0].fills[0].time == dt.datetime(2026, 11, 24, 21, 0, tzinfo=dt.UTC)


async def test_moc_must_be_a_day_order(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    ib = await connect()
    errors = ib_errors(ib)

    trade = ib.placeOrder(await _spy(ib), _moc("BUY", 1, account="DU789012", tif="GTC"))
    await trade_until(trade, Trade.isDone)

    assert [(c, "DAY" in t) for r, c, t in errors if r == trade.order.orderId] == [(201, True)]


async def test_close_auction_fills_moc_orders_of_an_always_open_clock(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.set_always_open(True)
    ib = await connect()
    spy = await _spy(ib)
    moc = ib.placeOrder(spy, _moc("SELL", 5, account="DUM959247"))
    resting = ib.placeOrder(spy, LimitOrder("BUY", 1, 500, account="DUM959247"))
    await trade_until(moc, lambda t: t.orderStatus.status == "Submitted")
    await trade_until(resting, lambda t: t.orderStatus.status == "Submitted")

    auctioned = sim.close_auction()
    await trade_until(moc, Trade.isDone)

    assert [o.order_id for o in auctioned] == [moc.order.orderId]
    assert moc.orderStatus.avgFillPrice == 587.40
    assert resting.orderStatus.status == "Submitted"  # no close, no DAY expiry
    assert sim.positions("DUM959247")["SPY"] == Decimal(45)
