"""Market clock and calendar through the real alpaca-py ``TradingClient``."""

from __future__ import annotations

import datetime as dt

from alpaca.trading.client import TradingClient
from alpaca.trading.models import Calendar, Clock
from alpaca.trading.requests import GetCalendarRequest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.clock import NEW_YORK
from alpaca_api_sim.testing import in_thread

# Saturday noon in New York, the week of the example scenario's Thanksgiving holiday.
SATURDAY = dt.datetime(2026, 11, 21, 12, 0, tzinfo=NEW_YORK)


async def test_always_open_clock_is_open_with_close_at_midnight(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_clock(SATURDAY)
    clock = await in_thread(trading.get_clock)
    assert isinstance(clock, Clock)
    assert clock.is_open is True
    assert clock.timestamp == SATURDAY
    assert clock.next_close == dt.datetime(2026, 11, 22, 0, 0, tzinfo=NEW_YORK)


async def test_scheduled_clock_on_saturday_is_closed_until_monday_open(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_always_open(False)
    alpaca_sim.set_clock(SATURDAY)
    clock = await in_thread(trading.get_clock)
    assert isinstance(clock, Clock)
    assert clock.is_open is False
    assert clock.next_open == dt.datetime(2026, 11, 23, 9, 30, tzinfo=NEW_YORK)
    assert clock.next_close == dt.datetime(2026, 11, 23, 16, 0, tzinfo=NEW_YORK)
    assert clock.next_open.utcoffset() == dt.timedelta(hours=-5)


async def test_scheduled_clock_during_session_is_open_and_closes_at_four(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_always_open(False)
    alpaca_sim.set_clock(dt.datetime(2026, 11, 24, 10, 0, tzinfo=NEW_YORK))
    clock = await in_thread(trading.get_clock)
    assert isinstance(clock, Clock)
    assert clock.is_open is True
    assert clock.next_close == dt.datetime(2026, 11, 24, 16, 0, tzinfo=NEW_YORK)
    assert clock.next_open == dt.datetime(2026, 11, 25, 9, 30, tzinfo=NEW_YORK)


async def test_forced_market_state_overrides_the_schedule(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_market(False)
    closed = await in_thread(trading.get_clock)
    assert isinstance(closed, Clock)
    assert closed.is_open is False
    alpaca_sim.set_market(None)
    reopened = await in_thread(trading.get_clock)
    assert isinstance(reopened, Clock)
    assert reopened.is_open is True


async def test_calendar_skips_weekend_and_holiday_and_shortens_early_close(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_always_open(False)
    days = await in_thread(
        trading.get_calendar,
        GetCalendarRequest(start=dt.date(2026, 11, 25), end=dt.date(2026, 11, 30)),
    )
    assert isinstance(days, list)
    assert all(isinstance(d, Calendar) for d in days)
    assert [(d.date, d.open.time(), d.close.time()) for d in days] == [
        (dt.date(2026, 11, 25), dt.time(9, 30), dt.time(16, 0)),
        (dt.date(2026, 11, 27), dt.time(9, 30), dt.time(13, 0)),
        (dt.date(2026, 11, 30), dt.time(9, 30), dt.time(16, 0)),
    ]
