"""Market clock: orders outside trading hours rest until the open; DAY orders expire."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, Trade
from ib_gateway_sim import GatewaySimulator, MarketClock, Scenario
from ib_gateway_sim.scenario import ClockSpec

Connect = Callable[..., Awaitable[IB]]
TradeUntil = Callable[..., Awaitable[None]]
Errors = Callable[[IB], list[tuple[int, int, str]]]

# Monday 2026-11-23, 08:00 US/Eastern (before the 09:30 open).
_BEFORE_OPEN = dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC)


@pytest.fixture
def scenario() -> Scenario:
    """The example scenario with trading hours and a clock frozen before the open."""
    base = Scenario.builtin("example")
    return base.model_copy(
        update={"clock": ClockSpec(time=_BEFORE_OPEN, always_open=False, holidays=[])}
    )


async def test_market_order_outside_hours_rests_presubmitted_until_clock_opens(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    spy = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(spy)

    trade = ib.placeOrder(spy, MarketOrder("BUY", 2, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.status == "PreSubmitted")
    assert sim.orders()[0].status == "PreSubmitted"
    assert sim.positions("DU789012") == {}

    sim.advance_clock(dt.timedelta(hours=1, minutes=31))  # 09:31 Eastern
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    assert sim.positions("DU789012") == {"SPY": Decimal(2)}
    assert sim.orders()[0].fills[0].time == _BEFORE_OPEN + dt.timedelta(hours=1, minutes=31)


async def test_day_order_still_working_at_the_close_is_cancelled(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.set_clock(dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC))  # 15:00 Eastern
    ib = await connect()
    spy = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(spy)
    day = ib.placeOrder(spy, LimitOrder("BUY", 1, 500, account="DU789012"))
    gtc = ib.placeOrder(spy, LimitOrder("BUY", 1, 501, account="DU789012", tif="GTC"))
    await trade_until(day, lambda t: t.orderStatus.status == "Submitted")
    await trade_until(gtc, lambda t: t.orderStatus.status == "Submitted")

    sim.advance_clock(dt.timedelta(hours=1, minutes=1))  # 16:01 Eastern
    await trade_until(day, Trade.isDone)

    assert day.orderStatus.status == "Cancelled"
    assert gtc.orderStatus.status == "Submitted"
    assert [o.status for o in sim.orders()] == ["Cancelled", "Submitted"]


def test_clock_is_liquid_only_on_weekdays_inside_liquid_hours() -> None:
    clock = MarketClock(ClockSpec(time=_BEFORE_OPEN, always_open=False))

    assert not clock.is_liquid()
    assert clock.is_trading()  # 08:00 is inside the 04:00-20:00 session
    assert clock.is_liquid(dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC))
    assert not clock.is_liquid(dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.UTC))
    assert not clock.is_liquid(dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.UTC))  # Saturday
    assert clock.next_liquid_open() == dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC)


def test_holiday_is_closed_in_hours_and_clock() -> None:
    clock = MarketClock(
        ClockSpec(time=_BEFORE_OPEN, always_open=False, holidays=[dt.date(2026, 11, 26)])
    )

    assert "20261126:CLOSED" in clock.liquid_hours().split(";")
    assert not clock.is_liquid(dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC))


def test_always_open_clock_lists_midnight_to_midnight_sessions() -> None:
    clock = MarketClock(ClockSpec(time=_BEFORE_OPEN))

    sessions = clock.liquid_hours().split(";")

    assert sessions[0] == "20261123:0000-20261124:0000"
    assert len(sessions) == 7
    assert clock.is_liquid()
    assert clock.next_liquid_open() is None


def test_naive_clock_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        ClockSpec(time=dt.datetime(2026, 11, 23, 10, 0))


async def test_outside_hours_warning_399_marks_validation_error_until_the_open(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil, ib_errors: Errors
) -> None:
    sim.engine.fill_spec = sim.engine.fill_spec.model_copy(update={"outside_hours_warning": True})
    ib = await connect()
    errors = ib_errors(ib)
    spy = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(spy)

    trade = ib.placeOrder(spy, MarketOrder("BUY", 1, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.status == "ValidationError")
    assert not trade.isDone()
    sim.advance_clock(dt.timedelta(hours=2))  # 10:00 Eastern
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    [(_, code, text)] = errors
    assert code == 399
    assert "20261123 14:30:00 UTC" in text


async def test_connectivity_messages_reach_every_client(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors
) -> None:
    first, second = await connect(client_id=1), await connect(client_id=2)
    seen = [ib_errors(first), ib_errors(second)]

    sim.broadcast_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    await first.reqCurrentTimeAsync()
    await second.reqCurrentTimeAsync()

    assert [[code for _, code, _ in errors] for errors in seen] == [[1100], [1100]]
