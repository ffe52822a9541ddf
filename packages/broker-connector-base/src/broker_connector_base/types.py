"""Validated scalar types shared by every model.

Money, prices and share counts are exact: ``Decimal`` (never ``float``) for money and prices,
``int`` for order quantities. Floats given on input are converted through their shortest
``repr`` (``0.1`` becomes ``Decimal("0.1")``), never through their binary expansion, and NaN or
infinity are refused.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field

__all__ = [
    "CENT",
    "NEW_YORK",
    "Money",
    "NonNegativeMoney",
    "Price",
    "Shares",
    "Symbol",
    "to_cents",
    "to_decimal",
    "trading_day",
]

CENT = Decimal("0.01")

NEW_YORK = ZoneInfo("America/New_York")
"""The US exchanges' time zone: a trading day is a calendar day here."""


def trading_day(moment: datetime) -> date:
    """The New York calendar day of an aware ``moment``.

    Raises:
        ValueError: ``moment`` has no time zone.
    """
    if moment.tzinfo is None:
        raise ValueError(f"moment {moment.isoformat()} has no time zone")
    return moment.astimezone(NEW_YORK).date()


_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9./ -]{0,19}$")


def to_decimal(value: Any) -> Any:
    """Convert floats through ``repr`` so ``0.1`` becomes ``Decimal('0.1')`` exactly, and
    integers to ``Decimal`` (so a strictly validated document may write ``5`` for ``5.0``).

    Other values pass through for pydantic to validate: text is converted in lax mode and
    refused in strict mode (``broker_connector_base.documents``); ``bool`` is refused
    (``True`` is not a price).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    return value


def to_cents(value: Decimal) -> Decimal:
    """Round half-up to the cent, the way a limit or buffered price is quoted."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _refuse_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number of shares")
    return value


def _normalise_symbol(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()).upper()
    return value


def _check_symbol(value: str) -> str:
    if not value:
        raise ValueError("symbol must not be empty")
    if not _SYMBOL_RE.match(value):
        raise ValueError(
            f"symbol {value!r} is not a ticker (letters, digits, '.', '-', '/', space; "
            "at most 20 characters)"
        )
    return value


Symbol = Annotated[str, BeforeValidator(_normalise_symbol), AfterValidator(_check_symbol)]
"""A ticker symbol, whitespace-collapsed and upper-cased (``" spy "`` -> ``"SPY"``)."""

Money = Annotated[Decimal, BeforeValidator(to_decimal), Field(allow_inf_nan=False)]
"""An exact amount of money; may be negative (a margin debit)."""

NonNegativeMoney = Annotated[Decimal, BeforeValidator(to_decimal), Field(ge=0, allow_inf_nan=False)]
"""An exact, non-negative amount of money."""

Price = Annotated[Decimal, BeforeValidator(to_decimal), Field(ge=0, allow_inf_nan=False)]
"""An exact, non-negative price per share. Zero means "no quote" where a broker reports that."""

Shares = Annotated[int, BeforeValidator(_refuse_bool)]
"""A whole, signed number of shares (``True`` is not a share count)."""
