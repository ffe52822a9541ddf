"""Daily prices for a backtest: exact ``Decimal`` opens and closes per symbol and session.

``load_prices`` reads a CSV (``.csv`` or gzip-compressed ``.csv.gz``) in one of two layouts,
told apart by the header:

* long: ``date,symbol,open,high,low,close[,volume]``, one row per symbol and day;
* wide: ``date,SYM1,SYM2,...``, one row per day, the cells are closes (an empty cell: no
  price that day, before a fund's first day or after its last). Wide files have no opens, so
  they cannot back a run that fills at the open.

Every problem is an ``InvalidInputError`` naming the file and the line: a malformed date or
number, a price that is not positive, a high/low that does not contain the open and close, a
date that is no NYSE session (a weekend or an exchange holiday), a symbol priced twice on a
day, and gaps: a session between a symbol's first and last price without one.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from broker_connector_base import DailyBar, InvalidInputError
from broker_connector_base.types import Symbol
from pydantic import TypeAdapter, ValidationError

from rebalance_backtest.calendar import is_session, sessions

__all__ = ["PriceHistory", "load_prices"]

_LONG = ("date", "symbol", "open", "high", "low", "close")
_SYMBOL = TypeAdapter(Symbol)


@dataclass(frozen=True)
class PriceHistory:
    """Opens and closes per symbol and session day.

    Attributes:
        closes: ``symbol -> day -> close``.
        opens: ``symbol -> day -> open``; empty when the source had closes only.
        source: Where the prices came from (a file, ``IB gateway host:port``), for messages.
        lines: ``(symbol, day) -> line`` in the source file, for messages (may be empty).
    """

    closes: Mapping[str, Mapping[date, Decimal]]
    opens: Mapping[str, Mapping[date, Decimal]] = field(default_factory=dict)
    source: str = "prices"
    lines: Mapping[tuple[str, date], int] = field(default_factory=dict, repr=False)
    _days: dict[str, tuple[date, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every symbol with a price, sorted."""
        return tuple(sorted(self.closes))

    @property
    def has_opens(self) -> bool:
        """Whether every symbol has an open wherever it has a close."""
        return bool(self.closes) and all(
            self.opens.get(s, {}).keys() == days.keys() for s, days in self.closes.items()
        )

    @property
    def dates(self) -> tuple[date, ...]:
        """Every day on which some symbol has a price, ascending."""
        return tuple(sorted({day for days in self.closes.values() for day in days}))

    def last_day(self, symbol: str, day: date) -> date | None:
        """The last day on or before ``day`` with a close of ``symbol`` (``None``: none)."""
        days = self._days.get(symbol)
        if days is None:
            days = self._days[symbol] = tuple(sorted(self.closes.get(symbol, {})))
        index = bisect.bisect_right(days, day)
        return days[index - 1] if index else None

    def span(self, symbol: str) -> tuple[date, date] | None:
        """First and last day ``symbol`` has a price, ``None`` when it has none."""
        days = self.closes.get(symbol)
        if not days:
            return None
        return min(days), max(days)

    @classmethod
    def from_bars(cls, bars: Iterable[DailyBar], *, source: str) -> PriceHistory:
        """Prices from daily bars (e.g. the IB gateway's), checked like a file's.

        Raises:
            InvalidInputError: A symbol twice on one day, a day that is no session, or a gap.
        """
        closes: dict[str, dict[date, Decimal]] = {}
        opens: dict[str, dict[date, Decimal]] = {}
        for bar in bars:
            where = f"{bar.symbol} {bar.date}"
            if bar.date in closes.get(bar.symbol, {}):
                raise InvalidInputError(f"{where}: two bars for one day", source)
            _check_session(bar.date, where, source)
            closes.setdefault(bar.symbol, {})[bar.date] = bar.close
            opens.setdefault(bar.symbol, {})[bar.date] = bar.open
        history = cls(closes=closes, opens=opens, source=source)
        history.check_gaps()
        return history

    def check_gaps(self) -> None:
        """Every session between a symbol's first and last price has one.

        Raises:
            InvalidInputError: Names the symbol, the missing session and the lines around it.
        """
        for symbol, days in self.closes.items():
            first, last = min(days), max(days)
            previous = first
            for day in sessions(first, last):
                if day not in days:
                    after = next(d for d in sorted(days) if d > day)
                    raise InvalidInputError(
                        f"{symbol} has no price on {day}, an NYSE session between "
                        f"{self._at(symbol, previous)} and {self._at(symbol, after)}",
                        self.source,
                    )
                previous = day

    def _at(self, symbol: str, day: date) -> str:
        line = self.lines.get((symbol, day))
        return f"{day} (line {line})" if line is not None else str(day)


