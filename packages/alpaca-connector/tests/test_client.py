"""AlpacaClient's own guarantees beyond the conformance suite, against the stand-in."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from decimal import Decimal

import pytest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.clock import NEW_YORK
from alpaca_api_sim.pytest_plugin import EXAMPLE_ACCOUNT, EXAMPLE_MARGIN_ACCOUNT
from alpaca_connector import AlpacaClient
from alpaca_connector.testing import MakeClient
from broker_connector_base import (
    AuthenticationError,
    BrokerAPIError,
    BrokerConnectionError,
    InvalidInputError,
    OrderExecutionError,
    OrderSpec,
    OrderStatus,
    RateLimitError,
)

SATURDAY_NOON = dt.datetime(2026, 11, 21, 12, 0, tzinfo=NEW_YORK)


async def test_connect_learns_account_number_and_snapshot_is_exact(client: AlpacaClient) -> None:
    assert client.account_number == EXAMPLE_ACCOUNT
    snap = await client.get_account_snapshot(EXAMPLE_ACCOUNT)
    assert snap.cash_balance == Decimal(100000)
    assert snap.total_value == Decimal(100000) + 50 * Decimal("589.11") + 100 * Decimal(
        "92.87"
    ) + 20 * Decimal("245.81")
    spy = snap.position("SPY")
    assert spy is not None
    assert (spy.quantity, spy.market_price, spy.avg_cost) == (
        Decimal(50),
        Decimal("589.11"),
        Decimal("540.25"),
    )


async def test_other_account_id_is_refused_as_invalid_input(client: AlpacaClient) -> None:
    with pytest.raises(InvalidInputError, match=EXAMPLE_MARGIN_ACCOUNT):
        await client.get_account_snapshot(EXAMPLE_MARGIN_ACCOUNT)
    with pytest.raises(InvalidInputError):
        await client.place_order(EXAMPLE_MARGIN_ACCOUNT, "SPY", 1)


async def test_wrong_secret_fails_connect_with_authentication_error_that_hides_the_keys(
    alpaca_sim: AlpacaApiSimulator, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await make_client(connect=False, secret_key="not-the-secret-value")
    with pytest.raises(AuthenticationError) as caught:
        await client.connect()
    assert client.is_connected() is False
    key, _ = alpaca_sim.credentials(EXAMPLE_ACCOUNT)
    shown = f"{caught.value} {caught.value!r} {client!r} {client.config!r} {caplog.text}"
    assert "not-the-secret-value" not in shown
    assert key not in shown


async def test_connect_to_refusing_endpoint_raises_broker_connection_error(
    alpaca_sim: AlpacaApiSimulator, make_client: MakeClient
) -> None:
    client = await make_client(connect=False)
    alpaca_sim.drop_connections(refuse_secs=30)
    with pytest.raises(BrokerConnectionError, match="could not reach Alpaca"):
        await client.connect()
    assert client.is_connected() is False


async def test_stalled_api_call_ends_in_broker_connection_error_within_its_bound(
    alpaca_sim: AlpacaApiSimulator, make_client: MakeClient
) -> None:
    client = await make_client(request_timeout_secs=0.3)
    alpaca_sim.set_faults(response_delay_secs=60)
    with pytest.raises(BrokerConnectionError, match=r"0\.3 s|timed out"):
        await asyncio.wait_for(client.get_trading_hours_status(["SPY"]), 5)
    alpaca_sim.drop_connections()


async def test_rate_limit_answer_raises_rate_limit_error_without_sdk_retries(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    before = alpaca_sim.api_requests
    alpaca_sim.set_faults(rate_limit_requests=5)
    with pytest.raises(RateLimitError) as caught:
        await client.get_trading_hours_status(["SPY"])
    assert caught.value.api_code == "42910000"
    assert alpaca_sim.api_requests == before + 1


async def test_server_error_raises_broker_api_error(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.set_faults(server_error_requests=1)
    with pytest.raises(BrokerAPIError, match="500"):
        await client.get_open_orders(EXAMPLE_ACCOUNT)


@pytest.mark.parametrize(
    ("symbol", "quantity", "reason"),
    [
        ("SPY", 200, "insufficient buying power"),
        ("ZZZZQX", 1, 'asset "ZZZZQX" not found'),
        ("GLD", -21, "insufficient qty available for order (requested: 21, available: 20)"),
    ],
)
async def test_refused_order_raises_order_execution_error_with_alpacas_reason(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient, symbol: str, quantity: int, reason: str
) -> None:
    with pytest.raises(OrderExecutionError) as caught:
        await client.place_order(EXAMPLE_ACCOUNT, symbol, quantity)
    assert reason in str(caught.value)
    assert alpaca_sim.orders() == []


async def test_pdt_protection_refusal_raises_order_execution_error(
    alpaca_sim: AlpacaApiSimulator, make_client: MakeClient
) -> None:
    client = await make_client(EXAMPLE_MARGIN_ACCOUNT)
    bought = await client.place_order(EXAMPLE_MARGIN_ACCOUNT, "SPY", 2)
    assert (await client.wait_for_order(bought.order_id, timeout_secs=5)).status == "FILLED"
    alpaca_sim.set_account(EXAMPLE_MARGIN_ACCOUNT, daytrade_count=3)
    with pytest.raises(OrderExecutionError, match="pattern day trading protection"):
        await client.place_order(EXAMPLE_MARGIN_ACCOUNT, "SPY", -1)


async def test_lost_order_answer_is_confirmed_by_client_order_id_and_not_sent_twice(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.set_faults(lose_order_answers=1)
    result = await client.place_order(EXAMPLE_ACCOUNT, "SPY", 3, order_ref="run-42")
    [order] = alpaca_sim.orders()
    assert result.order_id == order.id
    assert result.order_ref == "run-42"
    assert order.client_order_id.startswith("run-42-")


async def test_order_lost_before_reaching_alpaca_is_reported_unconfirmed_and_not_resent(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.drop_connections(refuse_secs=30)
    with pytest.raises(OrderExecutionError, match=r"unconfirmed.*not sent again"):
        await client.place_order(EXAMPLE_ACCOUNT, "SPY", 1, order_ref="run-43")
    assert alpaca_sim.orders() == []


async def test_partial_fill_then_cancel_reports_the_filled_part(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.set_faults(partial_fill_parts=3, partial_fill_stop_after=1)
    result = await client.place_order(EXAMPLE_ACCOUNT, "SPY", -10)
    await alpaca_sim.wait_for(lambda: alpaca_sim.order(result.order_id).fills_stopped)
    partial = await client.wait_for_order(result.order_id, timeout_secs=0)
    assert (partial.status, partial.filled_quantity, partial.remaining_quantity) == (
        OrderStatus.WORKING,
        -3,
        7,
    )
    assert partial.avg_fill_price == Decimal("589.10")
    await client.cancel_order(result.order_id)
    final = await client.wait_for_order(result.order_id, timeout_secs=5)
    assert (final.status, final.filled_quantity, final.remaining_quantity) == (
        OrderStatus.CANCELLED,
        -3,
        0,
    )


async def test_order_rejected_after_acceptance_ends_rejected_with_message(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.set_faults(reject_symbols=["QQQ"], fill_delay_secs=0.2)
    result = await client.place_order(EXAMPLE_ACCOUNT, "QQQ", 1)
    assert result.status == OrderStatus.WORKING
    fill = await client.wait_for_order(result.order_id, timeout_secs=5)
    assert fill.status == OrderStatus.REJECTED
    assert fill.filled_quantity == 0
    assert fill.message is not None


async def test_order_ref_survives_a_new_connection(
    alpaca_sim: AlpacaApiSimulator, make_client: MakeClient
) -> None:
    first = await make_client()
    placed = await first.place_order(
        EXAMPLE_ACCOUNT,
        "SPY",
        1,
        order=OrderSpec(type="LIMIT", limit_price=Decimal("100.00")),
        order_ref="run-7",
    )
    await first.disconnect()
    second = await make_client()
    [order] = await second.get_open_orders(EXAMPLE_ACCOUNT)
    assert (order.order_id, order.order_ref, order.limit_price) == (
        placed.order_id,
        "run-7",
        Decimal("100"),
    )


async def test_symbols_bought_today_follow_the_new_york_day_of_alpacas_clock(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.set_clock(dt.datetime(2026, 11, 24, 15, 0, tzinfo=NEW_YORK))
    sold = await client.place_order(EXAMPLE_ACCOUNT, "TLT", -5)
    bought = await client.place_order(EXAMPLE_ACCOUNT, "QQQ", 2)
    for order_id in (sold.order_id, bought.order_id):
        assert (await client.wait_for_order(order_id, timeout_secs=5)).status == "FILLED"
    assert await client.get_symbols_bought_today(EXAMPLE_ACCOUNT) == frozenset({"QQQ"})
    alpaca_sim.advance_clock(dt.timedelta(hours=10))  # 01:00 the next New York day
    assert await client.get_symbols_bought_today(EXAMPLE_ACCOUNT) == frozenset()


async def test_closed_market_lists_every_symbol_with_the_clocks_next_open(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.set_always_open(False)
    alpaca_sim.set_clock(SATURDAY_NOON)
    status = await client.get_trading_hours_status(["spy", "QQQ"])
    assert status.is_open is False
    assert status.closed_symbols == ["SPY", "QQQ"]
    assert status.next_open == dt.datetime(2026, 11, 23, 9, 30, tzinfo=NEW_YORK)
    assert status.checked_at == SATURDAY_NOON


async def test_quote_without_bid_and_ask_uses_last_trade_with_one_warning(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.set_faults(no_quote_symbols=["GLD"])
    prices = await client.get_multiple_market_prices(["GLD", "spy", "GLD"])
    assert [p.symbol for p in prices] == ["GLD", "SPY", "GLD"]
    assert (prices[0].bid, prices[0].ask, prices[0].last) == (Decimal("245.81"),) * 3
    assert (prices[1].bid, prices[1].ask) == (Decimal("589.10"), Decimal("589.12"))
    assert client.take_warnings() == ["GLD: no bid/ask quote, using last trade 245.81 instead"]
    assert client.take_warnings() == []


async def test_unknown_or_malformed_symbol_quote_is_refused_by_name(client: AlpacaClient) -> None:
    with pytest.raises(BrokerAPIError, match="ZZZZQX"):
        await client.get_multiple_market_prices(["SPY", "ZZZZQX"])
    with pytest.raises(InvalidInputError, match="sp;y"):
        await client.get_multiple_market_prices(["sp;y"])


async def test_concurrent_calls_on_one_client_all_answer(client: AlpacaClient) -> None:
    calls = [client.get_account_snapshot(EXAMPLE_ACCOUNT) for _ in range(4)] + [
        client.get_multiple_market_prices(["SPY", "QQQ"]) for _ in range(4)
    ]
    results = await asyncio.gather(*calls)
    assert len(results) == 8
    assert all(r == results[0] for r in results[:4])


async def test_calls_after_disconnect_raise_broker_connection_error(client: AlpacaClient) -> None:
    await client.disconnect()
    with pytest.raises(BrokerConnectionError):
        await client.get_multiple_market_prices(["SPY"])
    with pytest.raises(BrokerConnectionError):
        await client.wait_for_order("00000000-0000-4000-8000-000000000000", timeout_secs=0)


async def test_moc_goes_out_as_a_market_order_on_close_and_lists_back_as_moc(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    placed = await client.place_order(
        EXAMPLE_ACCOUNT, "SPY", 2, order=OrderSpec(type="MOC"), order_ref="run-close"
    )

    [seen] = alpaca_sim.orders(EXAMPLE_ACCOUNT)
    assert (seen.type, seen.time_in_force, seen.qty) == ("market", "cls", 2)
    [listed] = await client.get_open_orders(EXAMPLE_ACCOUNT)
    assert (listed.order_id, listed.order_type, listed.order_ref) == (
        placed.order_id,
        "MOC",
        "run-close",
    )
    alpaca_sim.close_auction()
    fill = await client.wait_for_order(placed.order_id, timeout_secs=5)
    assert (fill.status, fill.avg_fill_price, fill.commission) == (
        OrderStatus.FILLED,
        Decimal("587.4"),
        Decimal(0),
    )


async def test_moc_after_alpacas_cutoff_is_refused_naming_it(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient
) -> None:
    alpaca_sim.set_always_open(False)
    alpaca_sim.set_clock(dt.datetime(2026, 11, 23, 20, 55, tzinfo=dt.UTC))  # 15:55 New York

    with pytest.raises(OrderExecutionError, match="not accepted from 15:50 ET"):
        await client.place_order(EXAMPLE_ACCOUNT, "SPY", 1, order=OrderSpec(type="MOC"))

    assert alpaca_sim.orders(EXAMPLE_ACCOUNT) == []


@pytest.mark.parametrize("order_type", ["MIDPRICE", "ADAPTIVE"])
async def test_types_alpaca_lacks_are_refused_before_anything_is_sent(
    alpaca_sim: AlpacaApiSimulator, client: AlpacaClient, order_type: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"cannot place {order_type} orders"):
        await client.place_order(EXAMPLE_ACCOUNT, "SPY", 1, order=OrderSpec.of(order_type))

    assert alpaca_sim.orders(EXAMPLE_ACCOUNT) == []
