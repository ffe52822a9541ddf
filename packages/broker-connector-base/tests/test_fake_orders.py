"""InMemoryBroker / FakeExchange: fills, cash-account rules, resting orders and knobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import OrderSpec
from broker_connector_base.exceptions import (
    BrokerConnectionError,
    MarketClosedError,
    OrderExecutionError,
)
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.models import OrderStatus

ACCOUNT = "DU100"


async def _cash(broker: InMemoryBroker) -> tuple[Decimal, Decimal]:
    snap = await broker.get_account_snapshot(ACCOUNT)
    return snap.cash_balance, snap.settled_cash


async def test_market_buy_fills_at_ask_and_debits_exact_cash(broker: InMemoryBroker) -> None:
    result = await broker.place_order(ACCOUNT, "SPY", 3)
    fill = await broker.wait_for_order(result.order_id, timeout_secs=1)
    assert fill.status == OrderStatus.FILLED
    assert fill.avg_fill_price == Decimal("100.01")
    assert await _cash(broker) == (Decimal("699.97"), Decimal("699.97"))


async def test_market_sell_fills_at_bid_and_credits_unsettled_cash(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    result = await broker.place_order(ACCOUNT, "VTI", -4)
    fill = await broker.wait_for_order(result.order_id, timeout_secs=1)
    assert fill.filled_quantity == -4
    assert fill.avg_fill_price == Decimal("230.10")
    assert await _cash(broker) == (Decimal("1920.40"), Decimal("1000.00"))
    exchange.settle()
    assert await _cash(broker) == (Decimal("1920.40"), Decimal("1920.40"))


async def test_buy_beyond_cash_is_rejected_with_order_id_and_logged(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    with pytest.raises(OrderExecutionError, match="cannot borrow") as caught:
        await broker.place_order(ACCOUNT, "SPY", 10, order_ref="run-7")
    order_id = caught.value.order_id
    assert order_id is not None
    assert await broker.get_order_status(order_id) == OrderStatus.REJECTED
    [record] = exchange.order_log
    assert (record.order_id, record.status, record.order_ref) == (
        order_id,
        OrderStatus.REJECTED,
        "run-7",
    )
    assert record.reason is not None
    assert "1000.00" in record.reason
    assert await _cash(broker) == (Decimal("1000.00"), Decimal("1000.00"))


async def test_buy_exactly_all_cash_is_accepted(exchange: FakeExchange) -> None:
    exchange.add_account("DU200", FakeAccount(cash=Decimal("300.03")))
    broker = InMemoryBroker(exchange)
    await broker.connect()
    result = await broker.place_order("DU200", "SPY", 3)
    assert result.status == OrderStatus.FILLED
    snap = await broker.get_account_snapshot("DU200")
    assert snap.cash_balance == Decimal("0.00")


async def test_sell_more_than_held_is_rejected_no_short(broker: InMemoryBroker) -> None:
    with pytest.raises(OrderExecutionError, match="cannot sell short"):
        await broker.place_order(ACCOUNT, "VTI", -11)
    with pytest.raises(OrderExecutionError, match="cannot sell short"):
        await broker.place_order(ACCOUNT, "SPY", -1)
    snap = await broker.get_account_snapshot(ACCOUNT)
    assert snap.position("VTI") is not None
    assert snap.position("SPY") is None


async def test_resting_sell_reserves_its_shares(broker: InMemoryBroker) -> None:
    await broker.place_order(
        ACCOUNT, "VTI", -6, order=OrderSpec(type="LIMIT", limit_price=Decimal("300"))
    )
    with pytest.raises(OrderExecutionError, match="not already being sold"):
        await broker.place_order(ACCOUNT, "VTI", -5)
    result = await broker.place_order(ACCOUNT, "VTI", -4)
    assert result.status == OrderStatus.FILLED


async def test_resting_buy_reserves_its_cash(broker: InMemoryBroker) -> None:
    await broker.place_order(
        ACCOUNT, "SPY", 9, order=OrderSpec(type="LIMIT", limit_price=Decimal("100.00"))
    )
    with pytest.raises(OrderExecutionError, match=r"100\.00 cash"):
        await broker.place_order(
            ACCOUNT, "SPY", 1, order=OrderSpec(type="LIMIT", limit_price=Decimal("100.01"))
        )


async def test_marketable_limit_buy_fills_at_ask_not_limit(broker: InMemoryBroker) -> None:
    result = await broker.place_order(
        ACCOUNT, "SPY", 2, order=OrderSpec(type="LIMIT", limit_price=Decimal("105.00"))
    )
    fill = await broker.wait_for_order(result.order_id, timeout_secs=0)
    assert fill.status == OrderStatus.FILLED
    assert fill.avg_fill_price == Decimal("100.01")


async def test_resting_limit_buy_fills_when_ask_drops_and_wakes_waiter(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    result = await broker.place_order(
        ACCOUNT, "SPY", 2, order=OrderSpec(type="LIMIT", limit_price=Decimal("95"))
    )
    assert result.status == OrderStatus.WORKING
    waiting = asyncio.create_task(broker.wait_for_order(result.order_id, timeout_secs=30))
    order = exchange.orders[result.order_id]
    for _ in range(100):  # yield until the wait has registered (no wall-clock sleep)
        if order.waiters:
            break
        await asyncio.sleep(0)
    assert order.waiters
    assert not waiting.done()
    exchange.set_quote("SPY", bid=Decimal("94.50"), ask=Decimal("94.90"))
    fill = await asyncio.wait_for(waiting, 5)
    assert fill.status == OrderStatus.FILLED
    assert fill.avg_fill_price == Decimal("94.90")


async def test_market_order_while_closed_rests_pending_and_fills_at_open(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_market_open(False)
    result = await broker.place_order(ACCOUNT, "SPY", 1)
    assert result.status == OrderStatus.PENDING
    short = await broker.wait_for_order(result.order_id, timeout_secs=0.01)
    assert (short.status, short.filled_quantity, short.remaining_quantity) == (
        OrderStatus.PENDING,
        0,
        1,
    )
    exchange.set_market_open(True)
    assert await broker.get_order_status(result.order_id) == OrderStatus.FILLED


async def test_reject_orders_when_closed_raises_market_closed_with_next_open(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    opens = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    exchange.reject_orders_when_closed = True
    exchange.set_market_open(False, next_open=opens)
    with pytest.raises(MarketClosedError) as caught:
        await broker.place_order(ACCOUNT, "SPY", 1)
    assert caught.value.next_open == "2026-11-24T14:30:00+00:00"
    assert exchange.order_log == []


async def test_partial_fill_leaves_rest_working_then_cancel_keeps_filled_part(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_partial_fill("spy", 2)
    result = await broker.place_order(ACCOUNT, "SPY", 5)
    fill = await broker.wait_for_order(result.order_id, timeout_secs=0.01)
    assert (fill.status, fill.filled_quantity, fill.remaining_quantity) == (
        OrderStatus.WORKING,
        2,
        3,
    )
    await broker.cancel_order(result.order_id)
    final = await broker.wait_for_order(result.order_id, timeout_secs=1)
    assert (final.status, final.filled_quantity) == (OrderStatus.CANCELLED, 2)
    snap = await broker.get_account_snapshot(ACCOUNT)
    position = snap.position("SPY")
    assert position is not None
    assert position.quantity == 2
    assert snap.cash_balance == Decimal("799.98")


async def test_reject_symbol_rejects_new_orders_with_reason(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.reject_symbol("SPY", "no trading permission")
    with pytest.raises(OrderExecutionError, match="no trading permission"):
        await broker.place_order(ACCOUNT, "SPY", 1)
    exchange.reject_symbol("SPY", None)
    assert (await broker.place_order(ACCOUNT, "SPY", 1)).status == OrderStatus.FILLED


async def test_auto_fill_off_holds_orders_until_resumed(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_auto_fill(False)
    result = await broker.place_order(ACCOUNT, "SPY", 1)
    assert result.status == OrderStatus.WORKING
    timed_out = await broker.wait_for_order(result.order_id, timeout_secs=0.01)
    assert not timed_out.status.is_final
    exchange.set_auto_fill(True)
    assert await broker.get_order_status(result.order_id) == OrderStatus.FILLED


async def test_fill_order_fills_at_given_price(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_auto_fill(False)
    result = await broker.place_order(ACCOUNT, "SPY", 2)
    exchange.fill_order(result.order_id, quantity=1, price=Decimal("100.005"))
    exchange.fill_order(result.order_id, price=Decimal("100.015"))
    fill = await broker.wait_for_order(result.order_id, timeout_secs=0)
    assert fill.status == OrderStatus.FILLED
    assert fill.avg_fill_price == Decimal("100.01")
    with pytest.raises(ValueError, match="not working"):
        exchange.fill_order(result.order_id)


async def test_expire_open_orders_expires_day_orders(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    result = await broker.place_order(
        ACCOUNT, "SPY", 1, order=OrderSpec(type="LIMIT", limit_price=Decimal("50"))
    )
    assert exchange.expire_open_orders() == [result.order_id]
    fill = await broker.wait_for_order(result.order_id, timeout_secs=0)
    assert fill.status == OrderStatus.EXPIRED
    assert await broker.get_open_orders(ACCOUNT) == []


async def test_commission_is_charged_once_per_order(exchange: FakeExchange) -> None:
    exchange.commission_per_order = Decimal("1.25")
    exchange.set_partial_fill("SPY", 1)
    broker = InMemoryBroker(exchange)
    await broker.connect()
    result = await broker.place_order(ACCOUNT, "SPY", 2)
    exchange.set_partial_fill("SPY", None)
    exchange.set_quote("SPY", bid=Decimal("99.99"), ask=Decimal("100.01"))
    assert await broker.get_order_status(result.order_id) == OrderStatus.FILLED
    snap = await broker.get_account_snapshot(ACCOUNT)
    assert snap.cash_balance == Decimal("1000.00") - Decimal("200.02") - Decimal("1.25")


async def test_require_settled_cash_refuses_buys_with_unsettled_proceeds(
    exchange: FakeExchange,
) -> None:
    exchange.require_settled_cash = True
    broker = InMemoryBroker(exchange)
    await broker.connect()
    await broker.place_order(ACCOUNT, "VTI", -10)
    with pytest.raises(OrderExecutionError, match="settled cash"):
        await broker.place_order(ACCOUNT, "SPY", 11)
    exchange.settle()
    assert (await broker.place_order(ACCOUNT, "SPY", 11)).status == OrderStatus.FILLED


async def test_buys_average_cost_and_full_sell_removes_position(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.add_account(
        "DU300",
        FakeAccount(cash=Decimal("5000"), positions={"SPY": 10}, avg_costs={"SPY": Decimal("90")}),
    )
    await broker.place_order("DU300", "SPY", 10)
    snap = await broker.get_account_snapshot("DU300")
    position = snap.position("SPY")
    assert position is not None
    assert position.avg_cost == Decimal("95.005")
    await broker.place_order("DU300", "SPY", -20)
    assert (await broker.get_account_snapshot("DU300")).positions == []


async def test_order_log_records_refs_times_and_fills_in_order(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    first = await broker.place_order(ACCOUNT, "SPY", 1, order_ref="run-1")
    second = await broker.place_order(
        ACCOUNT,
        "SPY",
        1,
        order=OrderSpec(type="LIMIT", limit_price=Decimal("50")),
        order_ref="run-1",
    )
    log = exchange.order_log
    assert [r.order_id for r in log] == [first.order_id, second.order_id]
    assert [r.order_ref for r in log] == ["run-1", "run-1"]
    assert log[0].placed_at < log[1].placed_at
    assert (log[0].status, log[0].filled_quantity, log[0].avg_fill_price) == (
        OrderStatus.FILLED,
        1,
        Decimal("100.01"),
    )
    assert (log[1].status, log[1].limit_price, log[1].order_type) == (
        OrderStatus.WORKING,
        Decimal("50"),
        "LIMIT",
    )


async def test_two_clients_on_one_exchange_see_the_same_orders(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    other = InMemoryBroker(exchange)
    await other.connect()
    result = await broker.place_order(
        ACCOUNT, "SPY", 1, order=OrderSpec(type="LIMIT", limit_price=Decimal("50"))
    )
    assert [o.order_id for o in await other.get_open_orders(ACCOUNT)] == [result.order_id]
    assert await other.cancel_all_orders(ACCOUNT, timeout_secs=1) == [result.order_id]
    assert await broker.get_order_status(result.order_id) == OrderStatus.CANCELLED


async def test_symbols_bought_today_follow_the_new_york_day_of_the_exchange_clock(
    clock: Any, broker: InMemoryBroker
) -> None:
    # 23:59:50 New York: the buy falls on the 23rd, a minute later it is the 24th there.
    clock.now = datetime(2026, 11, 24, 4, 59, 50, tzinfo=UTC)
    await broker.place_order(ACCOUNT, "SPY", 1)
    await broker.place_order(ACCOUNT, "VTI", -1)
    assert await broker.get_symbols_bought_today(ACCOUNT) == {"SPY"}

    clock.now = datetime(2026, 11, 24, 5, 0, 30, tzinfo=UTC)
    assert await broker.get_symbols_bought_today(ACCOUNT) == frozenset()


async def test_a_buy_that_never_filled_is_not_bought_today(
    exchange: FakeExchange, broker: InMemoryBroker
) -> None:
    exchange.set_auto_fill(False)
    await broker.place_order(ACCOUNT, "SPY", 1)

    assert await broker.get_symbols_bought_today(ACCOUNT) == frozenset()


async def test_fill_delay_acknowledges_working_then_fills_later(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_fill_delay(0.05)
    placed = await broker.place_order(ACCOUNT, "SPY", 2)
    assert placed.status == OrderStatus.WORKING
    fill = await broker.wait_for_order(placed.order_id, timeout_secs=2)
    assert (fill.status, fill.filled_quantity) == (OrderStatus.FILLED, 2)


async def test_drop_connection_after_orders_keeps_the_order_and_raises_on_placing_it(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    broker.drop_connection_after_orders(2)
    await broker.place_order(ACCOUNT, "SPY", 1)
    with pytest.raises(BrokerConnectionError, match="while placing order 2"):
        await broker.place_order(ACCOUNT, "SPY", 1)
    assert broker.is_connected() is False
    assert [o.filled_quantity for o in exchange.order_log] == [1, 1]
    await broker.connect()
    await broker.place_order(ACCOUNT, "SPY", 1)  # one drop only
    assert broker.is_connected() is True
