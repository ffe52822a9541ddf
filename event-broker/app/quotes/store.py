"""The quote recorder's SQLite file: ticks written in batches, read for arrival prices.

One table, ``quotes`` (time, symbol, bid, ask and sizes; prices as decimal text), indexed by
time. The recorder writes it through ``QuoteWriter``: ticks wait in a bounded
buffer (the oldest are dropped, and counted, when the writer falls that far behind, so memory
never grows with the feed) and a thread of its own writes them in batches, one transaction
each, in WAL mode with ``synchronous=NORMAL`` (a tick lost in a power cut costs nothing: it is
a statistic, not a record of money). ``prune`` deletes what is older than the retention.
Workers read it through ``QuoteReader`` (``latest``, ``spreads``: recent windows) on their
own connection.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from broker_connector_base import QuoteTick
from broker_connector_base.execution import BPS
from broker_connector_base.sqlite_files import connect_wal

__all__ = ["QuoteReader", "QuoteWriter", "RecordedQuote", "SpreadStats"]

logger = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS quotes (at REAL NOT NULL, symbol TEXT NOT NULL, bid TEXT,"
    " ask TEXT, bid_size INTEGER, ask_size INTEGER, delayed INTEGER NOT NULL DEFAULT 0)",
    # By time only: ticks arrive in time order, so the index grows at its end (an index on
    # (symbol, time) takes every tick at a scattered place: half the write rate, measured);
    # every read is of a recent window, and the retention deletes by time.
    "CREATE INDEX IF NOT EXISTS quotes_by_time ON quotes (at)",
)
_INSERT = (
    "INSERT INTO quotes (at, symbol, bid, ask, bid_size, ask_size, delayed)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_BUSY_TIMEOUT_SECS = 10.0


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _row(tick: QuoteTick) -> tuple[object, ...]:
    bid, ask = _text(tick.bid), _text(tick.ask)
    return (tick.at, tick.symbol, bid, ask, tick.bid_size, tick.ask_size, int(tick.delayed))


class QuoteWriter:
    """Batches ticks into ``path`` from a thread of its own.

    Args:
        path: The SQLite file (created with its directory).
        batch_size: Most ticks per transaction.
        max_buffered: Most ticks held in memory; beyond it the oldest are dropped (counted in
            ``dropped``).
        flush_secs: Longest a tick waits in the buffer.
    """

    def __init__(
        self,
        path: Path,
        *,
        batch_size: int = 5000,
        max_buffered: int = 200_000,
        flush_secs: float = 0.5,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.batch_size = batch_size
        self.flush_secs = flush_secs
        self.written = 0
        self.dropped = 0
        self._buffer: deque[QuoteTick] = deque(maxlen=max_buffered)
        self._wake = threading.Event()
        self._stopping = False
        self._conn = connect_wal(path, timeout_secs=_BUSY_TIMEOUT_SECS, check_same_thread=False)
        self._conn.execute("PRAGMA synchronous = NORMAL")
        with self._conn:
            for statement in _SCHEMA:
                self._conn.execute(statement)
        self._thread = threading.Thread(target=self._run, name="quote-writer", daemon=True)
        self._thread.start()

    def add(self, ticks: Sequence[QuoteTick]) -> None:
        """Hand ticks to the writer (never blocks; the oldest go when the buffer is full)."""
        room = (self._buffer.maxlen or 0) - len(self._buffer)
        if len(ticks) > room:
            self.dropped += len(ticks) - max(room, 0)
        self._buffer.extend(ticks)
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    @property
    def buffered(self) -> int:
        """Ticks waiting to be written."""
        return len(self._buffer)

    def _take(self) -> list[tuple[object, ...]]:
        # Only this thread takes from the buffer, so ``count`` ticks are there to take.
        count = min(self.batch_size, len(self._buffer))
        take = self._buffer.popleft
        return [_row(take()) for _ in range(count)]

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_secs)
            self._wake.clear()
            while rows := self._take():
                self._write(rows)
            if self._stopping:
                return

    def _write(self, rows: list[tuple[object, ...]]) -> None:
        try:
            with self._conn:
                self._conn.executemany(_INSERT, rows)
            self.written += len(rows)
        except sqlite3.Error as exc:
            self.dropped += len(rows)
            logger.error("Quote store %s: %d ticks not written: %s", self.path, len(rows), exc)

    def prune(self, older_than_secs: float) -> int:
        """Delete ticks older than ``older_than_secs``; returns how many."""
        cutoff = time.time() - older_than_secs
        with sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECS) as conn:
            deleted = conn.execute("DELETE FROM quotes WHERE at < ?", (cutoff,)).rowcount
        conn.close()
        return deleted

    def close(self) -> None:
        """Write what is buffered, then stop the thread and close the file."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._conn.close()


