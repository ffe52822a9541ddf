"""One bid/ask update of a streamed quote (``QuoteTick``): what a quote recorder stores.

A plain named tuple, not a pydantic model: a recorder takes tens of thousands of them a
second. Prices stay exact (``Decimal``, from the broker's number through its shortest text);
sizes are whole shares; ``at`` is when the update arrived (Unix seconds, UTC); ``delayed`` marks
a broker's delayed quote (IB sends those where the login has no live data): as old as the
delay, whatever ``at`` says.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

__all__ = ["QuoteTick"]


class QuoteTick(NamedTuple):
    """A symbol's bid and ask (``None``: that side has no quote) and their sizes."""

    at: float
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    bid_size: int | None
    ask_size: int | None
    delayed: bool = False
