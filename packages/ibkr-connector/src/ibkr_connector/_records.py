"""IB orders and executions merged into the base ``OrderRecord``s (pure, no gateway calls).

What ``IBKRClient.get_orders_by_ref`` answers: the open orders, the completed orders and the
executions IB lists for one ``orderRef``, one record per ``permId``. Order ids are not keys: a
gateway restart may hand the same order id to another order the same day, ``permId`` never.

The executions are the truth about fills. An order whose cancel lost the race against its fill
shows ``Cancelled`` in ib_async (error 10148 arrived before the fill) although it filled; a
completed order carries no average price; after a restart IB may list the day's executions
but not the completed order itself (``OrderRecord.quantity`` is then ``None``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from broker_connector_base import OrderRecord, OrderStatus
from ib_async import Fill, TradeLogEntry
from ib_async import Trade as IBTrade

from ibkr_connector.translation import CANCEL_REFUSED_CODES, ib_price, order_status

__all__ = ["cancel_refused", "order_records", "trade_codes", "trade_filled", "trade_status"]


def trade_codes(trade: IBTrade) -> list[int]:
    """The error and warning codes ib_async logged on ``trade``, oldest first."""
    return [entry.errorCode for entry in trade.log if entry.errorCode]


def cancel_refused(trade: IBTrade) -> bool:
    """Whether ib_async shows ``Cancelled`` only because of an error about a cancel.

    ib_async marks a trade ``Cancelled`` on any order error: also on IB's answer that the
    order can no longer be cancelled because it filled (161, 10148; the fill report may
    follow) and on a pacing error (100) for a cancel IB never saw, while the order works on.
    What counts is the entry that last moved the trade into ``Cancelled``: a trade IB itself
    cancelled got there through error 202 or an order status.
    """
    if trade.orderStatus.status != "Cancelled":
        return False
    into: TradeLogEntry | None = None
    previous = ""
    for entry in trade.log:
        if entry.status == "Cancelled" and previous != "Cancelled":
            into = entry
        previous = entry.status
    if into is None:
        return False
    if into.errorCode in CANCEL_REFUSED_CODES:
        return True
    return into.errorCode == 100 and bool(trade.order.permId)


def trade_filled(trade: IBTrade) -> float:
    """Shares of ``trade`` filled: its status or its executions, whichever shows more."""
    by_executions = sum(float(f.execution.shares) for f in trade.fills)
    return max(_known(trade.orderStatus.filled), by_executions)


def trade_status(trade: IBTrade) -> OrderStatus:
    """The normalised status of an ib_async trade (see ``translation.order_status``)."""
    return order_status(
        trade.orderStatus.status,
        trade_codes(trade),
        filled=trade_filled(trade),
        total=_known(trade.order.totalQuantity),
        cancel_refused=cancel_refused(trade),
    )


@dataclass
class _Executions:
    shares: Decimal = Decimal(0)
    value: Decimal = Decimal(0)
    seen: set[str] = field(default_factory=set)

    def add(self, fill: Fill) -> None:
        execution = fill.execution
        if execution.execId in self.seen:
            return  # ib_async may hand the same execution from a live push and a request
        price = ib_price(execution.price)
        if price is None:
            return
        self.seen.add(execution.execId)
        shares = Decimal(repr(float(execution.shares)))
        self.shares += shares
        self.value += shares * price

    @property
    def avg_price(self) -> Decimal | None:
        return self.value / self.shares if self.shares else None


def _signed(action: str, shares: float | Decimal) -> int:
    value = round(shares)
    return -value if action in ("SELL", "SLD") else value


def _known(value: float | Decimal) -> float:
    """An ib_async quantity, with its "unset" marker (a huge float) as 0."""
    number = float(value)
    return number if 0 <= number < 1e300 else 0.0


def _from_trade(trade: IBTrade, done: _Executions | None, order_id: int | None) -> OrderRecord:
    order = trade.order
    total = _known(order.totalQuantity)
    status_filled = max(_known(trade.orderStatus.filled), _known(order.filledQuantity))
    filled = float(done.shares) if done is not None and done.shares else status_filled
    avg = done.avg_price if done is not None else None
    if avg is None and filled:
        avg = ib_price(trade.orderStatus.avgFillPrice) or ib_price(trade.orderStatus.lastFillPrice)
    status = order_status(
        trade.orderStatus.status,
        trade_codes(trade),
        filled=filled,
        total=total,
        cancel_refused=cancel_refused(trade),
    )
    if status is OrderStatus.FILLED and not filled:
        filled = total  # a completed order without executions: IB says all of it filled
    return OrderRecord(
        order_id=str(order_id) if order_id else None,
        perm_id=str(order.permId),
        account_id=order.account or None,
        symbol=trade.contract.symbol,
        quantity=_signed(order.action, total),
        status=status,
        filled_quantity=_signed(order.action, filled),
        avg_fill_price=avg if filled else None,
        order_ref=order.orderRef or None,
    )


def _from_fills(fills: Sequence[Fill], done: _Executions) -> OrderRecord:
    execution = fills[0].execution
    return OrderRecord(
        order_id=str(execution.orderId) if execution.orderId else None,
        perm_id=str(execution.permId),
        account_id=execution.acctNumber or None,
        symbol=fills[0].contract.symbol,
        quantity=None,
        status=OrderStatus.FILLED,
        filled_quantity=_signed(execution.side, done.shares),
        avg_fill_price=done.avg_price,
        order_ref=execution.orderRef or None,
    )


def order_records(
    account_id: str, order_ref: str, trades: Iterable[IBTrade], fills: Iterable[Fill]
) -> list[OrderRecord]:
    """One record per ``permId`` of ``account_id``'s orders and executions tagged ``order_ref``.

    Args:
        account_id: The account.
        order_ref: The exact ``orderRef``.
        trades: The connection's own trades, then the open orders, then the completed orders
            (later entries for the same ``permId`` win: the gateway's answer over the local
            state, a completed order over an open one).
        fills: Executions (``reqExecutions``).

    Returns:
        The records in ``permId`` order (IB assigns them increasing).
    """
    by_perm: dict[int, IBTrade] = {}
    # IB's completed orders carry no order id (0): it comes from another source.
    order_ids: dict[int, int] = {}
    for trade in trades:
        order = trade.order
        if order.orderRef == order_ref and order.account == account_id and order.permId:
            by_perm[order.permId] = trade
            if order.orderId:
                order_ids.setdefault(order.permId, order.orderId)
    executions: dict[int, _Executions] = {}
    fills_by_perm: dict[int, list[Fill]] = {}
    for fill in fills:
        execution = fill.execution
        if execution.orderRef != order_ref or execution.acctNumber != account_id:
            continue
        executions.setdefault(execution.permId, _Executions()).add(fill)
        fills_by_perm.setdefault(execution.permId, []).append(fill)
        if execution.orderId:
            order_ids.setdefault(execution.permId, execution.orderId)
    records = []
    for perm_id in sorted(set(by_perm) | set(executions)):
        known = by_perm.get(perm_id)
        done = executions.get(perm_id)
        if known is not None:
            records.append(_from_trade(known, done, order_ids.get(perm_id)))
        elif done is not None and done.shares:
            records.append(_from_fills(fills_by_perm[perm_id], done))
    return records
