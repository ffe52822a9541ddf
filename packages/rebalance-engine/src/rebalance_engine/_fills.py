"""Pure helpers of an execution: one trade's orders merged, an order's execution record, the
buys the cash pays for, the trades not completed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from broker_connector_base import AccountSnapshot, OrderFill, OrderStatus, Trade
from broker_connector_base.execution import BPS, OrderExecution, slippage_bps

from rebalance_engine.quotes import TimedQuote

__all__ = ["affordable", "execution_of", "incomplete", "merged"]


def merged(trade: Trade, orders: Sequence[Trade]) -> Trade:
    """``trade`` with what all its ``orders`` (first, re-priced, at market) filled together.

    ``FILLED`` only when they filled all of it; otherwise the last order's status. The
    order id is the last order's (the one a report points at).
    """
    if not orders:
        return trade.model_copy(update={"status": OrderStatus.REJECTED, "filled_quantity": 0})
    filled = sum((o.filled_quantity or 0 for o in orders), 0)
    value = sum(
        (abs(o.filled_quantity or 0) * (o.avg_fill_price or Decimal(0)) for o in orders),
        Decimal(0),
    )
    last = orders[-1]
    return trade.model_copy(
        update={
            "order_id": last.order_id,
            "perm_id": last.perm_id,
            "order_type": last.order_type,
            "limit_price": last.limit_price,
            "status": OrderStatus.FILLED if filled == trade.quantity else last.status,
            "filled_quantity": filled,
            "avg_fill_price": value / abs(filled) if filled else None,
        }
    )


def execution_of(
    order: Trade,
    decided: TimedQuote | None,
    arrival: TimedQuote | None,
    sent_at: datetime,
    fill: OrderFill | None,
    elapsed_secs: float,
) -> OrderExecution:
    """The execution record of one order, as its wait (if any) left it."""
    mid = arrival.mid if arrival is not None else None
    spread = None
    if arrival is not None and mid and arrival.price.bid and arrival.price.ask:
        spread = ((arrival.price.ask - arrival.price.bid) / mid * 10_000).quantize(BPS)
    avg = order.avg_fill_price if order.filled_quantity else None
    complete = order.status is OrderStatus.FILLED and order.filled_quantity == order.quantity
    return OrderExecution(
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.action,
        quantity=order.quantity,
        order_type=order.order_type,
        limit_price=order.limit_price,
        status=order.status or OrderStatus.ERROR,
        filled_quantity=order.filled_quantity or 0,
        decision_price=decided.mid if decided is not None else None,
        arrival_bid=arrival.price.bid if arrival is not None else None,
        arrival_ask=arrival.price.ask if arrival is not None else None,
        arrival_mid=mid,
        arrival_source=arrival.source if arrival is not None else None,
        spread_bps=spread,
        avg_fill_price=avg,
        slippage_bps=slippage_bps(order.action, avg, mid) if avg and mid else None,
        commission=fill.commission if fill is not None else None,
        sent_at=sent_at,
        time_to_fill_secs=round(elapsed_secs, 3) if complete and fill is not None else None,
    )


def affordable(
    buys: Sequence[Trade], snapshot: AccountSnapshot, reserve_percent: Decimal, warnings: list[str]
) -> list[Trade]:
    """The leading buys whose planned cost fits in the cash above the reserve."""
    budget = snapshot.cash_balance - snapshot.total_value * reserve_percent / 100
    kept: list[Trade] = []
    for trade in buys:
        if trade.notional > budget:
            warnings.append(
                f"buy of {trade.quantity} {trade.symbol} skipped: it needs {trade.notional}, "
                f"{max(budget, Decimal(0))} cash above the reserve is left"
            )
            continue
        budget -= trade.notional
        kept.append(trade)
    return kept


def incomplete(trades: Sequence[Trade]) -> list[str]:
    """Descriptions of trades that did not fill completely (partial fills included)."""
    out = []
    for t in trades:
        if t.status is OrderStatus.FILLED and t.filled_quantity == t.quantity:
            continue
        filled = abs(t.filled_quantity or 0)
        out.append(
            f"{t.action} {abs(t.quantity)} {t.symbol} (order {t.order_id}): {t.status}, "
            f"{filled} of {abs(t.quantity)} filled"
        )
    return out
