"""Order argument checks and listings of the backtest broker (pure)."""

from __future__ import annotations

from broker_connector_base import InvalidInputError, OpenOrder

from rebalance_backtest.book import BookOrder

__all__ = ["check_order_args", "normalise_symbol", "open_order"]


def normalise_symbol(symbol: str) -> str:
    """Collapse whitespace and upper-case, as the models do."""
    return " ".join(str(symbol).split()).upper()


def check_order_args(quantity: int) -> None:
    """Refuse a malformed quantity before anything is placed (the ``OrderSpec`` checked
    itself).

    Raises:
        InvalidInputError: Zero or non-integer quantity.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInputError(f"quantity must be a whole number of shares, got {quantity!r}")
    if quantity == 0:
        raise InvalidInputError("quantity must not be 0")


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
