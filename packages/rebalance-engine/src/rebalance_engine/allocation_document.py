"""The allocations document: one strict parser for every place that reads one.

The allocations API (``AllocationService``, over HTTP or from ``file://``), and anything else
that accepts a strategy's allocations (the daemon's HTTP API), parse them here::

    {"status": "success",
     "data": {"name": "etf-blend", "strategy_long_name": "...", "last_rebalance_on": "...",
              "allocations": [{"symbol": "SPY", "allocation": 0.6},
                              {"symbol": "ABC", "allocation": 0.4, "conid": 123456}, ...]}}

An entry may pin its symbol to one security with ``conid`` (the IB contract id, an integer)
and/or ``isin`` (check digit verified), for a ticker the broker lists more than once: the
broker then looks it up by that reference and refuses a mismatch, never guessing.

Strict means: every field present with its JSON type (``0.6``, never ``"0.6"``), no unknown
field (a misspelt one is named, with the closest known one), at most
``MAX_ALLOCATION_SYMBOLS`` entries, each symbol once, the weights summing to 1 within
``SUM_TOLERANCE``, and ``data.name`` equal to the strategy asked for (another strategy's
document is refused, not traded). Numbers stay exact (``Decimal``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from broker_connector_base import AllocationItem, InstrumentRef, InvalidInputError
from broker_connector_base.documents import (
    MAX_DOCUMENT_BYTES,
    decode_utf8,
    parse_json,
    show,
    validate_document,
)
from broker_connector_base.instruments import Isin
from broker_connector_base.plan import STRATEGY_NAME_PATTERN
from broker_connector_base.types import Symbol, to_decimal
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from rebalance_engine.models import StrategyAllocations

__all__ = [
    "DOCUMENT",
    "MAX_ALLOCATION_SYMBOLS",
    "SUM_TOLERANCE",
    "AllocationsDocument",
    "parse_allocations",
]

DOCUMENT = "allocations document"

SUM_TOLERANCE = Decimal("0.01")
"""How far the allocations may sum from 1 (what is not allocated stays in cash)."""

MAX_ALLOCATION_SYMBOLS = 500
"""Entries one document may hold. Real strategies hold a few dozen symbols; thousands are a
broken document, and would cost the calculator minutes before any order. Refused here."""


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllocationEntry(_Document):
    """One ``{"symbol": ..., "allocation": ...}`` entry, optionally pinned (``conid``,
    ``isin``)."""

    symbol: Symbol
    allocation: Annotated[
        Decimal, BeforeValidator(to_decimal), Field(ge=0, le=1, allow_inf_nan=False)
    ]
    conid: Annotated[int, Field(gt=0, le=2_147_483_647)] | None = None
    isin: Isin | None = None

    def instrument(self) -> InstrumentRef | None:
        """The pin of this entry, ``None`` when it names its symbol only."""
        if self.conid is None and self.isin is None:
            return None
        return InstrumentRef(symbol=self.symbol, con_id=self.conid, isin=self.isin)


class AllocationsData(_Document):
    """The ``data`` object of an allocations document."""

    name: Annotated[str, Field(pattern=STRATEGY_NAME_PATTERN)]
    strategy_long_name: str
    last_rebalance_on: str
    allocations: Annotated[list[AllocationEntry], Field(max_length=MAX_ALLOCATION_SYMBOLS)]


class AllocationsDocument(_Document):
    """A whole allocations document, as the API answers it."""

    status: Literal["success"]
    data: AllocationsData


def parse_allocations(
    text: str | bytes,
    *,
    source: str,
    strategy_name: str,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> StrategyAllocations:
    """Parse and validate an allocations document for ``strategy_name``.

    Args:
        text: The document, as text or as the raw (UTF-8) bytes of a body or file.
        source: The URL or file it came from (named in every error).
        strategy_name: The strategy it must be for.
        max_bytes: Size limit of the raw document.

    Raises:
        InvalidInputError: With ``source``; the message names the field and the bad value.
    """
    if isinstance(text, bytes):
        text = decode_utf8(text, document=DOCUMENT, source=source, max_bytes=max_bytes)
    elif len(text) > max_bytes:
        raise InvalidInputError(
            f"{DOCUMENT} is {len(text)} characters, more than the limit of {max_bytes}", source
        )
    raw = parse_json(text, document=DOCUMENT, source=source)
    _check_size(raw, source)
    document = validate_document(AllocationsDocument, raw, document=DOCUMENT, source=source)
    data = document.data
    if data.name != strategy_name:
        raise InvalidInputError(
            f"{DOCUMENT}: data.name: {show(data.name)} is another strategy than the one asked "
            f"for ({strategy_name!r}); nothing is traded on it",
            source,
        )
    _check_unique_and_sum(data.allocations, source)
    return StrategyAllocations(
        name=data.name,
        strategy_long_name=data.strategy_long_name,
        last_rebalance_on=data.last_rebalance_on,
        allocations=[
            AllocationItem(symbol=e.symbol, allocation=e.allocation) for e in data.allocations
        ],
        instruments=tuple(ref for e in data.allocations if (ref := e.instrument()) is not None),
    )


def _check_size(raw: object, source: str) -> None:
    """Refuse an oversized list before validating its entries one by one."""
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        return
    entries = raw["data"].get("allocations")
    if isinstance(entries, list) and len(entries) > MAX_ALLOCATION_SYMBOLS:
        raise InvalidInputError(
            f"{DOCUMENT}: data.allocations: has {len(entries)} entries, more than the limit "
            f"of {MAX_ALLOCATION_SYMBOLS}",
            source,
        )


def _check_unique_and_sum(entries: list[AllocationEntry], source: str) -> None:
    first: dict[str, int] = {}
    for index, entry in enumerate(entries):
        earlier = first.setdefault(entry.symbol, index)
        if earlier != index:
            raise InvalidInputError(
                f"{DOCUMENT}: data.allocations[{index}].symbol: {entry.symbol!r} appears more "
                f"than once (first at data.allocations[{earlier}])",
                source,
            )
    total = sum((e.allocation for e in entries), Decimal(0))
    if abs(total - 1) > SUM_TOLERANCE:
        raise InvalidInputError(
            f"{DOCUMENT}: data.allocations: the allocations sum to {total}, more than "
            f"{SUM_TOLERANCE} away from 1",
            source,
        )
