"""A strategy's allocation history: dated target documents, each in effect from its date on.

Two layouts:

* a directory of documents in the allocations API's format (what ``GET
  /v1/{strategy}/allocations`` answers), one per date: ``DIR/{strategy}/YYYY-MM-DD.json`` (or
  ``DIR/YYYY-MM-DD.json`` when ``DIR`` is the strategy's own folder); each is validated by the
  engine's own parser (``rebalance_engine.allocation_service.parse_allocations``);
* a CSV ``date,symbol,weight``, the rows of one date forming one document, checked the same
  way (weights in [0, 1], each symbol once a date, summing to 1 within 0.01).

Errors name the file (and the line for a CSV). ``HistorySource`` serves the document in effect
on the simulated day to the engine, as the allocations API would on that day.
"""

from __future__ import annotations

import bisect
import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path

from broker_connector_base import AllocationItem, InvalidInputError
from rebalance_engine import ReplacementService, StrategyAllocations
from rebalance_engine.allocation_service import SUM_TOLERANCE, parse_allocations

__all__ = ["AllocationHistory", "DatedAllocations", "HistorySource", "load_allocations"]

_DATED_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.json$")


@dataclass(frozen=True)
class DatedAllocations:
    """One document and the day it takes effect."""

    day: date
    document: StrategyAllocations
    source: str


@dataclass(frozen=True)
class AllocationHistory:
    """The documents of one strategy, by ascending date (at least one)."""

    strategy: str
    documents: tuple[DatedAllocations, ...]

    def __post_init__(self) -> None:
        if not self.documents:
            raise InvalidInputError(f"strategy {self.strategy!r} has no allocation document")

    @cached_property
    def days(self) -> tuple[date, ...]:
        """The dates of the documents."""
        return tuple(d.day for d in self.documents)

    @property
    def symbols(self) -> frozenset[str]:
        """Every symbol any document targets."""
        return frozenset(i.symbol for d in self.documents for i in d.document.allocations)

    def targets(
        self, replacement_set: str | None, replacements: ReplacementService | None
    ) -> dict[str, DatedAllocations]:
        """Every symbol a document makes the engine buy (after the replacement set), with
        the first document that does.

        Raises:
            InvalidInputError: ``replacement_set`` is not in ``replacements``.
        """
        first: dict[str, DatedAllocations] = {}
        for dated in self.documents:
            items = list(dated.document.allocations)
            if replacement_set is not None and replacements is not None:
                items = replacements.apply(items, replacement_set)
            for item in items:
                if item.allocation > 0:
                    first.setdefault(item.symbol, dated)
        return first

    def latest(self, day: date, *, inclusive: bool = True) -> DatedAllocations | None:
        """The document in effect on ``day`` (dated on or, unless ``inclusive``, before it)."""
        days = self.days
        index = (bisect.bisect_right if inclusive else bisect.bisect_left)(days, day) - 1
        return self.documents[index] if index >= 0 else None


class HistorySource:
    """An ``AllocationSource`` serving what was in effect on the simulated day.

    The runner sets ``current`` before each session's run; the engine asks as it would ask the
    allocations API.
    """

    def __init__(self, history: AllocationHistory) -> None:
        self.history = history
        self.current: DatedAllocations | None = None

    async def get_allocations(self, strategy_name: str) -> StrategyAllocations:
        """The document in effect.

        Raises:
            InvalidInputError: Another strategy, or no document is in effect yet.
        """
        if strategy_name != self.history.strategy or self.current is None:
            raise InvalidInputError(
                f"no allocations in effect for strategy {strategy_name!r}",
                source="backtest allocation history",
            )
        return self.current.document


