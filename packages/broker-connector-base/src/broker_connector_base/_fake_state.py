"""State records and pure checks of the in-memory fake broker (``broker_connector_base.fake``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from broker_connector_base.exceptions import BrokerAPIError, InvalidInputError
from broker_connector_base.models import (
    ContractPrice,
    OrderFill,
    OrderRecord,
    OrderStatus,
    OrderType,
)

__all__ = [
    "FakeAccount",
    "FakeOrderRecord",
    "check_order_args",
    "exact",
    "mark_price",
    "normalise_symbol",
    "parse_order_id",
]

_ORDER_ID_RE = re.compile(r"^[0-9]{1,18}$")


@dataclass(frozen=True)
class FakeAccount:
    """Initial state of one account of the fake broker (a cash account: no margin, no shorts).

    Attributes:
        cash: Cash balance.
        settled_cash: Settled part of the cash; defaults to all of ``cash``.
        positions: Shares held per symbol.
        avg_costs: Average cost per share of those positions, where known.
    """

    cash: Decimal
    settled_cash: Decimal | None = None
    positions: Mapping[str, Decimal | int | float] = field(default_factory=dict)
    avg_costs: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeOrderRecord:
    """One order as the fake broker saw it, for tests to read (``InMemoryBroker.order_log``).

    ``quantity`` and ``filled_quantity`` are signed (negative sells). ``reason`` says why an
    order was rejected. ``perm_id`` is its permanent id, from a sequence of its own (never
    equal to an order id, so code that mixes the two up is caught).
    """

    order_id: str
    account_id: str
    symbol: str
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None
    order_ref: str | None
    placed_at: datetime
    status: OrderStatus
    filled_quantity: int
    avg_fill_price: Decimal | None
    reason: str | None
    perm_id: str


@dataclass
class AccountState:
    """Mutable balances of one fake account."""

    cash: Decimal
    settled_cash: Decimal
    positions: dict[str, Decimal]
    avg_costs: dict[str, Decimal]

    @classmethod
    def from_config(cls, config: FakeAccount) -> AccountState:
        """Copy a ``FakeAccount`` into mutable state, normalising symbols."""
        settled = config.cash if config.settled_cash is None else config.settled_cash
        positions = {normalise_symbol(s): exact(q) for s, q in config.positions.items()}
        return cls(
            cash=exact(config.cash),
            settled_cash=exact(settled),
            positions={s: q for s, q in positions.items() if q != 0},
            avg_costs={normalise_symbol(s): exact(c) for s, c in config.avg_costs.items()},
        )


@dataclass
class OrderState:
    """Mutable state of one fake order."""

    order_id: str
    account_id: str
    symbol: str
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None
    order_ref: str | None
    placed_at: datetime
    status: OrderStatus
    perm_id: str
    reserve_price: Decimal | None = None
    filled: int = 0
    fill_value: Decimal = Decimal(0)
    commission_charged: bool = False
    commission: Decimal = Decimal(0)
    reason: str | None = None
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        """Signed shares still to fill."""
        return self.quantity - self.filled

    @property
    def avg_fill_price(self) -> Decimal | None:
        """Average price of the fills so far, ``None`` before the first."""
        return self.fill_value / abs(self.filled) if self.filled else None

    def record(self) -> FakeOrderRecord:
        """An immutable copy for the order log."""
        return FakeOrderRecord(
            order_id=self.order_id,
            account_id=self.account_id,
            symbol=self.symbol,
            quantity=self.quantity,
            order_type=self.order_type,
            limit_price=self.limit_price,
            order_ref=self.order_ref,
            placed_at=self.placed_at,
            status=self.status,
            filled_quantity=self.filled,
            avg_fill_price=self.avg_fill_price,
            reason=self.reason,
            perm_id=self.perm_id,
        )

    def broker_record(self) -> OrderRecord:
        """The ``OrderRecord`` that ``get_orders_by_ref`` returns."""
        return OrderRecord(
            order_id=self.order_id,
            perm_id=self.perm_id,
            account_id=self.account_id,
            symbol=self.symbol,
            quantity=self.quantity,
            status=self.status,
            filled_quantity=self.filled,
            avg_fill_price=self.avg_fill_price,
            order_ref=self.order_ref,
        )

    def fill_report(self) -> OrderFill:
        """The ``OrderFill`` that ``wait_for_order`` returns."""
        remaining = 0 if self.status.is_final else abs(self.remaining)
        return OrderFill(
            order_id=self.order_id,
            status=self.status,
            filled_quantity=self.filled,
            remaining_quantity=remaining,
            avg_fill_price=self.avg_fill_price,
            message=self.reason,
            commission=self.commission,
        )

    def finish(self, status: OrderStatus, reason: str | None = None) -> None:
        """Move to a final status and wake every waiter."""
        self.status = status
        if reason is not None:
            self.reason = reason
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


def exact(value: Decimal | int | float | str) -> Decimal:
    """A finite ``Decimal``; floats through their shortest ``repr`` (``0.1`` -> ``0.1``).

    Raises:
        ValueError: ``value`` is a boolean, NaN or infinite.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def normalise_symbol(symbol: str) -> str:
    """Collapse whitespace and upper-case, as the models do."""
    return " ".join(str(symbol).split()).upper()


def parse_order_id(order_id: str) -> str:
    """Check the fake's id format (decimal digits, like IB's integer ids).

    Raises:
        InvalidInputError: ``order_id`` is not a string of digits.
    """
    if not isinstance(order_id, str) or not _ORDER_ID_RE.match(order_id):
        raise InvalidInputError(f"order id {order_id!r} is not a decimal number")
    return order_id


def check_order_args(quantity: int) -> None:
    """Refuse malformed quantities before anything is placed (``OrderSpec`` checked itself).

    Raises:
        InvalidInputError: Zero or non-integer quantity.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInputError(f"quantity must be a whole number of shares, got {quantity!r}")
    if quantity == 0:
        raise InvalidInputError("quantity must not be 0")


def mark_price(quote: ContractPrice) -> Decimal:
    """The price positions are valued at: last, else the bid/ask midpoint, else close.

    Raises:
        BrokerAPIError: The quote has no usable price.
    """
    if quote.last:
        return quote.last
    if quote.bid and quote.ask:
        return (quote.bid + quote.ask) / 2
    for price in (quote.close, quote.bid, quote.ask):
        if price:
            return price
    raise BrokerAPIError(f"no usable price for {quote.symbol}")
