"""Market on close (``time_in_force: cls``) through the real alpaca-py ``TradingClient``:
resting through the session, the closing auction, the 3:50 pm cut-off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.pytest_plugin import EXAMPLE_ACCOUNT
from alpaca_api_sim.testing import in_thread

MakeTrading = Callable[..., TradingClient]

# Monday 2026-11-23 15:00 New York: in the session, before the 15:50 cut-off.
_AFTERNOON = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)


def _on_close(symbol: str, qty: int, side: OrderSide) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.CLS)


async def _submit(trading: TradingClient, request: object) -> Order:
    order = await in_thread(trading.submit_order, request)
    assert isinstance(order, Order)
    return order


async def _fetch(trading: TradingClient, order: Order) -> Order:
    fetched = await in_thread(trading.get_order_by_id, order.id)
    assert isinstance(fetched, Order)
    return fetched


@pytest.fixture
def afternoon(alpaca_sim: AlpacaApiSimulator) -> AlpacaApiSimulator:
    """The stand-in with sessions, its clock frozen at Monday 15:00 New York."""
    alpaca_sim.set_always_open(False)
    alpaca_sim.set_clock(_AFTERNOON)
    return alpaca_sim


async def test_cls_order_rests_in_the_session_and_fills_at_the_close_when_the_clock_closes(
    afternoon: AlpacaApiSimulator, trading: TradingClient
) -> None:
    moc = await _submit(trading, _on_close("SPY", 10, OrderSide.BUY))
    day = await _submit(
        trading,
        LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=500
        ),
    )
    assert moc.time_in_force == TimeInForce.CLS
    afternoon.set_price("SPY", bid="589.50", ask="589.52", close="590.05")
    assert afternoon.order(str(moc.id)).fills == []  # continuous trading never fills it

    afternoon.advance_clock(dt.timedelta(hours=1, minutes=1))  # 16:01: the close passed

    filled, expired = await _fetch(trading, moc), await _fetch(trading, day)
    assert filled.status == OrderStatus.FILLED
    assert filled.filled_avg_price == "590.05"
    assert filled.filled_at == dt.datetime(2026, 11, 23, 21, 1, tzinfo=dt.UTC)
    assert expired.status == OrderStatus.EXPIRED
    assert afternoon.positions(EXAMPLE_ACCOUNT)["SPY"] == 60
    assert afternoon.cash(EXAMPLE_ACCOUNT) == Decimal(100000) - 10 * Decimal("590.05")


@pytest.mark.parametrize("minute", [50, 59])
async def test_cls_order_after_the_1550_cutoff_answers_422_and_places_nothing(
    afternoon: AlpacaApiSimulator, trading: TradingClient, minute: int
) -> None:
    afternoon.set_clock(dt.datetime(2026, 11, 23, 20, minute, tzinfo=dt.UTC))

    with pytest.raises(APIError, match="not accepted from 15:50 ET") as caught:
        await _submit(trading, _on_close("SPY", 1, OrderSide.BUY))

    assert caught.value.status_code == 422
    assert afternoon.orders() == []


async def test_cls_cutoff_counts_back_from_the_days_own_close(
    afternoon: AlpacaApiSimulator, trading: TradingClient
) -> None:
    # Ten minutes before the session's close, whatever the session (early closes included).
    session = afternoon.clock.session(dt.date(2026, 11, 23))
    assert session is not None
    afternoon.set_clock(session[1] - dt.timedelta(minutes=9))

    with pytest.raises(APIError, match="10 minutes before the close"):
        await _submit(trading, _on_close("SPY", 1, OrderSide.BUY))


async def test_close_auction_fills_working_cls_orders_on_an_always_open_clock(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    moc = await _submit(trading, _on_close("TLT", 40, OrderSide.SELL))
    await alpaca_sim.wait_for(lambda: alpaca_sim.order(str(moc.id)).status == "new")

    auctioned = alpaca_sim.close_auction()

    assert [o.id for o in auctioned] == [str(moc.id)]
    filled = await _fetch(trading, moc)
    assert filled.status == OrderStatus.FILLED
    assert filled.filled_avg_price == "92.6"  # the example's TLT close
    assert alpaca_sim.positions(EXAMPLE_ACCOUNT)["TLT"] == 60


async def test_limit_on_close_not_crossed_in_the_auction_stays_unfilled(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    loc = await _submit(
        trading,
        LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.CLS, limit_price=500
        ),
    )

    assert alpaca_sim.close_auction() == []
    assert (await _fetch(trading, loc)).filled_qty == "0"
