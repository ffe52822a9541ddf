"""IB orders and executions merged into ``OrderRecord``s by perm id (pure, no gateway)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from broker_connector_base import OrderStatus
from ib_async import (
    CommissionReport,
    Execution,
    Fill,
    Order,
    Stock,
    Trade,
    TradeLogEntry,
)
from ib_async import OrderStatus as IBOrderStatus
from ibkr_connector._records import cancel_refused, order_records, trade_status

ACCOUNT = "DU1"
REF = "run-1"
T0 = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def _trade(
    order_id: int,
    perm_id: int,
    action: str = "BUY",
    quantity: float = 10,
    status: str = "Submitted",
    *,
    ref: str = REF,
    account: str = ACCOUNT,
    filled: float = 0,
    avg: float = 0,
    log: tuple[tuple[str, int], ...] = (),
) -> Trade:
    order = Order(
        orderId=order_id,
        permId=perm_id,
        action=action,
        totalQuantity=quantity,
        orderType="MKT",
        account=account,
        orderRef=ref,
    )
    state = IBOrderStatus(
        orderId=order_id, status=status, filled=filled, avgFillPrice=avg, permId=perm_id
    )
    entries = [TradeLogEntry(T0, s, "", code) for s, code in log]
    return Trade(Stock("SPY", "SMART", "USD"), order, state, [], entries)


def _fill(
    perm_id: int,
    shares: float,
    price: float,
    *,
    side: str = "BOT",
    exec_id: str | None = None,
    order_id: int = 0,
    ref: str = REF,
    account: str = ACCOUNT,
) -> Fill:
    execution = Execution(
        execId=exec_id or f"{perm_id}.{shares}.{price}",
        time=T0,
        acctNumber=account,
        side=side,
        shares=shares,
        price=price,
        permId=perm_id,
        orderId=order_id,
        orderRef=ref,
    )
    return Fill(Stock("SPY", "SMART", "USD"), execution, CommissionReport(), T0)


def test_working_order_without_fills_is_working_with_nothing_filled() -> None:
    [record] = order_records(ACCOUNT, REF, [_trade(5, 900)], [])

    assert (record.order_id, record.perm_id) == ("5", "900")
    assert record.status is OrderStatus.WORKING
    assert (record.quantity, record.filled_quantity, record.avg_fill_price) == (10, 0, None)


def test_cancel_refused_then_executions_show_full_fill_is_filled() -> None:
    # The 10148 trap: ib_async went Cancelled on the error before the fill report arrived.
    trade = _trade(5, 900, status="Cancelled", log=(("Submitted", 0), ("Cancelled", 10148)))

    [record] = order_records(ACCOUNT, REF, [trade], [_fill(900, 10, 101.5)])

    assert cancel_refused(trade)
    assert record.status is OrderStatus.FILLED
    assert (record.filled_quantity, record.avg_fill_price) == (10, Decimal("101.5"))


def test_cancel_refused_without_executions_yet_is_still_working() -> None:
    trade = _trade(5, 900, status="Cancelled", log=(("Cancelled", 10148),))

    assert trade_status(trade) is OrderStatus.WORKING
    [record] = order_records(ACCOUNT, REF, [trade], [])
    assert record.status is OrderStatus.WORKING


def test_real_cancel_followed_by_refused_second_cancel_stays_cancelled() -> None:
    trade = _trade(5, 900, status="Cancelled", log=(("Cancelled", 202), ("Cancelled", 161)))

    assert not cancel_refused(trade)
    assert trade_status(trade) is OrderStatus.CANCELLED


def test_partial_fill_then_cancel_reports_fills_weighted_by_shares() -> None:
    trade = _trade(5, 900, "SELL", 10, "Cancelled", log=(("Cancelled", 202),))
    fills = [_fill(900, 3, 100.0, side="SLD"), _fill(900, 1, 104.0, side="SLD")]

    [record] = order_records(ACCOUNT, REF, [trade], fills)

    assert record.status is OrderStatus.CANCELLED
    assert (record.quantity, record.filled_quantity) == (-10, -4)
    assert record.avg_fill_price == Decimal("101")


def test_same_execution_twice_counts_once() -> None:
    fill = _fill(900, 4, 100.0, exec_id="e1")

    [record] = order_records(ACCOUNT, REF, [_trade(5, 900)], [fill, fill])

    assert record.filled_quantity == 4


def test_completed_order_without_order_id_takes_it_from_the_local_trade() -> None:
    local = _trade(5, 900)
    completed = _trade(0, 900, status="Filled")

    [record] = order_records(ACCOUNT, REF, [local, completed], [])

    assert record.order_id == "5"
    assert record.status is OrderStatus.FILLED
    # A completed order carries neither fills nor a price: IB says it all filled.
    assert record.filled_quantity == 10


def test_executions_only_give_unknown_quantity_and_signed_fill() -> None:
    fills = [_fill(900, 6, 50.0, side="SLD", order_id=3)]

    [record] = order_records(ACCOUNT, REF, [], fills)

    assert record.quantity is None
    assert (record.order_id, record.perm_id) == ("3", "900")
    assert record.status is OrderStatus.FILLED
    assert (record.filled_quantity, record.avg_fill_price) == (-6, Decimal("50.0"))


def test_reused_order_id_stays_two_orders_told_apart_by_perm_id() -> None:
    before_restart = _trade(1, 900, status="Filled", filled=10, avg=100)
    after_restart = _trade(1, 901, "SELL", 4)

    records = order_records(ACCOUNT, REF, [before_restart, after_restart], [])

    assert [(r.order_id, r.perm_id, r.quantity) for r in records] == [
        ("1", "900", 10),
        ("1", "901", -4),
    ]


@pytest.mark.parametrize(
    ("ref", "account"), [("run-2", ACCOUNT), ("run-", ACCOUNT), (REF, "DU2")], ids=str
)
def test_other_ref_or_account_is_left_out(ref: str, account: str) -> None:
    trades = [_trade(5, 900, ref=ref, account=account)]
    fills = [_fill(901, 1, 10.0, ref=ref, account=account)]

    assert order_records(ACCOUNT, REF, trades, fills) == []