def load_allocations(path: Path, strategy: str) -> AllocationHistory:
    """The history of ``strategy`` from a directory of documents or a ``date,symbol,weight`` CSV.

    Raises:
        InvalidInputError: Missing or malformed files; the message names the file (and line).
    """
    if path.is_dir():
        return AllocationHistory(strategy, _from_directory(path, strategy))
    if path.is_file():
        return AllocationHistory(strategy, _from_csv(path, strategy))
    raise InvalidInputError(
        f"no allocation history here (looked at {path.absolute()}): give a directory of "
        f"{strategy}/YYYY-MM-DD.json documents or a date,symbol,weight CSV",
        str(path),
    )


def _from_directory(path: Path, strategy: str) -> tuple[DatedAllocations, ...]:
    folder = path / strategy if (path / strategy).is_dir() else path
    documents = []
    for file in sorted(folder.glob("*.json")):
        match = _DATED_FILE.match(file.name)
        if match is None:
            raise InvalidInputError(
                "an allocation document must be named YYYY-MM-DD.json (the day it takes effect)",
                str(file),
            )
        day = _day(match.group(1), str(file))
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot be read: {exc}", str(file)) from None
        document = parse_allocations(text, source=str(file), strategy_name=strategy)
        documents.append(DatedAllocations(day, document, str(file)))
    if not documents:
        raise InvalidInputError(
            f"no YYYY-MM-DD.json allocation documents of strategy {strategy!r} in {folder}",
            str(path),
        )
    return tuple(documents)


def _from_csv(path: Path, strategy: str) -> tuple[DatedAllocations, ...]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot be read: {exc}", source) from None
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)]
    if not rows or [c.strip().lower() for c in rows[0]] != ["date", "symbol", "weight"]:
        raise InvalidInputError("line 1: the header must be date,symbol,weight", source)
    by_day: dict[date, list[tuple[int, AllocationItem]]] = {}
    for number, row in enumerate(rows[1:], start=2):
        where = f"{source}, line {number}"
        if len(row) != 3:
            raise InvalidInputError(f"line {number}: {len(row)} fields, expected 3", source)
        day = _day(row[0].strip(), where)
        items = by_day.setdefault(day, [])
        item = _item(row[1], row[2], where)
        earlier = next((n for n, i in items if i.symbol == item.symbol), None)
        if earlier is not None:
            raise InvalidInputError(
                f"line {number}: {item.symbol} on {day} appears again (first on line {earlier})",
                source,
            )
        items.append((number, item))
    return tuple(_csv_document(strategy, day, by_day[day], source) for day in sorted(by_day))


def _csv_document(
    strategy: str, day: date, items: Sequence[tuple[int, AllocationItem]], source: str
) -> DatedAllocations:
    total = sum((i.allocation for _, i in items), Decimal(0))
    if abs(total - 1) > SUM_TOLERANCE:
        lines = f"lines {items[0][0]}-{items[-1][0]}" if len(items) > 1 else f"line {items[0][0]}"
        raise InvalidInputError(
            f"{lines}: the weights of {day} sum to {total}, more than {SUM_TOLERANCE} away from 1",
            source,
        )
    document = StrategyAllocations(
        name=strategy,
        strategy_long_name=strategy,
        last_rebalance_on=day.isoformat(),
        allocations=[i for _, i in items],
    )
    return DatedAllocations(day, document, f"{source}, line {items[0][0]}")


def _item(symbol: str, weight: str, where: str) -> AllocationItem:
    try:
        value = Decimal(weight.strip())
    except InvalidOperation:
        raise InvalidInputError(f"weight {weight!r} of {symbol} is not a number", where) from None
    if not value.is_finite() or not 0 <= value <= 1:
        raise InvalidInputError(f"weight {weight.strip()} of {symbol} is not in [0, 1]", where)
    try:
        return AllocationItem(symbol=symbol, allocation=value)
    except ValueError as exc:
        reason = str(exc).splitlines()[-2].strip() if "\n" in str(exc) else str(exc)
        raise InvalidInputError(f"symbol {symbol!r}: {reason}", where) from None


def _day(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{text!r} is not a date (YYYY-MM-DD)", where) from None
