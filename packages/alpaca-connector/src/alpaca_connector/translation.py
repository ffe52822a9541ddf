"""All translation between alpaca-py's models and the base models, as pure functions.

Alpaca sends money and quantities as strings (``"589.12"``), which become ``Decimal`` as they
are; market data prices arrive as floats from the SDK and become ``Decimal`` through their
shortest ``repr`` (``589.12``, never its binary expansion).
"""

from __future__ import annotations

import re
import secrets
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from alpaca.trading.enums import OrderType as AlpacaOrderType
from alpaca.trading.models import Order, Position
from broker_connector_base import (
    AccountPosition,
    ContractPrice,
    InvalidInputError,
    OpenOrder,
    OrderFill,
    OrderRecord,
    OrderStatus,
    OrderType,
)
from pydantic import ValidationError

__all__ = [
    "MAX_ORDER_REF_LENGTH",
    "STATUS_MAP",
    "exact",
    "fill_of",
    "new_client_order_id",
    "normalise_symbol",
    "open_order_of",
    "order_record_of",
    "order_ref_of",
    "order_status",
    "position_of",
    "price_of",
    "signed_quantity",
    "whole_shares",
]

STATUS_MAP: dict[AlpacaStatus, OrderStatus] = {
    AlpacaStatus.NEW: OrderStatus.WORKING,
    AlpacaStatus.PARTIALLY_FILLED: OrderStatus.WORKING,
    AlpacaStatus.PENDING_CANCEL: OrderStatus.WORKING,  # may still fill until it is canceled
    AlpacaStatus.PENDING_REPLACE: OrderStatus.WORKING,
    AlpacaStatus.STOPPED: OrderStatus.WORKING,
    AlpacaStatus.CALCULATED: OrderStatus.WORKING,
    AlpacaStatus.ACCEPTED: OrderStatus.PENDING,  # e.g. placed while the market is closed
    AlpacaStatus.PENDING_NEW: OrderStatus.PENDING,
    AlpacaStatus.ACCEPTED_FOR_BIDDING: OrderStatus.PENDING,
    AlpacaStatus.PENDING_REVIEW: OrderStatus.PENDING,
    AlpacaStatus.HELD: OrderStatus.PENDING,
    AlpacaStatus.SUSPENDED: OrderStatus.PENDING,
    AlpacaStatus.DONE_FOR_DAY: OrderStatus.PENDING,
    AlpacaStatus.FILLED: OrderStatus.FILLED,
    AlpacaStatus.CANCELED: OrderStatus.CANCELLED,
    AlpacaStatus.REPLACED: OrderStatus.CANCELLED,  # this id is over; another order replaced it
    AlpacaStatus.EXPIRED: OrderStatus.EXPIRED,
    AlpacaStatus.REJECTED: OrderStatus.REJECTED,
}
"""Every Alpaca order status and the base status it means (the tests cover each one)."""

MAX_ORDER_REF_LENGTH = 100
"""Alpaca's ``client_order_id`` takes 128 characters; the suffix needs 13."""

_CLIENT_ORDER_ID = re.compile(r"^(?:(?P<ref>.+)-)?rb[0-9a-f]{10}$", re.S)
_LIMIT_TYPES = frozenset({AlpacaOrderType.LIMIT, AlpacaOrderType.STOP_LIMIT})


def exact(value: str | float | int | None) -> Decimal | None:
    """An Alpaca number as an exact ``Decimal`` (``None`` stays ``None``).

    Raises:
        ValueError: The value is not a finite number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


def normalise_symbol(symbol: str, source: str = "symbol") -> str:
    """``symbol`` whitespace-collapsed and upper-cased, checked like the base models do.

    Raises:
        InvalidInputError: It is not a ticker.
    """
    try:
        return ContractPrice(symbol=symbol).symbol
    except ValidationError as exc:
        raise InvalidInputError(
            f"{symbol!r} is not a ticker symbol: {exc.errors()[0]['msg']}", source=source
        ) from exc


def price_of(value: float | str | None) -> Decimal | None:
    """A quote side as a price; Alpaca's 0 (no quote) and absent values are ``None``."""
    number = exact(value)
    return number if number is not None and number > 0 else None


def whole_shares(value: str | float | None) -> int:
    """A share count as ``int``; fractional counts (placed elsewhere) round half up."""
    number = exact(value) or Decimal(0)
    return int(number.to_integral_value(rounding=ROUND_HALF_UP))