def load_prices(path: Path) -> PriceHistory:
    """Read and check a price file (layouts in the module docstring).

    Raises:
        InvalidInputError: The file is missing, unreadable, or any line is invalid; the
            message names the file and the line.
    """
    source = str(path)
    rows = _read_rows(path)
    if not rows:
        raise InvalidInputError("the file is empty (expected a header line)", source)
    header = [cell.strip().lower() for cell in rows[0]]
    if tuple(header[: len(_LONG)]) == _LONG:
        history = _long(header, rows[1:], source)
    elif header and header[0] == "date" and len(header) > 1:
        history = _wide(rows[0], rows[1:], source)
    else:
        raise InvalidInputError(
            f"line 1: header {','.join(rows[0])!r} is neither date,symbol,open,high,low,close"
            "[,volume] (long) nor date,SYMBOL,... (wide closes)",
            source,
        )
    if not history.closes:
        raise InvalidInputError("the file has a header but no prices", source)
    history.check_gaps()
    return history


def _read_rows(path: Path) -> list[list[str]]:
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"file not found (looked at {path.absolute()})", source) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot be read: {exc.strerror}", source) from None
    try:
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot be read as a (gzip) UTF-8 CSV: {exc}", source) from None
    return [row for row in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in row)]


def _long(header: list[str], rows: Sequence[list[str]], source: str) -> PriceHistory:
    closes: dict[str, dict[date, Decimal]] = {}
    opens: dict[str, dict[date, Decimal]] = {}
    lines: dict[tuple[str, date], int] = {}
    symbols: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        where = f"line {number}"
        if len(row) != len(header):
            raise InvalidInputError(
                f"{where}: {len(row)} fields, the header has {len(header)}", source
            )
        day = _day(row[0], where, source)
        symbol = symbols.get(row[1]) or symbols.setdefault(row[1], _symbol(row[1], where, source))
        open_, high, low, close = (_price(row[i], header[i], where, source) for i in range(2, 6))
        if not low <= min(open_, close) <= max(open_, close) <= high:
            raise InvalidInputError(
                f"{where}: {symbol} low {low}, open {open_}, close {close}, high {high}: the "
                "low and high must contain the open and the close",
                source,
            )
        _check_new(lines, symbol, day, number, source)
        closes.setdefault(symbol, {})[day] = close
        opens.setdefault(symbol, {})[day] = open_
    return PriceHistory(closes=closes, opens=opens, source=source, lines=lines)


def _wide(header: list[str], rows: Sequence[list[str]], source: str) -> PriceHistory:
    symbols = [_symbol(cell, "line 1", source) for cell in header[1:]]
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise InvalidInputError(f"line 1: columns {repeated} appear more than once", source)
    closes: dict[str, dict[date, Decimal]] = {s: {} for s in symbols}
    lines: dict[tuple[str, date], int] = {}
    seen: dict[date, int] = {}
    for number, row in enumerate(rows, start=2):
        where = f"line {number}"
        if len(row) != len(header):
            raise InvalidInputError(
                f"{where}: {len(row)} fields, the header has {len(header)}", source
            )
        day = _day(row[0], where, source)
        if day in seen:
            raise InvalidInputError(
                f"{where}: {day} appears again (first on line {seen[day]})", source
            )
        seen[day] = number
        for symbol, cell in zip(symbols, row[1:], strict=True):
            if cell.strip():
                closes[symbol][day] = _price(cell, symbol, where, source)
                lines[(symbol, day)] = number
    return PriceHistory(
        closes={s: days for s, days in closes.items() if days}, source=source, lines=lines
    )


def _check_new(
    lines: dict[tuple[str, date], int], symbol: str, day: date, number: int, source: str
) -> None:
    first = lines.get((symbol, day))
    if first is not None:
        raise InvalidInputError(
            f"line {number}: {symbol} on {day} appears again (first on line {first})", source
        )
    lines[(symbol, day)] = number


def _day(text: str, where: str, source: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"{where}: {text!r} is not a date (YYYY-MM-DD)", source) from None
    _check_session(day, where, source)
    return day


def _check_session(day: date, where: str, source: str) -> None:
    if not is_session(day):
        why = day.strftime("%A") if day.weekday() >= 5 else "an NYSE holiday"
        raise InvalidInputError(f"{where}: {day} is not an NYSE session ({why})", source)


def _symbol(text: str, where: str, source: str) -> str:
    try:
        return _SYMBOL.validate_python(text)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInputError(f"{where}: {reason}", source) from None


def _price(text: str, name: str, where: str, source: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInputError(f"{where}: {name} {text!r} is not a number", source) from None
    if not value.is_finite() or value <= 0:
        raise InvalidInputError(f"{where}: {name} {text.strip()} is not a positive price", source)
    return value
