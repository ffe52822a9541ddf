"""Which security a symbol means, where the ticker alone may not say (``InstrumentRef``).

A ticker can name several securities at a broker (the same symbol on two exchanges, a share
class listed twice). An allocation line may then pin it with the broker's contract id
(``conid``, IB), an ISIN, or the primary exchange; ``BrokerClient.resolve_instruments`` is
told before anything is quoted or ordered, and a connector that finds several securities
for one reference, or none, refuses instead of guessing.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from broker_connector_base.types import Symbol

__all__ = ["InstrumentRef", "Isin", "check_isin"]

_ISIN_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")
_EXCHANGE_RE = re.compile(r"^[A-Z][A-Z0-9.]{0,15}$")


def _isin_check_digit(body: str) -> int:
    """ISO 6166 check digit of the first 11 characters (letters as 10..35, then Luhn)."""
    digits = "".join(str(int(c, 36)) for c in body)
    total = 0
    # Luhn from the right, the rightmost digit of the body doubled (the check digit follows).
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            value = value - 9 if value > 9 else value
        total += value
    return (10 - total % 10) % 10


def check_isin(value: str) -> str:
    """``value`` when it is a well-formed ISIN with a correct check digit.

    Raises:
        ValueError: It is not (the message names the value and what is wrong).
    """
    if not _ISIN_RE.match(value):
        raise ValueError(
            f"{value!r} is not an ISIN (two letters, nine letters or digits, one check digit)"
        )
    expected = _isin_check_digit(value[:11])
    if int(value[11]) != expected:
        raise ValueError(f"ISIN {value!r} has check digit {value[11]}, expected {expected}")
    return value


Isin = Annotated[str, AfterValidator(check_isin)]
"""An ISIN (ISO 6166), check digit verified."""


class InstrumentRef(BaseModel):
    """A symbol pinned to one security.

    Attributes:
        symbol: The ticker the plan uses for it.
        con_id: The broker's contract id (IB ``conId``).
        isin: Its ISIN.
        primary_exchange: Its primary listing exchange (IB ``primaryExchange``: ``ARCA``,
            ``NYSE``, ``NASDAQ``...).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: Symbol
    con_id: Annotated[int, Field(gt=0, le=2_147_483_647)] | None = None
    isin: Isin | None = None
    primary_exchange: Annotated[str, Field(pattern=_EXCHANGE_RE.pattern)] | None = None

    @model_validator(mode="after")
    def _pins_something(self) -> InstrumentRef:
        if self.con_id is None and self.isin is None and self.primary_exchange is None:
            raise ValueError(
                f"{self.symbol}: give a con_id, an isin or a primary_exchange (a bare symbol "
                "needs no reference)"
            )
        return self

    def describe(self) -> str:
        """``SPY (conid 756733)``, ``ABC (ISIN US0000000001, NYSE)``."""
        parts = []
        if self.con_id is not None:
            parts.append(f"conid {self.con_id}")
        if self.isin is not None:
            parts.append(f"ISIN {self.isin}")
        if self.primary_exchange is not None:
            parts.append(self.primary_exchange)
        return f"{self.symbol} ({', '.join(parts)})"