def new_client_order_id(order_ref: str | None) -> str:
    """A unique ``client_order_id`` that carries ``order_ref`` (recover it with ``order_ref_of``).

    Alpaca requires ``client_order_id`` to be unique per order, and the daemon tags every order
    of a run with the run id; ``{order_ref}-rb{10 random hex}`` is both.

    Raises:
        InvalidInputError: ``order_ref`` is empty or longer than ``MAX_ORDER_REF_LENGTH``.
    """
    if order_ref is not None and not 0 < len(order_ref) <= MAX_ORDER_REF_LENGTH:
        raise InvalidInputError(
            f"order_ref must be 1-{MAX_ORDER_REF_LENGTH} characters, got {len(order_ref)}",
            source="place_order",
        )
    token = f"rb{secrets.token_hex(5)}"
    return f"{order_ref}-{token}" if order_ref is not None else token


def order_ref_of(client_order_id: str) -> str | None:
    """The ``order_ref`` inside a ``client_order_id`` made by ``new_client_order_id``."""
    match = _CLIENT_ORDER_ID.match(client_order_id)
    return match.group("ref") if match else None


def order_status(order: Order) -> OrderStatus:
    """The base status of an Alpaca order.

    ``calculated`` and ``done_for_day`` orders whose whole quantity filled count as filled.
    """
    status = STATUS_MAP[order.status]
    if order.status in (AlpacaStatus.CALCULATED, AlpacaStatus.DONE_FOR_DAY):
        qty = whole_shares(order.qty)
        if qty and whole_shares(order.filled_qty) == qty:
            return OrderStatus.FILLED
    return status


def signed_quantity(order: Order, quantity: str | float | None) -> int:
    """``quantity`` of ``order`` in shares, negative for a sell."""
    shares = whole_shares(quantity)
    return -shares if order.side == OrderSide.SELL else shares


def _order_type(order: Order) -> OrderType:
    kind = order.type or order.order_type
    if kind not in _LIMIT_TYPES and order.time_in_force == TimeInForce.CLS:
        return "MOC"
    result: Literal["MARKET", "LIMIT"] = "LIMIT" if kind in _LIMIT_TYPES else "MARKET"
    return result


def open_order_of(order: Order, account_id: str) -> OpenOrder:
    """An open Alpaca order as an ``OpenOrder``."""
    return OpenOrder(
        order_id=str(order.id),
        symbol=order.symbol or "",
        quantity=signed_quantity(order, order.qty),
        status=order_status(order),
        order_type=_order_type(order),
        account_id=account_id,
        limit_price=exact(order.limit_price),
        order_ref=order_ref_of(order.client_order_id),
    )


def fill_of(order: Order) -> OrderFill:
    """What ``wait_for_order`` reports for an Alpaca order."""
    status = order_status(order)
    filled = whole_shares(order.filled_qty)
    remaining = 0 if status.is_final else max(whole_shares(order.qty) - filled, 0)
    return OrderFill(
        order_id=str(order.id),
        status=status,
        filled_quantity=signed_quantity(order, order.filled_qty),
        remaining_quantity=remaining,
        avg_fill_price=price_of(order.filled_avg_price) if filled else None,
        message=None if status != OrderStatus.REJECTED else f"Alpaca rejected order {order.id}",
        # Alpaca charges no commission on US equity orders.
        commission=Decimal(0),
    )


def order_record_of(order: Order) -> OrderRecord:
    """An Alpaca order as an ``OrderRecord``: its UUID is both order id and permanent id.

    Alpaca never gives an order id to another order, so no other key is needed.
    """
    filled = whole_shares(order.filled_qty)
    return OrderRecord(
        order_id=str(order.id),
        perm_id=str(order.id),
        symbol=order.symbol or "",
        quantity=signed_quantity(order, order.qty),
        status=order_status(order),
        filled_quantity=signed_quantity(order, order.filled_qty),
        avg_fill_price=price_of(order.filled_avg_price) if filled else None,
        order_ref=order_ref_of(order.client_order_id),
    )


def position_of(position: Position) -> AccountPosition:
    """An Alpaca position, valued at Alpaca's current price.

    A signed quantity: a short position (``side`` short) is negative.
    """
    quantity = exact(position.qty) or Decimal(0)
    price = exact(position.current_price)
    value = exact(position.market_value)
    if price is None or value is None:
        # Alpaca leaves both out when it has no price for the asset: value at cost instead.
        price = exact(position.avg_entry_price) or Decimal(0)
        value = quantity * price
    return AccountPosition(
        symbol=position.symbol,
        quantity=quantity,
        market_price=price,
        market_value=value,
        avg_cost=exact(position.avg_entry_price),
    )
