"""Request faults seen through the real alpaca-py: 429, 500, a stalled API, dropped connections."""

from __future__ import annotations

import asyncio

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.models import Order, TradeAccount
from alpaca.trading.requests import MarketOrderRequest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.testing import in_thread


@pytest.fixture
def no_retry(trading: TradingClient) -> TradingClient:
    # alpaca-py retries 429 and 504 three times, three seconds apart, on its own; these tests
    # look at single answers.
    trading._retry = 0
    return trading


async def test_rate_limit_fault_answers_429_then_clears(
    alpaca_sim: AlpacaApiSimulator, no_retry: TradingClient
) -> None:
    alpaca_sim.set_faults(rate_limit_requests=1)
    with pytest.raises(APIError) as caught:
        await in_thread(no_retry.get_account)
    assert caught.value.status_code == 429
    assert caught.value.message == "rate limit exceeded"
    assert isinstance(await in_thread(no_retry.get_account), TradeAccount)
    assert alpaca_sim.faults.rate_limit_requests == 0


async def test_sdk_retries_a_429_by_itself(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    trading._retry_wait = 0
    alpaca_sim.set_faults(rate_limit_requests=2)
    assert isinstance(await in_thread(trading.get_account), TradeAccount)
    assert alpaca_sim.api_requests == 3


async def test_server_error_fault_answers_500(
    alpaca_sim: AlpacaApiSimulator, no_retry: TradingClient
) -> None:
    alpaca_sim.set_faults(server_error_requests=1)
    with pytest.raises(APIError) as caught:
        await in_thread(no_retry.get_all_positions)
    assert caught.value.status_code == 500


async def test_response_delay_fault_holds_the_answer_until_the_connection_drops(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_faults(response_delay_secs=30)
    task = asyncio.create_task(in_thread(trading.get_clock))
    await alpaca_sim.wait_for(lambda: alpaca_sim.api_requests == 1)
    done, _ = await asyncio.wait({task}, timeout=0.2)
    assert not done, "the answer should still be held back"
    alpaca_sim.drop_connections()
    with pytest.raises(requests.ConnectionError):
        await task


async def test_drop_with_refuse_closes_connections_and_refuses_until_reopened(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    assert isinstance(await in_thread(trading.get_account), TradeAccount)
    alpaca_sim.drop_connections(refuse_secs=0.3)
    assert alpaca_sim.accepting is False
    with pytest.raises(requests.ConnectionError):
        await in_thread(trading.get_account)
    await alpaca_sim.wait_for(lambda: alpaca_sim.accepting)
    assert isinstance(await in_thread(trading.get_account), TradeAccount)


async def test_lost_order_answer_places_the_order_but_the_client_sees_a_dropped_connection(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_faults(lose_order_answers=1)
    request = MarketOrderRequest(
        symbol="SPY",
        qty=1,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY,
        client_order_id="l-1",
    )
    with pytest.raises(requests.ConnectionError):
        await in_thread(trading.submit_order, request)
    [order] = alpaca_sim.orders()
    assert order.client_order_id == "l-1"
    found = await in_thread(trading.get_order_by_client_id, "l-1")
    assert isinstance(found, Order)
    assert str(found.id) == order.id


def _buy(symbol: str, client_order_id: str) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol=symbol,
        qty=1,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY,
        client_order_id=client_order_id,
    )


async def test_drop_after_orders_answers_the_nth_order_then_refuses_until_the_fault_clears(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.set_faults(drop_connections_after_orders=2)
    await in_thread(trading.submit_order, _buy("SPY", "d-1"))
    assert isinstance(await in_thread(trading.get_account), TradeAccount), "still up"

    second = await in_thread(trading.submit_order, _buy("QQQ", "d-2"))

    assert isinstance(second, Order)
    assert second.client_order_id == "d-2"
    assert alpaca_sim.accepting is False
    with pytest.raises(requests.ConnectionError):
        await in_thread(trading.get_account)
    alpaca_sim.set_faults(drop_connections_after_orders=None)
    await alpaca_sim.wait_for(lambda: alpaca_sim.accepting)
    assert [o.client_order_id for o in alpaca_sim.orders()] == ["d-1", "d-2"]
    assert isinstance(await in_thread(trading.get_account), TradeAccount)


async def test_accept_connections_ends_a_refusal_at_once(
    alpaca_sim: AlpacaApiSimulator, trading: TradingClient
) -> None:
    alpaca_sim.drop_connections(refuse_secs=600)

    await alpaca_sim.accept_connections()

    assert alpaca_sim.accepting is True
    assert isinstance(await in_thread(trading.get_account), TradeAccount)
