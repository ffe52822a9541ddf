"""Orders through real ib_async: fills, resting limits, cancels, rejects, money and ids."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, Trade
from ib_gateway_sim import GatewaySimulator
from ib_gateway_sim.wire import frame

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]
TradeUntil = Callable[..., Awaitable[None]]


async def _qualified(ib: IB, symbol: str) -> Stock:
    contract = Stock(symbol, "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    assert contract.conId
    return contract


async def test_market_buy_fills_at_ask_with_fill_commission_and_new_position(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect(account="DUM959247")
    spy = await _qualified(ib, "SPY")

    trade = ib.placeOrder(spy, MarketOrder("BUY", 10))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    assert trade.filled() == 10
    assert [(f.execution.shares, f.execution.price) for f in trade.fills] == [(10.0, 589.12)]
    assert trade.fills[0].commissionReport.commission == 1.0
    assert trade.fills[0].contract is trade.contract
    statuses = [entry.status for entry in trade.log]
    # execDetails arrives before orderStatus Filled, so the fill is logged while Submitted.
    assert statuses == ["PendingSubmit", "Submitted", "Submitted", "Filled"]
    held = {p.contract.symbol: p.position for p in ib.positions("DUM959247")}
    assert held["SPY"] == 60.0
    portfolio = {i.contract.symbol: i.position for i in ib.portfolio("DUM959247")}
    assert portfolio["SPY"] == 60.0
    expected_cash = Decimal("100000") - 10 * Decimal("589.12") - Decimal("1.00")
    assert sim.cash("DUM959247") == expected_cash
    cash_value = next(
        v.value
        for v in ib.accountValues("DUM959247")
        if v.tag == "TotalCashValue" and v.currency == "USD" and v.modelCode == ""
    )
    assert Decimal(cash_value) == expected_cash


async def test_market_sell_fills_at_bid_and_realizes_pnl(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    tlt = await _qualified(ib, "TLT")

    trade = ib.placeOrder(tlt, MarketOrder("SELL", 100, account="DUM959247"))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    assert trade.orderStatus.avgFillPrice == 92.87
    assert "TLT" not in sim.positions("DUM959247")
    assert all(p.contract.symbol != "TLT" for p in ib.positions("DUM959247"))
    proceeds = 100 * Decimal("92.87") - Decimal("1.00")
    assert sim.cash("DUM959247") == Decimal("100000") + proceeds
    fill = sim.orders()[0].fills[0]
    assert fill.realized_pnl == proceeds - 100 * Decimal("91.40")


async def test_marketable_limit_fills_at_the_quote_not_the_limit(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    qqq = await _qualified(ib, "QQQ")

    trade = ib.placeOrder(qqq, LimitOrder("BUY", 2, 520, account="DU789012"))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    assert trade.orderStatus.avgFillPrice == 509.48
    assert sim.orders()[0].limit_price == Decimal("520")


async def test_resting_limit_waits_then_fills_when_price_crosses(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    iwm = await _qualified(ib, "IWM")

    trade = ib.placeOrder(iwm, LimitOrder("BUY", 5, 227.00, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")
    assert trade in ib.openTrades()
    assert sim.orders()[0].status == "Submitted"

    sim.set_price("IWM", bid="226.98", ask="227.00", last="226.99")
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    assert trade.orderStatus.avgFillPrice == 227.0
    assert sim.positions("DU789012") == {"IWM": Decimal(5)}


async def test_cancel_resting_order_gives_202_and_cancelled(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    gld = await _qualified(ib, "GLD")
    trade = ib.placeOrder(gld, LimitOrder("BUY", 1, 200, account="DUM959247"))
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")

    ib.cancelOrder(trade.order)
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Cancelled"
    assert (trade.order.orderId, 202) in [(r, c) for r, c, _ in errors]
    assert sim.orders()[0].status == "Cancelled"
    assert sim.cash("DUM959247") == Decimal("100000.00")


async def test_global_cancel_cancels_working_orders_of_every_client(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    first = await connect(client_id=1)
    second = await connect(client_id=2)
    spy = await _qualified(first, "SPY")
    trades = [
        first.placeOrder(spy, LimitOrder("BUY", 1, 500, account="DUM959247")),
        second.placeOrder(spy, LimitOrder("BUY", 1, 501, account="DU789012")),
    ]
    for trade in trades:
        await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")

    first.reqGlobalCancel()  # type: ignore[no-untyped-call]
    for trade in trades:
        await trade_until(trade, Trade.isDone)

    assert [t.orderStatus.status for t in trades] == ["Cancelled", "Cancelled"]
    assert {o.status for o in sim.orders()} == {"Cancelled"}


async def test_buy_beyond_cash_in_cash_account_is_rejected_with_201(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    spy = await _qualified(ib, "SPY")

    trade = ib.placeOrder(spy, MarketOrder("BUY", 100, account="DU789012"))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Cancelled"
    assert [c for r, c, _ in errors if r == trade.order.orderId] == [201]
    assert sim.cash("DU789012") == Decimal("50000.00")
    assert sim.positions("DU789012") == {}


async def test_working_buys_reserve_cash_for_later_orders(
    connect: Connect, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    spy = await _qualified(ib, "SPY")
    resting = ib.placeOrder(spy, LimitOrder("BUY", 80, 580, account="DU789012"))
    await trade_until(resting, lambda t: t.orderStatus.status == "Submitted")

    second = ib.placeOrder(spy, LimitOrder("BUY", 10, 580, account="DU789012"))
    await trade_until(second, Trade.isDone)

    assert second.orderStatus.status == "Cancelled"
    assert [c for r, c, _ in errors if r == second.order.orderId] == [201]


async def test_selling_more_than_held_is_rejected_with_201(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    gld = await _qualified(ib, "GLD")

    trade = ib.placeOrder(gld, MarketOrder("SELL", 21, account="DUM959247"))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Cancelled"
    assert [c for r, c, _ in errors if r == trade.order.orderId] == [201]
    assert sim.positions("DUM959247")["GLD"] == Decimal(20)


async def test_order_ids_and_perm_ids_are_unique_and_order_ref_round_trips(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    shy = await _qualified(ib, "SHY")
    trades = []
    for i in range(5):
        order = MarketOrder("BUY", 1, account="DU789012", orderRef=f"run-42-{i}")
        trades.append(ib.placeOrder(shy, order))
    for trade in trades:
        await trade_until(trade, Trade.isDone)

    perm_ids = [t.order.permId for t in trades]
    assert len(set(perm_ids)) == 5
    assert all(perm_ids)
    assert len({t.order.orderId for t in trades}) == 5
    assert [o.order_ref for o in sim.orders()] == [f"run-42-{i}" for i in range(5)]
    execs = await ib.reqExecutionsAsync()
    assert sorted(f.execution.orderRef for f in execs) == [f"run-42-{i}" for i in range(5)]
    assert len({f.execution.execId for f in execs}) == 5


async def test_modify_resting_limit_to_marketable_price_fills(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    efa = await _qualified(ib, "EFA")
    order = LimitOrder("BUY", 10, 80.00, account="DU789012")
    trade = ib.placeOrder(efa, order)
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")

    order.lmtPrice = 81.60
    ib.placeOrder(efa, order)
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    assert len(sim.orders()) == 1
    assert sim.orders()[0].limit_price == Decimal("81.6")


async def test_reconnect_recovers_open_orders_completed_orders_and_executions(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect(client_id=3)
    vnq = await _qualified(ib, "VNQ")
    filled = ib.placeOrder(vnq, MarketOrder("BUY", 4, account="DU789012", orderRef="r1"))
    resting = ib.placeOrder(vnq, LimitOrder("BUY", 4, 80, account="DU789012", orderRef="r2"))
    await trade_until(filled, Trade.isDone)
    await trade_until(resting, lambda t: t.orderStatus.status == "Submitted")
    ib.disconnect()
    await sim.wait_for_clients(0)

    again = await connect(client_id=3)

    open_trades = again.openTrades()
    assert [(t.order.orderId, t.order.orderRef) for t in open_trades] == [
        (resting.order.orderId, "r2")
    ]
    assert open_trades[0].order.permId == resting.order.permId
    assert [f.execution.permId for f in again.fills()] == [filled.order.permId]
    completed = await again.reqCompletedOrdersAsync(apiOnly=True)
    assert [(t.order.permId, t.orderStatus.status) for t in completed] == [
        (filled.order.permId, "Filled")
    ]
    assert completed[0].order.orderRef == "r1"
    new_trade = again.placeOrder(vnq, MarketOrder("BUY", 1, account="DU789012"))
    await trade_until(new_trade, Trade.isDone)
    assert new_trade.order.orderId > resting.order.orderId


async def test_unknown_contract_order_is_refused_with_200(
    connect: Connect, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    ib = await connect()
    errors = ib_errors(ib)

    trade = ib.placeOrder(Stock("NOPE", "SMART", "USD"), MarketOrder("BUY", 1))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Cancelled"
    assert [c for r, c, _ in errors if r == trade.order.orderId] == [200]


async def test_filled_status_before_exec_option_still_attaches_the_fill(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.engine.fill_spec = sim.engine.fill_spec.model_copy(
        update={"filled_status_before_exec": True}
    )
    ib = await connect()
    shy = await _qualified(ib, "SHY")
    status_at_fill: list[str] = []
    trade = ib.placeOrder(shy, MarketOrder("BUY", 2, account="DU789012"))
    trade.fillEvent += lambda t, _fill: status_at_fill.append(t.orderStatus.status)

    await trade_until(trade, Trade.isDone)
    await ib.reqCurrentTimeAsync()  # a round trip: the whole fill sequence has arrived

    assert status_at_fill == ["Filled"]  # the default order would show "Submitted" here
    assert [f.execution.shares for f in trade.fills] == [2.0]


async def test_cancel_of_filled_order_answers_10148_and_keeps_it_filled(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    shy = await _qualified(ib, "SHY")
    trade = ib.placeOrder(shy, MarketOrder("BUY", 1, account="DU789012"))
    await trade_until(trade, Trade.isDone)

    ib.client.cancelOrder(trade.order.orderId)  # type: ignore[no-untyped-call]
    await sim.wait_for(lambda: True)
    await ib.reqCurrentTimeAsync()  # a round trip: the error has been delivered by now

    assert [c for r, c, _ in errors if r == trade.order.orderId] == [10148]
    assert trade.orderStatus.status == "Filled"
    assert sim.orders()[0].status == "Filled"


async def test_delayed_fill_is_not_pre_empted_by_a_price_change(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.set_faults(fill_delay_secs=0.3)
    ib = await connect()
    spy = await _qualified(ib, "SPY")
    trade = ib.placeOrder(spy, MarketOrder("BUY", 1, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")

    sim.set_price("SPY", ask="589.20")
    assert sim.orders()[0].status == "Submitted"
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.avgFillPrice == 589.2


async def test_malformed_message_is_logged_by_the_ib_async_decoder(
    connect: Connect,
    sim: GatewaySimulator,
    allowed_ib_errors: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The autouse guard relies on this: a message with a wrong field count is logged at ERROR.
    allowed_ib_errors.append("Error handling fields")
    ib = await connect()
    [session] = list(sim.sessions)

    session.send(frame([1, 6, 99, 1, "1.0", "100"]))  # tickPrice needs 7 fields
    await ib.reqCurrentTimeAsync()

    assert any(r.name == "ib_async.Decoder" and r.levelno == logging.ERROR for r in caplog.records)


async def test_all_open_orders_lists_other_clients_working_orders(
    connect: Connect, trade_until: TradeUntil
) -> None:
    placer = await connect(client_id=1)
    observer = await connect(client_id=2)
    agg = await _qualified(placer, "AGG")
    trade = placer.placeOrder(agg, LimitOrder("BUY", 3, 90, account="DU789012", orderRef="x"))
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")

    own = await observer.reqOpenOrdersAsync()
    everyone = await observer.reqAllOpenOrdersAsync()

    assert own == []
    assert [(t.order.permId, t.order.orderRef, t.order.clientId) for t in everyone] == [
        (trade.order.permId, "x", 1)
    ]
