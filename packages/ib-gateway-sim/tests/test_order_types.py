"""MIDPRICE, the Adaptive algo and limit modification through real ib_async."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Order, Stock, TagValue, Trade
from ib_gateway_sim import GatewaySimulator

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]
TradeUntil = Callable[..., Awaitable[None]]


async def _qualified(ib: IB, symbol: str) -> Stock:
    contract = Stock(symbol, "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    assert contract.conId
    return contract


def _midprice(action: str, quantity: int, cap: float | None = None, **kwargs: Any) -> Order:
    order = Order(action=action, totalQuantity=quantity, orderType="MIDPRICE", **kwargs)
    if cap is not None:
        order.lmtPrice = cap
    return order


def _adaptive(order: Order, priority: str) -> Order:
    order.algoStrategy = "Adaptive"
    order.algoParams = [TagValue("adaptivePriority", priority)]
    return order


def _fill_price(sim: GatewaySimulator) -> Decimal:
    [order] = sim.orders()
    [fill] = order.fills
    return fill.price


@pytest.mark.parametrize(
    ("rounding", "action", "price"),
    [
        ("exact", "BUY", "92.875"),
        ("exact", "SELL", "92.875"),
        ("favour", "BUY", "92.87"),
        ("favour", "SELL", "92.88"),
        ("against", "BUY", "92.88"),
        ("against", "SELL", "92.87"),
    ],
)
async def test_midprice_fills_at_the_midpoint_by_the_rounding_rule(
    connect: Connect,
    sim: GatewaySimulator,
    trade_until: TradeUntil,
    rounding: str,
    action: str,
    price: str,
) -> None:
    sim.set_fills(midprice_rounding=rounding)
    ib = await connect()
    tlt = await _qualified(ib, "TLT")  # 92.87 / 92.88: the midpoint is half a tick

    trade = ib.placeOrder(tlt, _midprice(action, 10, account="DUM959247"))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    assert _fill_price(sim) == Decimal(price)
    assert Decimal(str(trade.fills[0].execution.price)) == Decimal(price)
    assert trade.fills[0].commissionReport.commission == 1.0
    assert trade.fills[0].commissionReport.execId == trade.fills[0].execution.execId


async def test_midprice_with_cap_below_the_midpoint_rests_until_the_midpoint_falls(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    spy = await _qualified(ib, "SPY")  # mid 589.11

    trade = ib.placeOrder(spy, _midprice("BUY", 3, cap=589.00, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")
    assert sim.orders()[0].filled == 0

    sim.set_price("SPY", bid="588.96", ask="589.00")
    await trade_until(trade, Trade.isDone)

    assert _fill_price(sim) == Decimal("588.98")
    assert sim.positions("DU789012") == {"SPY": Decimal(3)}


@pytest.mark.parametrize(
    ("priority", "buy", "sell"),
    [
        ("Urgent", "509.48", "245.80"),
        ("Normal", "509.47", "245.81"),
        ("Patient", "509.46", "245.82"),
    ],
)
async def test_adaptive_market_order_fills_inside_the_spread_by_priority(
    connect: Connect,
    sim: GatewaySimulator,
    trade_until: TradeUntil,
    priority: str,
    buy: str,
    sell: str,
) -> None:
    ib = await connect()
    qqq, gld = await _qualified(ib, "QQQ"), await _qualified(ib, "GLD")  # both 3-tick spreads

    bought = ib.placeOrder(qqq, _adaptive(MarketOrder("BUY", 2, account="DUM959247"), priority))
    sold = ib.placeOrder(gld, _adaptive(MarketOrder("SELL", 5, account="DUM959247"), priority))
    await trade_until(bought, Trade.isDone)
    await trade_until(sold, Trade.isDone)

    assert [o.fills[0].price for o in sim.orders()] == [Decimal(buy), Decimal(sell)]
    assert [t.fills[0].commissionReport.commission for t in (bought, sold)] == [1.0, 1.0]
    assert sim.orders()[0].algo_params == (("adaptivePriority", priority),)


async def test_adaptive_patient_acknowledges_then_fills_after_its_delay(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.set_fills(adaptive_patient_delay_secs=0.3)
    ib = await connect()
    qqq = await _qualified(ib, "QQQ")

    started = time.monotonic()
    trade = ib.placeOrder(qqq, _adaptive(MarketOrder("BUY", 1, account="DU789012"), "Patient"))
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")
    assert not trade.fills
    await trade_until(trade, Trade.isDone)

    assert time.monotonic() - started >= 0.25
    assert trade.orderStatus.avgFillPrice == 509.46


async def test_adaptive_limit_rests_while_its_algo_price_is_beyond_the_limit(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    qqq = await _qualified(ib, "QQQ")

    limit = LimitOrder("BUY", 1, 509.46, account="DU789012")
    trade = ib.placeOrder(qqq, _adaptive(limit, "Normal"))  # Normal would pay 509.47
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")
    assert sim.orders()[0].filled == 0

    sim.set_price("QQQ", bid="509.44", ask="509.47")  # Normal now pays 509.46
    await trade_until(trade, Trade.isDone)

    assert _fill_price(sim) == Decimal("509.46")


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (_adaptive(MarketOrder("BUY", 1), "Fast"), "Invalid value 'Fast' for adaptivePriority"),
        (_adaptive(_midprice("BUY", 1), "Normal"), "takes MKT and LMT orders, not MIDPRICE"),
        (
            Order(action="BUY", totalQuantity=1, orderType="MKT", algoStrategy="Vwap"),
            "Algo strategy Vwap is not supported",
        ),
    ],
)
async def test_invalid_algo_orders_are_rejected_with_201_naming_the_reason(
    connect: Connect,
    sim: GatewaySimulator,
    ib_errors: Errors,
    trade_until: TradeUntil,
    order: Order,
    reason: str,
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    spy = await _qualified(ib, "SPY")

    trade = ib.placeOrder(spy, order)
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Cancelled"
    [(code, text)] = [(c, t) for r, c, t in errors if r == trade.order.orderId]
    assert code == 201
    assert reason in text
    assert sim.orders() == []


async def test_algo_parameters_are_echoed_in_open_and_completed_orders(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    placer = await connect(client_id=1)
    observer = await connect(client_id=2)
    qqq = await _qualified(placer, "QQQ")
    resting = placer.placeOrder(
        qqq, _adaptive(LimitOrder("BUY", 1, 500, account="DU789012", orderRef="a-1"), "Patient")
    )
    await trade_until(resting, lambda t: t.orderStatus.status == "Submitted")

    [seen] = await observer.reqAllOpenOrdersAsync()
    placer.cancelOrder(resting.order)
    await trade_until(resting, Trade.isDone)
    completed = await observer.reqCompletedOrdersAsync(apiOnly=True)

    assert (seen.order.algoStrategy, seen.order.algoParams) == (
        "Adaptive",
        [TagValue("adaptivePriority", "Patient")],
    )
    assert seen.order.orderRef == "a-1"
    [done] = completed
    assert (done.order.algoStrategy, done.order.algoParams, done.orderStatus.status) == (
        "Adaptive",
        [TagValue("adaptivePriority", "Patient")],
        "Cancelled",
    )


async def test_algo_is_read_after_optional_blocks_and_what_if_found_behind_it(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    # Scale and delta-neutral fields add conditional blocks before algoStrategy; the parser
    # must walk them as ib_async writes them to find the algo and the whatIf flag after it.
    ib = await connect()
    errors = ib_errors(ib)
    spy = await _qualified(ib, "SPY")
    order = _adaptive(MarketOrder("BUY", 1, account="DU789012"), "Urgent")
    order.scalePriceIncrement = 0.05
    order.deltaNeutralOrderType = "MKT"

    trade = ib.placeOrder(spy, order)
    await trade_until(trade, Trade.isDone)
    state = await ib.whatIfOrderAsync(spy, _adaptive(MarketOrder("BUY", 1), "Urgent"))

    assert trade.orderStatus.status == "Filled"
    assert sim.orders()[0].algo_params == (("adaptivePriority", "Urgent"),)
    assert not state  # ib_async ends the refused request with an empty result
    assert any(c == 201 and "whatIf" in t for _, c, t in errors)
    assert len(sim.orders()) == 1


async def test_modifying_a_resting_limit_reprices_it_and_only_the_new_limit_fills(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    efa = await _qualified(ib, "EFA")
    order = LimitOrder("BUY", 100, 80.00, account="DU789012")
    trade = ib.placeOrder(efa, order)
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")
    reserved_before = sim.engine.reserved_cash("DU789012")

    order.lmtPrice = 79.00
    ib.placeOrder(efa, order)
    await trade_until(trade, lambda t: t.log[-1].message == "Modified")
    sim.set_price("EFA", bid="79.49", ask="79.50")  # would have filled the old 80.00 limit
    await ib.reqCurrentTimeAsync()  # a round trip: no fill message is on its way

    assert sim.orders()[0].limit_price == Decimal("79.0")
    assert trade.order.lmtPrice == 79.0
    assert trade.orderStatus.status == "Submitted"
    assert reserved_before - sim.engine.reserved_cash("DU789012") == Decimal("100")
    sim.set_price("EFA", bid="78.99", ask="79.00")
    await trade_until(trade, Trade.isDone)
    assert _fill_price(sim) == Decimal("79.00")
    assert len(sim.orders()) == 1


async def test_order_warning_fault_shows_validation_error_and_the_order_still_fills(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    sim.set_faults(order_warning_code=2109)
    ib = await connect()
    errors = ib_errors(ib)
    iwm = await _qualified(ib, "IWM")

    trade = ib.placeOrder(iwm, LimitOrder("BUY", 2, 228.00, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.status == "ValidationError")
    assert trade.isActive()
    sim.set_price("IWM", bid="227.99", ask="228.00")
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    [(code, text)] = [(c, t) for r, c, t in errors if r == trade.order.orderId]
    assert code == 2109
    assert "Outside Regular Trading Hours" in text
