"""Order argument checks and listings of the backtest broker (pure)."""

from __future__ import annotations

from decimal import Decimal

from broker_connector_base import InvalidInputError, OpenOrder

from rebalance_backtest.book import BookOrder

__all__ = ["check_order_args", "normalise_symbol", "open_order"]


def normalise_symbol(symbol: str) -> str:
    """Collapse whitespace and upper-case, as the models do."""
    return " ".join(str(symbol).split()).upper()


def check_order_args(quantity: int, order_type: str, price: Decimal | None) -> None:
    """Refuse malformed orders before anything is placed.

    Raises:
        InvalidInputError: Zero or non-integer quantity, unknown order type, a limit order
            without a positive price, or a market order with one.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInputError(f"quantity must be a whole number of shares, got {quantity!r}")
    if quantity == 0:
        raise InvalidInputError("quantity must not be 0")
    if order_type not in ("MARKET", "LIMIT"):
        raise InvalidInputError(f"order type must be MARKET or LIMIT, got {order_type!r}")
    if order_type == "MARKET" and price is not None:
        raise InvalidInputError(f"a MARKET order takes no price, got {price}")
    if order_type == "LIMIT" and (
        not isinstance(price, Decimal) or not price.is_finite() or price <= 0
    ):
        raise InvalidInputError(f"a LIMIT order needs a positive Decimal price, got {price!r}")


def open_order(order: BookOrder) -> OpenOrder:
    """The listing of a working order."""
    return OpenOrder(
        order_id=order.order_id,
        symbol=order.symbol,
        quantity=order.quantity,
        status=order.status,
        order_type=order.order_type,
        account_id=order.account_id,
        limit_price=order.limit_price,
        order_ref=order.order_ref,
    )
