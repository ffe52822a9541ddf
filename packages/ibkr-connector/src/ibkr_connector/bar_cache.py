"""Daily bars that outlive the process (SQLite under the data directory), for backtests.

Per symbol the cache holds one unbroken series of complete days, ``first_day`` (the first day
asked for: a fund may start trading later) to ``last_day``, and the New York day it was last
checked against the gateway (``checked_on``). The current day's bar is never stored: it is not
complete, and IB may still correct it. The bars are IB's ``ADJUSTED_LAST`` bars
(``_bars.DailyBars`` says why and how a dividend's adjustment is noticed). Safe for several
processes at once (WAL mode, a busy timeout, one short transaction per call); a cache that
cannot be read or written costs requests, never correctness.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from broker_connector_base import DailyBar
from broker_connector_base.sqlite_files import connect_wal, transaction

__all__ = ["BarCache", "CachedSeries"]

logger = logging.getLogger(__name__)

_BUSY_TIMEOUT_SECS = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    symbol TEXT PRIMARY KEY,
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    checked_on TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bars (
    symbol TEXT NOT NULL,
    day TEXT NOT NULL,
    open TEXT NOT NULL, high TEXT NOT NULL, low TEXT NOT NULL, close TEXT NOT NULL,
    volume INTEGER,
    PRIMARY KEY (symbol, day)
);
"""


@dataclass(frozen=True)
class CachedSeries:
    """What the cache holds of one symbol: every complete day from ``first_day`` to
    ``last_day`` (the bars of those days, none where IB has none), checked on ``checked_on``."""

    first_day: dt.date
    last_day: dt.date
    checked_on: dt.date


@dataclass
class BarCache:
    """Daily bars by symbol; in memory when ``path`` is ``None``, else in a SQLite file.

    Args:
        path: The SQLite file (created with its directory), or ``None`` for memory only.
    """

    path: Path | None
    _series: dict[str, CachedSeries] = field(default_factory=dict, init=False)
    _bars: dict[str, list[DailyBar]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = connect_wal(self.path, timeout_secs=_BUSY_TIMEOUT_SECS)
            with contextlib.closing(db), db:
                db.executescript(_SCHEMA)

    def series(self, symbol: str) -> CachedSeries | None:
        """What is cached of ``symbol`` (``None``: nothing, or the file cannot be read)."""
        if self.path is None:
            return self._series.get(symbol)
        try:
            with self._connect() as db:
                row = db.execute(
                    "SELECT first_day, last_day, checked_on FROM series WHERE symbol = ?",
                    (symbol,),
                ).fetchone()
        except sqlite3.Error as exc:
            logger.warning("Bar cache %s not readable: %s", self.path, exc)
            return None
        if row is None:
            return None
        first, last, checked = (dt.date.fromisoformat(v) for v in row)
        return CachedSeries(first, last, checked)

    def last_bar_day(self, symbol: str) -> dt.date | None:
        """The day of the latest cached bar of ``symbol`` (``None``: none cached)."""
        if self.path is None:
            held = self._bars.get(symbol)
            return held[-1].date if held else None
        try:
            with self._connect() as db:
                (day,) = db.execute(
                    "SELECT MAX(day) FROM bars WHERE symbol = ?", (symbol,)
                ).fetchone()
        except sqlite3.Error as exc:
            logger.warning("Bar cache %s not readable: %s", self.path, exc)
            return None
        return None if day is None else dt.date.fromisoformat(day)

    def bars(self, symbol: str, first: dt.date, last: dt.date) -> list[DailyBar]:
        """The cached bars of ``symbol`` from ``first`` to ``last``, by date."""
        if self.path is None:
            return [b for b in self._bars.get(symbol, []) if first <= b.date <= last]
        try:
            with self._connect() as db:
                rows = db.execute(
                    "SELECT day, open, high, low, close, volume FROM bars "
                    "WHERE symbol = ? AND day >= ? AND day <= ? ORDER BY day",
                    (symbol, first.isoformat(), last.isoformat()),
                ).fetchall()
        except sqlite3.Error as exc:
            logger.warning("Bar cache %s not readable: %s", self.path, exc)
            return []
        return [
            DailyBar(
                symbol=symbol,
                date=dt.date.fromisoformat(day),
                open=Decimal(open_),
                high=Decimal(high),
                low=Decimal(low),
                close=Decimal(close),
                volume=volume,
            )
            for day, open_, high, low, close, volume in rows
        ]

    def store(
        self,
        symbol: str,
        bars: Sequence[DailyBar],
        series: CachedSeries,
        *,
        replace: bool,
    ) -> None:
        """Store ``bars`` (complete days only: the caller's duty) and the series they make.

        Args:
            symbol: The symbol.
            bars: Bars to add (or to store instead of every cached bar, with ``replace``).
            series: What the cache holds of ``symbol`` afterwards.
            replace: Drop every cached bar of ``symbol`` first (its history was adjusted).
        """
        if self.path is None:
            kept = [] if replace else self._bars.get(symbol, [])
            merged = {b.date: b for b in [*kept, *bars]}
            self._bars[symbol] = [merged[d] for d in sorted(merged)]
            self._series[symbol] = series
            return
        rows = [
            (symbol, b.date.isoformat(), *map(str, (b.open, b.high, b.low, b.close)), b.volume)
            for b in bars
        ]
        try:
            with self._connect() as db:
                if replace:
                    db.execute("DELETE FROM bars WHERE symbol = ?", (symbol,))
                db.executemany("INSERT OR REPLACE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                db.execute(
                    "INSERT OR REPLACE INTO series VALUES (?, ?, ?, ?)",
                    (
                        symbol,
                        series.first_day.isoformat(),
                        series.last_day.isoformat(),
                        series.checked_on.isoformat(),
                    ),
                )
        except sqlite3.Error as exc:
            logger.warning("Bar cache %s not updated: %s", self.path, exc)

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        assert self.path is not None
        return transaction(self.path, timeout_secs=_BUSY_TIMEOUT_SECS)
