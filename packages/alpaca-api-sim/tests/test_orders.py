"""Orders through the real alpaca-py ``TradingClient``: fills, rests, cancels, refusals."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.pytest_plugin import EXAMPLE_ACCOUNT
from alpaca_api_sim.testing import assert_only_declared_fields, in_thread

MakeTrading = Callable[..., TradingClient]


def market(symbol: str, qty: int, side: OrderSide, **extra: Any) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY, **extra
    )


def limit(symbol: str, qty: int, side: OrderSide, price: str, **extra: Any) -> LimitOrderRequest:
    return LimitOrderRequest(
        symbol=symbol,
        qty=qty,
        side=side,
        time_in_force=TimeInForce.DAY,
        limit_price=float(price),
        **extra,
    )


async def submit(trading: TradingClient, request: Any) -> Order:
    order = await in_thread(trading.submit_order, request)
    assert isinstance(order, Order)
    return order


async def listed(trading: TradingClient, request: GetOrdersRequest | None = None) -> list[Order]:
    orders = await in_thread(trading.get_orders, request)
    assert isinstance(orders, list)
    return [o for o in orders if isinstance(o, Order)]


async def settled(sim: AlpacaApiSimulator, trading: TradingClient, order: Order) -> Order:
    """The order once the stand-in has no fill or cancel pending for it."""
    await sim.wait_for(lambda: sim.order(str(order.id)).status not in ("new", "pending_cancel"))
    fetched = await in_thread(trading.get_order_by_id, order.id)
    assert isinstance(fetched, Order)
    return fetched


async def test_market_buy_answers_new_then_fills_at_the_ask(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    order = await submit(trading, market("SPY", 10, OrderSide.BUY, client_order_id="run-1-a"))
    assert order.status == OrderStatus.NEW
    assert order.client_order_id == "run-1-a"
    assert order.filled_qty == "0"
    uuid.UUID(str(order.id))
    filled = await settled(alpaca_sim, trading, order)
    assert filled.status == OrderStatus.FILLED
    assert filled.filled_qty == "10"
    assert filled.filled_avg_price == "589.12"
    assert filled.filled_at is not None
    assert alpaca_sim.positions(EXAMPLE_ACCOUNT)["SPY"] == 60
    assert alpaca_sim.cash(EXAMPLE_ACCOUNT) == Decimal(100000) - 10 * Decimal("589.12")


async def test_market_sell_fills_at_the_bid_and_credits_cash(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    order = await submit(trading, market("TLT", 100, OrderSide.SELL))
    filled = await settled(alpaca_sim, trading, order)
    assert filled.status == OrderStatus.FILLED
    assert filled.filled_avg_price == "92.87"
    assert "TLT" not in alpaca_sim.positions(EXAMPLE_ACCOUNT)
    assert alpaca_sim.cash(EXAMPLE_ACCOUNT) == Decimal(100000) + 100 * Decimal("92.87")


async def test_order_bodies_carry_only_fields_the_sdk_declares(
    alpaca_sim: AlpacaApiSimulator, make_trading: MakeTrading
) -> None:
    raw = make_trading(raw_data=True)
    body: Any = await in_thread(raw.submit_order, limit("SPY", 1, OrderSide.BUY, "100.00"))
    assert_only_declared_fields(Order, body)
    assert body["limit_price"] == "100"
    assert body["qty"] == "1"
    listed: Any = await in_thread(raw.get_orders)
    assert [o["id"] for o in listed] == [body["id"]]


async def test_limit_buy_below_ask_rests_until_a_price_change_makes_it_marketable(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    order = await submit(trading, limit("QQQ", 5, OrderSide.BUY, "500.00"))
    assert order.limit_price == "500"
    assert order.status == OrderStatus.NEW
    assert alpaca_sim.order(str(order.id)).status == "new"
    open_orders = await listed(trading, GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [o.id for o in open_orders] == [order.id]
    alpaca_sim.set_price("QQQ", bid="499.97", ask="499.99")
    await alpaca_sim.wait_for(lambda: alpaca_sim.order(str(order.id)).status == "filled")
    filled = await in_thread(trading.get_order_by_id, order.id)
    assert isinstance(filled, Order)
    assert filled.filled_avg_price == "499.99"


async def test_order_found_by_client_order_id_and_duplicate_id_answers_422(
    trading: TradingClient,
) -> None:
    order = await submit(trading, limit("SPY", 1, OrderSide.BUY, "100.00", client_order_id="x-1"))
    found = await in_thread(trading.get_order_by_client_id, "x-1")
    assert isinstance(found, Order)
    assert found.id == order.id
    with pytest.raises(APIError) as caught:
        await submit(trading, limit("SPY", 1, OrderSide.BUY, "100.00", client_order_id="x-1"))
    assert caught.value.status_code == 422
    assert caught.value.message == "client_order_id must be unique"
    with pytest.raises(APIError) as missing:
        await in_thread(trading.get_order_by_client_id, "x-2")
    assert missing.value.status_code == 404


async def test_cancel_resting_order_ends_canceled_and_second_cancel_answers_422(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    order = await submit(trading, limit("SPY", 1, OrderSide.BUY, "100.00"))
    await in_thread(trading.cancel_order_by_id, order.id)
    cancelled = await settled(alpaca_sim, trading, order)
    assert cancelled.status == OrderStatus.CANCELED
    assert cancelled.canceled_at is not None
    with pytest.raises(APIError) as caught:
        await in_thread(trading.cancel_order_by_id, order.id)
    assert caught.value.status_code == 422
    assert caught.value.message == 'order is already in "canceled" state'


async def test_cancel_or_get_unknown_order_answers_404(trading: TradingClient) -> None:
    unknown = uuid.uuid4()
    for method in (trading.cancel_order_by_id, trading.get_order_by_id):
        with pytest.raises(APIError) as caught:
            await in_thread(method, unknown)
        assert caught.value.status_code == 404
        assert caught.value.message == "order not found"


async def test_cancel_all_answers_each_order_and_leaves_none_open(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    first = await submit(trading, limit("SPY", 1, OrderSide.BUY, "100.00"))
    second = await submit(trading, limit("QQQ", 1, OrderSide.BUY, "100.00"))
    responses = await in_thread(trading.cancel_orders)
    assert isinstance(responses, list)
    assert {(r.id, r.status) for r in responses} == {(first.id, 200), (second.id, 200)}
    await alpaca_sim.wait_for(lambda: all(o.status == "canceled" for o in alpaca_sim.orders()))
    assert await listed(trading) == []


async def test_buy_beyond_buying_power_answers_403_and_places_nothing(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    with pytest.raises(APIError) as caught:
        await submit(trading, market("SPY", 170, OrderSide.BUY))  # 170 x 589.12 > 100,000
    assert caught.value.status_code == 403
    assert caught.value.code == 40310000
    assert caught.value.message == "insufficient buying power"
    assert alpaca_sim.orders() == []


async def test_resting_buys_hold_buying_power(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    await submit(trading, limit("SPY", 150, OrderSide.BUY, "500.00"))  # holds 75,000
    with pytest.raises(APIError) as caught:
        await submit(trading, limit("QQQ", 60, OrderSide.BUY, "500.00"))  # 30,000 more
    assert caught.value.message == "insufficient buying power"
    assert len(alpaca_sim.orders()) == 1


async def test_sell_beyond_held_shares_answers_403_with_available_quantity(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    await submit(trading, limit("GLD", 15, OrderSide.SELL, "300.00"))
    with pytest.raises(APIError) as caught:
        await submit(trading, market("GLD", 6, OrderSide.SELL))
    assert caught.value.status_code == 403
    assert caught.value.message == (
        "insufficient qty available for order (requested: 6, available: 5)"
    )


async def test_unknown_symbol_answers_422_and_places_nothing(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    with pytest.raises(APIError) as caught:
        await submit(trading, market("ZZZZQX", 1, OrderSide.BUY))
    assert caught.value.status_code == 422
    assert caught.value.message == 'asset "ZZZZQX" not found'
    assert alpaca_sim.orders() == []


async def test_fractional_quantity_answers_422(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    with pytest.raises(APIError) as caught:
        await in_thread(
            trading.submit_order,
            MarketOrderRequest(
                symbol="SPY", qty=1.5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            ),
        )
    assert caught.value.status_code == 422
    assert "whole shares" in caught.value.message


async def test_cash_account_buy_that_no_longer_fits_at_fill_time_is_rejected(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_market(False)
    order = await submit(trading, market("SPY", 169, OrderSide.BUY))  # 99,561 at 589.12
    alpaca_sim.set_price("SPY", bid="600.00", ask="600.02")  # now 101,403: more than the cash
    alpaca_sim.set_market(True)
    await alpaca_sim.wait_for(lambda: alpaca_sim.order(str(order.id)).status == "rejected")
    assert alpaca_sim.cash(EXAMPLE_ACCOUNT) == Decimal(100000)
    fetched = await in_thread(trading.get_order_by_id, order.id)
    assert isinstance(fetched, Order)
    assert fetched.status == OrderStatus.REJECTED
    assert fetched.failed_at is not None


async def test_partial_fill_fault_leaves_order_partially_filled_and_open(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_faults(partial_fill_parts=3, partial_fill_stop_after=1)
    order = await submit(trading, market("SPY", 10, OrderSide.BUY))
    await alpaca_sim.wait_for(lambda: alpaca_sim.order(str(order.id)).fills_stopped)
    fetched = await in_thread(trading.get_order_by_id, order.id)
    assert isinstance(fetched, Order)
    assert fetched.status == OrderStatus.PARTIALLY_FILLED
    assert fetched.filled_qty == "3"
    open_orders = await listed(trading)
    assert [o.id for o in open_orders] == [order.id]
    assert alpaca_sim.positions(EXAMPLE_ACCOUNT)["SPY"] == 53


async def test_partial_fills_in_parts_complete_the_order(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_faults(partial_fill_parts=3)
    order = await submit(trading, market("SPY", 10, OrderSide.BUY))
    await alpaca_sim.wait_for(lambda: alpaca_sim.order(str(order.id)).status == "filled")
    assert [f.quantity for f in alpaca_sim.order(str(order.id)).fills] == [3, 3, 4]


async def test_reject_fault_turns_accepted_order_rejected(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_faults(reject_symbols=["QQQ"])
    order = await submit(trading, market("QQQ", 1, OrderSide.BUY))
    rejected = await settled(alpaca_sim, trading, order)
    assert rejected.status == OrderStatus.REJECTED
    assert alpaca_sim.positions(EXAMPLE_ACCOUNT).get("QQQ") is None


async def test_order_placed_while_closed_is_accepted_and_fills_at_the_open(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_market(False)
    order = await submit(trading, market("SPY", 2, OrderSide.BUY))
    assert order.status == OrderStatus.ACCEPTED
    alpaca_sim.set_market(True)
    await alpaca_sim.wait_for(lambda: alpaca_sim.order(str(order.id)).status == "filled")


async def test_day_order_still_open_at_the_close_expires(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    order = await submit(trading, limit("SPY", 1, OrderSide.BUY, "100.00"))
    alpaca_sim.set_market(False)
    expired = await in_thread(trading.get_order_by_id, order.id)
    assert isinstance(expired, Order)
    assert expired.status == OrderStatus.EXPIRED
    assert expired.expired_at is not None


async def test_orders_list_filters_by_status_side_and_symbols(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    bought = await submit(trading, market("SPY", 1, OrderSide.BUY))
    await settled(alpaca_sim, trading, bought)
    sold = await submit(trading, limit("TLT", 1, OrderSide.SELL, "200.00"))
    closed = await listed(trading, GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    assert [o.id for o in closed] == [bought.id]
    everything = await listed(trading, GetOrdersRequest(status=QueryOrderStatus.ALL))
    assert [o.id for o in everything] == [sold.id, bought.id]
    buys = await listed(
        trading,
        GetOrdersRequest(status=QueryOrderStatus.ALL, side=OrderSide.BUY, symbols=["SPY", "QQQ"]),
    )
    assert [o.id for o in buys] == [bought.id]
    after = await listed(
        trading,
        GetOrdersRequest(
            status=QueryOrderStatus.ALL, after=alpaca_sim.order(str(sold.id)).created_at
        ),
    )
    assert after == []


async def test_same_day_round_trip_counts_a_day_trade_and_pdt_protection_refuses_the_fourth(
    alpaca_sim: AlpacaApiSimulator, make_trading: MakeTrading
) -> None:
    account = "PA1SIM000002"  # margin, 20,000 equity: under the PDT minimum
    trading = make_trading(account)
    buy = await submit(trading, market("SPY", 2, OrderSide.BUY))
    await settled(alpaca_sim, trading, buy)
    sell = await submit(trading, market("SPY", 1, OrderSide.SELL))
    await settled(alpaca_sim, trading, sell)
    assert alpaca_sim.account(account).daytrade_count == 2
    alpaca_sim.set_account(account, daytrade_count=3)
    with pytest.raises(APIError) as caught:
        await submit(trading, market("SPY", 1, OrderSide.SELL))
    assert caught.value.status_code == 403
    assert caught.value.message == "trade denied due to pattern day trading protection"
