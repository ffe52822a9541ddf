"""Crash-recovery realism: gateway restarts, a cancel racing a fill, gateway-wide pacing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, Trade
from ib_gateway_sim import GatewaySimulator

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]
TradeUntil = Callable[..., Awaitable[None]]


# A restart closes ib_async's socket under it (and refuses the next connect); it logs both.
_RESTART_LOGS = ["Peer closed connection", "API connection failed", "Make sure API port"]


async def _qualified(ib: IB, symbol: str) -> Stock:
    contract = Stock(symbol, "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    return contract


async def _disconnected(ib: IB, timeout_secs: float = 5.0) -> None:
    if ib.isConnected():
        await asyncio.wait_for(ib.disconnectedEvent, timeout_secs)


async def _filled(ib: IB, trade_until: TradeUntil, symbol: str, ref: str) -> Trade:
    trade = ib.placeOrder(
        await _qualified(ib, symbol), MarketOrder("BUY", 1, account="DU789012", orderRef=ref)
    )
    await trade_until(trade, Trade.isDone)
    assert trade.orderStatus.status == "Filled"
    return trade


async def test_restart_reuses_order_ids_while_perm_ids_and_the_days_records_stay(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil, allowed_ib_errors: list[str]
) -> None:
    allowed_ib_errors.extend(_RESTART_LOGS)
    ib = await connect(client_id=1)
    before = await _filled(ib, trade_until, "SHY", "run-1/a")

    sim.restart(refuse_secs=1.0)
    await _disconnected(ib)
    with pytest.raises(ConnectionRefusedError):
        await IB().connectAsync("127.0.0.1", sim.port, clientId=1, timeout=2)
    await sim.wait_for(lambda: sim.accepting)
    again = await connect(client_id=1)
    after = await _filled(again, trade_until, "SHY", "run-2/a")

    # The same connect sequence from nextValidId 1 hands out the same order id again.
    assert after.order.orderId == before.order.orderId
    assert after.order.permId != before.order.permId
    executions = await again.reqExecutionsAsync()
    assert sorted(
        (f.execution.orderId, f.execution.permId, f.execution.orderRef) for f in executions
    ) == [
        (before.order.orderId, before.order.permId, "run-1/a"),
        (after.order.orderId, after.order.permId, "run-2/a"),
    ]
    completed = await again.reqCompletedOrdersAsync(apiOnly=True)
    assert sorted((t.order.permId, t.order.orderRef) for t in completed) == [
        (before.order.permId, "run-1/a"),
        (after.order.permId, "run-2/a"),
    ]
    assert sim.order(1, after.order.orderId).order_ref == "run-2/a"
    assert sim.order_by_perm_id(before.order.permId).order_ref == "run-1/a"


async def test_restart_keeping_the_id_sequence_hands_out_higher_ids(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil, allowed_ib_errors: list[str]
) -> None:
    allowed_ib_errors.extend(_RESTART_LOGS)
    sim.set_faults(restart_resets_order_ids=False)
    ib = await connect(client_id=1)
    before = await _filled(ib, trade_until, "SHY", "a")

    sim.restart(refuse_secs=0)
    await _disconnected(ib)
    again = await connect(client_id=1)
    after = await _filled(again, trade_until, "SHY", "b")

    assert after.order.orderId > before.order.orderId


async def test_restart_can_forget_completed_orders_and_keep_executions(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil, allowed_ib_errors: list[str]
) -> None:
    allowed_ib_errors.extend(_RESTART_LOGS)
    sim.set_faults(restart_keeps_completed_orders=False)
    ib = await connect(client_id=1)
    before = await _filled(ib, trade_until, "BIL", "kept-in-executions")

    sim.restart(refuse_secs=0)
    await _disconnected(ib)
    again = await connect(client_id=1)

    assert await again.reqCompletedOrdersAsync(apiOnly=True) == []
    assert [(f.execution.permId, f.execution.orderRef) for f in again.fills()] == [
        (before.order.permId, "kept-in-executions")
    ]


async def test_working_order_survives_a_restart_and_new_ids_start_past_it(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil, allowed_ib_errors: list[str]
) -> None:
    allowed_ib_errors.extend(_RESTART_LOGS)
    ib = await connect(client_id=2)
    resting = ib.placeOrder(
        await _qualified(ib, "AGG"), LimitOrder("BUY", 3, 90, account="DU789012", orderRef="r")
    )
    await trade_until(resting, lambda t: t.orderStatus.status == "Submitted")

    sim.restart(refuse_secs=0)
    await _disconnected(ib)
    again = await connect(client_id=2)
    [recovered] = again.openTrades()
    new = await _filled(again, trade_until, "AGG", "n")

    assert (recovered.order.orderId, recovered.order.permId, recovered.order.orderRef) == (
        resting.order.orderId,
        resting.order.permId,
        "r",
    )
    assert new.order.orderId > resting.order.orderId


async def test_restart_faults_fire_after_the_nth_order_and_at_an_instant(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil, allowed_ib_errors: list[str]
) -> None:
    allowed_ib_errors.extend(_RESTART_LOGS)
    sim.set_faults(restart_after_orders=1)
    ib = await connect(client_id=1)
    await _filled(ib, trade_until, "SHY", "x")
    await _disconnected(ib)
    assert [o.order_ref for o in sim.engine.archive] == ["x"]

    again = await connect(client_id=1)
    sim.set_faults(restart_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.1))
    await _disconnected(again)
    third = await connect(client_id=1)
    sim.set_faults(partial_fill_parts=1)  # re-arming the timers does not restart again

    await third.reqCurrentTimeAsync()
    assert third.isConnected()


@pytest.mark.parametrize("race", ["error_first", "fill_first"])
async def test_cancel_that_loses_the_race_gets_10148_and_executions_show_the_fill(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil, race: str
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    trade = ib.placeOrder(
        await _qualified(ib, "EFA"), LimitOrder("BUY", 10, 81.00, account="DU789012")
    )
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")
    sim.set_faults(cancel_races_fill=race)
    cancelled_events: list[str] = []
    trade.cancelledEvent += lambda t: cancelled_events.append(t.orderStatus.status)

    ib.cancelOrder(trade.order)
    await trade_until(trade, lambda t: t.orderStatus.status == "Filled")
    await ib.reqCurrentTimeAsync()  # a round trip: the 10148 has arrived in either order

    statuses = [entry.status for entry in trade.log]
    assert statuses[:3] == ["PendingSubmit", "Submitted", "PendingCancel"]
    assert statuses[-1] == "Filled"
    # The ib_async trap: with the error first, the trade is Cancelled (done, cancelledEvent)
    # before the fill arrives; only executions, not that status, tell the truth.
    assert ("Cancelled" in statuses) == (race == "error_first")
    assert cancelled_events == (["Cancelled"] if race == "error_first" else [])
    [(code, text)] = [(c, t) for r, c, t in errors if r == trade.order.orderId]
    assert code == 10148
    assert text.endswith("cannot be cancelled, state: Filled.")
    [execution] = await ib.reqExecutionsAsync()
    assert (execution.execution.permId, execution.execution.shares) == (trade.order.permId, 10.0)
    assert execution.execution.price == 81.0
    assert sim.orders()[0].status == "Filled"


async def test_error_first_race_with_fill_delay_keeps_trade_cancelled_until_the_fill(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    trade = ib.placeOrder(
        await _qualified(ib, "EFA"), LimitOrder("BUY", 10, 81.00, account="DU789012")
    )
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")
    sim.set_faults(cancel_races_fill="error_first", fill_delay_secs=0.3)

    ib.cancelOrder(trade.order)
    await trade_until(trade, lambda t: t.orderStatus.status == "Cancelled")
    ib.cancelOrder(trade.order)  # a second cancel while the fill is on its way
    await ib.reqCurrentTimeAsync()
    assert trade.orderStatus.status == "Cancelled"  # the trap, visible for the delay
    await trade_until(trade, lambda t: t.orderStatus.status == "Filled")

    assert [c for r, c, _ in errors if r == trade.order.orderId] == [10148, 10148]
    [order] = sim.orders()
    assert (order.status, order.filled, len(order.fills)) == ("Filled", Decimal(10), 1)


@pytest.mark.parametrize(("scope", "refused"), [("gateway", 1), ("client", 0)])
async def test_pacing_scope_gateway_counts_messages_of_every_client_together(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, scope: str, refused: int
) -> None:
    first, second = await connect(client_id=1), await connect(client_id=2)
    seen = [ib_errors(first), ib_errors(second)]
    sim.set_faults(pacing_limit_per_sec=3, pacing_scope=scope)

    results = await asyncio.gather(
        first.reqContractDetailsAsync(Stock("SPY", "SMART", "USD")),
        second.reqContractDetailsAsync(Stock("QQQ", "SMART", "USD")),
        first.reqContractDetailsAsync(Stock("IWM", "SMART", "USD")),
        second.reqContractDetailsAsync(Stock("EFA", "SMART", "USD")),
    )

    assert sum(1 for r in results if not r) == refused
    assert sorted(code for errors in seen for _, code, _ in errors) == [100] * refused
