"""The backtest broker's books: one cash account, its orders and fills, and the matching rules.

Pure bookkeeping with exact ``Decimal`` cash and whole shares; ``BacktestBroker`` drives it
from the simulated clock. A cash account: a fill that would take cash below zero, or sell more
shares than held, is refused and the order ends ``REJECTED`` (cash is never negative).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from broker_connector_base import (
    InvalidInputError,
    OrderExecutionError,
    OrderFill,
    OrderRecord,
    OrderStatus,
    OrderType,
)

from rebalance_backtest.costs import Costs

__all__ = ["Book", "BookOrder", "Fill", "parse_order_id"]


def parse_order_id(order_id: str) -> str:
    """Check the backtest broker's id format (decimal digits, like IB's integer ids).

    Raises:
        InvalidInputError: ``order_id`` is not a string of digits.
    """
    if not isinstance(order_id, str) or not order_id.isdigit() or not order_id.isascii():
        raise InvalidInputError(f"order id {order_id!r} is not a decimal number")
    return order_id


@dataclass(frozen=True)
class Fill:
    """One execution: ``quantity`` signed (negative sold), at ``price``, with its commission."""

    day: date
    order_id: str
    symbol: str
    quantity: int
    price: Decimal
    commission: Decimal
    order_ref: str | None


@dataclass
class BookOrder:
    """A day order and what filled of it."""

    order_id: str
    account_id: str
    symbol: str
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None
    order_ref: str | None
    placed_on: date
    status: OrderStatus
    filled: int = 0
    fill_value: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    reason: str | None = None
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        """Signed shares still to fill."""
        return self.quantity - self.filled

    def report(self) -> OrderFill:
        """What ``wait_for_order`` returns."""
        return OrderFill(
            order_id=self.order_id,
            status=self.status,
            filled_quantity=self.filled,
            remaining_quantity=0 if self.status.is_final else abs(self.remaining),
            avg_fill_price=self.fill_value / abs(self.filled) if self.filled else None,
            message=self.reason,
            commission=self.commission,
        )

    def record(self) -> OrderRecord:
        """What ``get_orders_by_ref`` lists (ids are never reused: the id is the perm id)."""
        return OrderRecord(
            order_id=self.order_id,
            perm_id=self.order_id,
            account_id=self.account_id,
            symbol=self.symbol,
            quantity=self.quantity,
            status=self.status,
            filled_quantity=self.filled,
            avg_fill_price=self.fill_value / abs(self.filled) if self.filled else None,
            order_ref=self.order_ref,
        )

    def finish(self, status: OrderStatus, reason: str | None = None) -> None:
        """Move to a final status and wake every waiter."""
        self.status = status
        self.reason = reason if reason is not None else self.reason
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


class Book:
    """Cash, shares, orders and fills of one account.

    Args:
        account_id: The account's id.
        cash: Starting cash (not negative).
        positions: Starting shares per symbol.
        costs: The spread and commission model.
    """

    def __init__(
        self, account_id: str, cash: Decimal, positions: dict[str, int], costs: Costs
    ) -> None:
        if cash < 0:
            raise InvalidInputError(f"starting cash must not be negative, got {cash}")
        self.account_id = account_id
        self.cash = cash
        self.positions = {s: q for s, q in positions.items() if q}
        self.avg_costs: dict[str, Decimal] = {}
        self.costs = costs
        self.orders: dict[str, BookOrder] = {}
        self.fills: list[Fill] = []
        self._live: dict[str, BookOrder] = {}
        self.bought_on: dict[date, set[str]] = {}
        """Symbols with a buy fill, per day."""
        self.version = 0
        """Grows with every fill (snapshots are cached per version)."""
        self._ids = itertools.count(1)

    def order(self, order_id: str) -> BookOrder:
        """The order, or ``OrderExecutionError`` when unknown (``InvalidInputError``: bad id)."""
        try:
            return self.orders[parse_order_id(order_id)]
        except KeyError:
            raise OrderExecutionError(f"no order with id {order_id}", order_id=order_id) from None

    def add(
        self,
        symbol: str,
        quantity: int,
        order_type: OrderType,
        limit_price: Decimal | None,
        order_ref: str | None,
        day: date,
        *,
        working: bool,
    ) -> BookOrder:
        """Record a new order, working (market open) or pending (closed)."""
        order = BookOrder(
            order_id=str(next(self._ids)),
            account_id=self.account_id,
            symbol=symbol,
            quantity=quantity,
            order_type=order_type,
            limit_price=limit_price,
            order_ref=order_ref,
            placed_on=day,
            status=OrderStatus.WORKING if working else OrderStatus.PENDING,
        )
        self.orders[order.order_id] = order
        self._live[order.order_id] = order
        return order

    def working(self) -> list[BookOrder]:
        """Orders that can still fill, in placement order."""
        # Only the orders not yet seen final are looked at: a long backtest has thousands.
        self._live = {i: o for i, o in self._live.items() if not o.status.is_final}
        return list(self._live.values())

    def match(
        self, order: BookOrder, bid: Decimal, ask: Decimal, day: date, cap: int | None
    ) -> None:
        """Fill ``order`` when marketable at ``bid``/``ask`` (at most ``cap`` shares in all).

        A fill the account cannot take (cash below zero, more shares sold than held) rejects
        the order instead.
        """
        if order.status.is_final:
            return
        buy = order.quantity > 0
        price = ask if buy else bid
        if order.limit_price is not None and (
            price > order.limit_price if buy else price < order.limit_price
        ):
            return
        shares = abs(order.remaining)
        if cap is not None:
            shares = min(shares, max(cap - abs(order.filled), 0))
        if shares == 0:
            return
        signed = shares if buy else -shares
        commission = self.costs.commission_of(signed, price)
        reason = self._refusal(order.symbol, signed, price, commission)
        if reason is not None:
            order.finish(OrderStatus.REJECTED, reason)
            return
        self._execute(order, signed, price, commission, day)

    def _refusal(self, symbol: str, signed: int, price: Decimal, commission: Decimal) -> str | None:
        if signed < 0:
            held = self.positions.get(symbol, 0)
            if -signed > held:
                return (
                    f"selling {-signed} {symbol} exceeds the {held} shares held (a cash account "
                    "cannot sell short)"
                )
            if commission > self.cash + -signed * price:
                return f"selling {-signed} {symbol} costs {commission}, more than the cash"
            return None
        needed = signed * price + commission
        if needed > self.cash:
            return (
                f"buying {signed} {symbol} at {price} needs {needed} but only {self.cash} cash "
                "is available (a cash account cannot borrow)"
            )
        return None

    def _execute(
        self, order: BookOrder, signed: int, price: Decimal, commission: Decimal, day: date
    ) -> None:
        value = abs(signed) * price
        held = self.positions.get(order.symbol, 0)
        if signed > 0:
            self.bought_on.setdefault(day, set()).add(order.symbol)
            old = self.avg_costs.get(order.symbol, price)
            self.avg_costs[order.symbol] = (held * old + value) / (held + signed)
            self.cash -= value + commission
        else:
            self.cash += value - commission
        if held + signed:
            self.positions[order.symbol] = held + signed
        else:
            del self.positions[order.symbol]
            self.avg_costs.pop(order.symbol, None)
        order.filled += signed
        order.fill_value += value
        order.commission += commission
        self.fills.append(
            Fill(day, order.order_id, order.symbol, signed, price, commission, order.order_ref)
        )
        self.version += 1
        if order.remaining == 0:
            order.finish(OrderStatus.FILLED)
