"""Fresh quotes shared by every process on one IB gateway, fetched once at a time.

When a signal arrives the daemon starts one worker per account, and every worker's execution
round asks for a fresh snapshot of the same symbols within a second or two: ten accounts on
one strategy sent ten snapshot requests per symbol through one gateway-wide message window
(``gateway_pacing``), about half of all their messages. Here a quote a sibling process took
moments ago serves instead, when it is

* at most ``max_age_secs`` old, and
* taken strictly after this client's own previous quote of that contract, so a run's later
  round never re-reads its own (or an older) quote: a run alone gets a new snapshot every
  round, exactly as without sharing; only a sibling's newer quote is reused.

Single flight: reading the shared quotes, requesting the missing ones and storing them happen
under an exclusive ``fcntl.flock`` on a lock file of the gateway (``data_dir``, keyed by host
and port), so a worker arriving while another fetches waits for it and then finds its quotes.
The wait is bounded; a timeout, a lock or cache error only means requesting the quotes
oneself (with a warning): the cache costs speed, never a run.

Quotes are keyed by IB contract id (two strategies may pin one ticker to two securities) and by
the market data type the client asks for (a client asking for live data never gets a quote
taken under a delayed-data setting). Prices are stored as text (exact ``Decimal``); times are
the wall clock (``time.time``), compared only between processes of one machine.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from broker_connector_base import ContractPrice
from broker_connector_base.sqlite_files import connect_wal, transaction
from ib_async import Contract

from ibkr_connector._gateway_lock import LockUnavailable, gateway_file, holding

__all__ = ["Quote", "SharedQuotes", "shared_quote_paths"]

logger = logging.getLogger(__name__)

_BUSY_TIMEOUT_SECS = 2.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS quotes (
    con_id INTEGER NOT NULL,
    data_type INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    bid TEXT, ask TEXT, last TEXT, close TEXT,
    received_type INTEGER NOT NULL,
    taken_at REAL NOT NULL,
    PRIMARY KEY (con_id, data_type)
)
"""

_PRICE_FIELDS = ("bid", "ask", "last", "close")


@dataclass(frozen=True)
class Quote:
    """A snapshot quote and the market data type IB sent it as (1 live ... 4 delayed frozen)."""

    price: ContractPrice
    data_type: int


@dataclass(frozen=True)
class _Row:
    quote: Quote
    taken_at: float


RequestQuotes = Callable[[dict[str, Contract]], Awaitable[dict[str, Quote]]]
"""Requests snapshot quotes of contracts by symbol from the gateway (all of them, or raises)."""


def shared_quote_paths(data_dir: Path, host: str, port: int) -> tuple[Path, Path]:
    """The shared quote file and its lock file of the gateway at ``host``:``port``."""
    return (
        gateway_file(data_dir, "quotes", host, port, ".sqlite3"),
        gateway_file(data_dir, "quotes", host, port, ".lock"),
    )