@dataclass(frozen=True)
class RecordedQuote:
    """The newest recorded tick of a symbol."""

    at: float
    bid: Decimal | None
    ask: Decimal | None


class QuoteReader:
    """Reads the recorder's file (a missing or unreadable file reads as no quotes: the
    recorder is optional, and its absence must never stop a run)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _rows(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        if not self.path.exists():
            return []
        try:
            conn = sqlite3.connect(self.path, timeout=2.0)
        except sqlite3.Error as exc:
            logger.warning("Quote store %s not readable: %s", self.path, exc)
            return []
        try:
            conn.execute("PRAGMA query_only = ON")
            return list(conn.execute(sql, tuple(params)))
        except sqlite3.Error as exc:
            logger.warning("Quote store %s not readable: %s", self.path, exc)
            return []
        finally:
            conn.close()

    def latest(self, symbols: Iterable[str], since: float) -> dict[str, RecordedQuote]:
        """The newest live tick of each symbol that has one since ``since`` (Unix seconds;
        delayed ticks are as old as their delay, whatever their time)."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        rows = self._rows(
            f"SELECT symbol, at, bid, ask FROM quotes WHERE at >= ? AND symbol IN ({marks})"
            " AND delayed = 0 ORDER BY at",
            [since, *wanted],
        )
        # In time order: each symbol's newest tick is the last one kept.
        return {
            str(symbol): RecordedQuote(
                float(str(at)),
                None if bid is None else Decimal(str(bid)),
                None if ask is None else Decimal(str(ask)),
            )
            for symbol, at, bid, ask in rows
        }

    def spreads(self, since: float) -> list[SpreadStats]:
        """Each recorded symbol's spread statistics over its ticks since ``since``, by symbol.

        Spreads are in basis points of the midpoint, over two-sided ticks with a positive bid
        and an ask at or above it (others are counted as ticks, not as spreads).
        """
        rows = self._rows(
            "SELECT symbol, at, bid, ask FROM quotes WHERE at >= ? ORDER BY at", [since]
        )
        spreads: dict[str, list[Decimal]] = {}
        ticks: dict[str, int] = {}
        last: dict[str, RecordedQuote] = {}
        for symbol_value, at, bid_text, ask_text in rows:
            symbol = str(symbol_value)
            bid = None if bid_text is None else Decimal(str(bid_text))
            ask = None if ask_text is None else Decimal(str(ask_text))
            ticks[symbol] = ticks.get(symbol, 0) + 1
            last[symbol] = RecordedQuote(float(str(at)), bid, ask)
            values = spreads.setdefault(symbol, [])
            if bid is not None and ask is not None and bid > 0 and ask >= bid:
                values.append((ask - bid) / ((ask + bid) / 2) * 10_000)
        return [
            SpreadStats(symbol, ticks[symbol], *_median_p90(spreads[symbol]), last[symbol])
            for symbol in sorted(ticks)
        ]


@dataclass(frozen=True)
class SpreadStats:
    """A symbol's recorded spreads: ticks, median and 90th percentile (bps; ``None`` without
    a two-sided tick), and its newest tick."""

    symbol: str
    ticks: int
    median_bps: Decimal | None
    p90_bps: Decimal | None
    last: RecordedQuote


def _median_p90(values: list[Decimal]) -> tuple[Decimal | None, Decimal | None]:
    if not values:
        return None, None
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return Decimal(statistics.median(ordered)).quantize(BPS), p90.quantize(BPS)
