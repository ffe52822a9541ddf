"""Quote cache with a time-to-live that outlives the process (SQLite under the data directory).

Each rebalance runs in its own process, so an in-memory cache would never serve the next
preview; a small SQLite file does, and it is safe for several processes at once (WAL mode, a
busy timeout, one short transaction per call).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from broker_connector_base import ContractPrice
from broker_connector_base.sqlite_files import connect_wal, transaction

from ibkr_connector.models import CachedPrice

__all__ = ["PriceCache"]

logger = logging.getLogger(__name__)

_BUSY_TIMEOUT_SECS = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prices (
    symbol TEXT PRIMARY KEY,
    bid TEXT, ask TEXT, last TEXT, close TEXT,
    cached_at TEXT NOT NULL
)
"""


class PriceCache:
    """Fresh quotes by symbol; in memory when ``path`` is ``None``, else in a SQLite file.

    Args:
        path: The SQLite file (created with its directory), or ``None`` for memory only.
        ttl_secs: How long a quote stays usable.
    """

    def __init__(self, path: Path | None, ttl_secs: float) -> None:
        self.path = path
        self.ttl_secs = ttl_secs
        self._memory: dict[str, CachedPrice] = {}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = connect_wal(path, timeout_secs=_BUSY_TIMEOUT_SECS)
            with contextlib.closing(db), db:
                db.execute(_SCHEMA)

    def get_fresh(self, symbols: Sequence[str], now: dt.datetime) -> dict[str, CachedPrice]:
        """The cached quotes of ``symbols`` no older than the TTL."""
        if self.ttl_secs <= 0 or not symbols:
            return {}
        found = self._load(symbols)
        return {s: c for s, c in found.items() if 0 <= c.age_secs(now) <= self.ttl_secs}

    def put(self, prices: Iterable[ContractPrice], now: dt.datetime) -> None:
        """Store quotes taken at ``now``."""
        entries = [CachedPrice(price=p, cached_at=now) for p in prices]
        if self.path is None:
            self._memory.update((e.price.symbol, e) for e in entries)
            return
        rows = [
            (
                e.price.symbol,
                *(_text(v) for v in (e.price.bid, e.price.ask, e.price.last, e.price.close)),
                e.cached_at.isoformat(),
            )
            for e in entries
        ]
        try:
            with self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO prices VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            # A cache that cannot be written costs speed, never correctness.
            logger.warning("Price cache %s not updated: %s", self.path, exc)

    def _load(self, symbols: Sequence[str]) -> dict[str, CachedPrice]:
        if self.path is None:
            return {s: self._memory[s] for s in symbols if s in self._memory}
        marks = ",".join("?" * len(symbols))
        try:
            with self._connect() as db:
                rows = db.execute(
                    f"SELECT symbol, bid, ask, last, close, cached_at FROM prices "
                    f"WHERE symbol IN ({marks})",
                    list(symbols),
                ).fetchall()
        except sqlite3.Error as exc:
            logger.warning("Price cache %s not readable: %s", self.path, exc)
            return {}
        result: dict[str, CachedPrice] = {}
        for symbol, bid, ask, last, close, cached_at in rows:
            price = ContractPrice(
                symbol=symbol, bid=_dec(bid), ask=_dec(ask), last=_dec(last), close=_dec(close)
            )
            result[symbol] = CachedPrice(
                price=price, cached_at=dt.datetime.fromisoformat(cached_at)
            )
        return result

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        assert self.path is not None
        return transaction(self.path, timeout_secs=_BUSY_TIMEOUT_SECS)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