class SharedQuotes:
    """Quotes of one gateway shared among the processes that use ``path`` and ``lock_path``.

    Args:
        path: The SQLite file (created with its directory).
        lock_path: The lock file serialising fetches (created when missing).
        max_age_secs: How old a sibling's quote may be to serve (> 0).
        data_type: The market data type this client asks IB for (``reqMarketDataType``).
        lock_timeout_secs: How long to wait for another process's fetch before fetching anyway.
        clock: Wall-clock seconds (``time.time``); tests pass their own.
    """

    def __init__(
        self,
        path: Path,
        lock_path: Path,
        *,
        max_age_secs: float,
        data_type: int,
        lock_timeout_secs: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.lock_path = lock_path
        self.max_age_secs = max_age_secs
        self.data_type = data_type
        self.lock_timeout_secs = lock_timeout_secs
        self.clock = clock
        # When this client's latest quote of each contract was taken (its own or a sibling's).
        self._own: dict[int, float] = {}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = connect_wal(path, timeout_secs=_BUSY_TIMEOUT_SECS)
            with contextlib.closing(db), db:
                db.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            # Every fetch then requests its quotes itself (and warns again).
            logger.warning("Shared quote cache %s not usable: %s", path, exc)

    async def fetch(
        self, contracts: Mapping[str, Contract], request: RequestQuotes
    ) -> dict[str, Quote]:
        """Quotes of ``contracts`` by symbol: siblings' fresh ones, the rest from ``request``.

        Raises:
            Whatever ``request`` raises (nothing is stored then).
        """
        try:
            async with holding(self.lock_path, self.lock_timeout_secs):
                return await self._fetch(contracts, request)
        except LockUnavailable as exc:
            logger.warning(
                "Shared quotes of %s not used (%s): requesting %d quotes without them",
                self.path,
                exc,
                len(contracts),
            )
        return await self._fetch(contracts, request, share=False)

    async def _fetch(
        self, contracts: Mapping[str, Contract], request: RequestQuotes, *, share: bool = True
    ) -> dict[str, Quote]:
        shared = self._usable(contracts) if share else {}
        missing = {s: c for s, c in contracts.items() if s not in shared}
        fetched = await request(missing) if missing else {}
        taken_at = self.clock()
        self._store(missing, fetched, taken_at)
        quotes: dict[str, Quote] = {}
        for symbol, row in shared.items():
            self._own[contracts[symbol].conId] = row.taken_at
            quotes[symbol] = row.quote
        for symbol, quote in fetched.items():
            self._own[contracts[symbol].conId] = taken_at
            quotes[symbol] = quote
        logger.debug(
            "Quotes for %d symbols: %d shared by another client of the gateway, %d requested",
            len(quotes),
            len(shared),
            len(fetched),
        )
        return quotes

    def _usable(self, contracts: Mapping[str, Contract]) -> dict[str, _Row]:
        """The stored quotes a sibling took recently, after this client's own, by symbol."""
        by_id = {c.conId: s for s, c in contracts.items() if c.conId}
        if not by_id:
            return {}
        try:
            rows = self._load(list(by_id))
        except (sqlite3.Error, ArithmeticError, ValueError) as exc:
            logger.warning("Shared quote cache %s not readable: %s", self.path, exc)
            return {}
        now = self.clock()
        usable: dict[str, _Row] = {}
        for con_id, row in rows.items():
            age = now - row.taken_at
            if 0 <= age <= self.max_age_secs and row.taken_at > self._own.get(con_id, -1.0):
                symbol = by_id[con_id]
                price = row.quote.price.model_copy(update={"symbol": symbol})
                usable[symbol] = _Row(Quote(price, row.quote.data_type), row.taken_at)
        return usable

    def _load(self, con_ids: list[int]) -> dict[int, _Row]:
        marks = ",".join("?" * len(con_ids))
        with transaction(self.path, timeout_secs=_BUSY_TIMEOUT_SECS) as db:
            found = db.execute(
                f"SELECT con_id, symbol, bid, ask, last, close, received_type, taken_at "
                f"FROM quotes WHERE data_type = ? AND con_id IN ({marks})",
                [self.data_type, *con_ids],
            ).fetchall()
        rows: dict[int, _Row] = {}
        for con_id, symbol, bid, ask, last, close, received, taken_at in found:
            price = ContractPrice(
                symbol=symbol, bid=_dec(bid), ask=_dec(ask), last=_dec(last), close=_dec(close)
            )
            rows[int(con_id)] = _Row(Quote(price, int(received)), float(taken_at))
        return rows

    def _store(
        self, contracts: Mapping[str, Contract], quotes: Mapping[str, Quote], taken_at: float
    ) -> None:
        rows = [
            (
                contracts[symbol].conId,
                self.data_type,
                symbol,
                *(_text(getattr(quote.price, name)) for name in _PRICE_FIELDS),
                quote.data_type,
                taken_at,
            )
            for symbol, quote in quotes.items()
            if contracts[symbol].conId
        ]
        if not rows:
            return
        try:
            with transaction(self.path, timeout_secs=_BUSY_TIMEOUT_SECS) as db:
                db.executemany(
                    "INSERT OR REPLACE INTO quotes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error as exc:
            logger.warning("Shared quote cache %s not updated: %s", self.path, exc)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
