"""Contract details by symbol that outlive the process (SQLite under the data directory).

Every run checks liquid hours and needs each symbol's contract (conId) for quotes and orders;
looking them up costs one gateway request per symbol, against IB's limit of 50 messages per
second. Contract ids do not change within a day and liquid hours are announced per day, so
an entry serves the hours check only on the exchange day it was fetched (by the gateway's
clock), and quotes and orders for at most ``ttl_secs``. Safe for several processes at once
(WAL mode, a busy timeout, one short transaction per call); a cache that cannot be read or
written costs speed, never correctness.

Single flight (``look_up``): when a signal starts one worker per account, every worker's first
run of the day misses the cache for the same symbols at the same moment. Checking the cache,
looking up what is missing and storing it happen under an exclusive lock of the gateway
(``lock_path``), so a worker arriving while another looks up waits for it and then finds the
details stored. The wait is bounded; a timeout or a lock error only means looking up oneself
(with a warning).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from broker_connector_base import InvalidInputError
from broker_connector_base.sqlite_files import connect_wal, transaction
from ib_async import Contract, ContractDetails

from ibkr_connector._gateway_lock import LockUnavailable, holding
from ibkr_connector.translation import exchange_zone

__all__ = ["CachedContract", "ContractCache", "RequestDetails"]

logger = logging.getLogger(__name__)

_BUSY_TIMEOUT_SECS = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS contracts (
    symbol TEXT PRIMARY KEY,
    con_id INTEGER NOT NULL,
    sec_type TEXT NOT NULL, exchange TEXT NOT NULL, primary_exchange TEXT NOT NULL,
    currency TEXT NOT NULL, local_symbol TEXT NOT NULL, trading_class TEXT NOT NULL,
    time_zone_id TEXT NOT NULL, liquid_hours TEXT NOT NULL,
    fetched_at TEXT NOT NULL
)
"""

_COLUMNS = (
    "symbol, con_id, sec_type, exchange, primary_exchange, currency, local_symbol, "
    "trading_class, time_zone_id, liquid_hours, fetched_at"
)


@dataclass(frozen=True)
class CachedContract:
    """Contract details of one symbol and when (by the gateway's clock, if known) they came."""

    details: ContractDetails
    fetched_at: dt.datetime

    def same_exchange_day(self, now: dt.datetime) -> bool:
        """Whether ``now`` is on the exchange day these details were fetched on.

        Days, not instants, are compared: the fetch time may come from the local clock and
        ``now`` from the gateway's, which can differ by seconds (or, for a simulator, days).
        """
        try:
            zone = exchange_zone(self.details.timeZoneId)
        except InvalidInputError:
            return False
        return self.fetched_at.astimezone(zone).date() == now.astimezone(zone).date()

    def younger_than(self, secs: float, now: dt.datetime) -> bool:
        """Whether the entry is at most ``secs`` old at ``now``."""
        return 0 <= (now - self.fetched_at).total_seconds() <= secs

    def serves_lookup(self, secs: float, now: dt.datetime) -> bool:
        """Whether the entry serves a lookup at the gateway's ``now`` for quotes, orders and
        the hours check alike: fetched on the same exchange day, at most ``secs`` apart.

        Either way apart: processes read the gateway's clock each for itself, so a sibling
        that stored its lookup a moment ago may have stamped it a moment after our ``now``.
        """
        return self.same_exchange_day(now) and abs((now - self.fetched_at).total_seconds()) <= secs


RequestDetails = Callable[[list[str]], Awaitable[dict[str, ContractDetails]]]
"""Looks up the contract details of symbols on the gateway (all of them, or raises)."""


class ContractCache:
    """Contract details by symbol; in memory when ``path`` is ``None``, else in a SQLite file.

    Args:
        path: The SQLite file (created with its directory), or ``None`` for memory only.
        ttl_secs: How long an entry serves quotes and orders; 0 disables the cache.
        lock_path: The gateway's lock file serialising lookups (``look_up``) among its
            processes; ``None`` (or a cache in memory) looks up without it.
        lock_timeout_secs: How long to wait for another process's lookup before looking up
            anyway.
    """

    def __init__(
        self,
        path: Path | None,
        ttl_secs: float,
        *,
        lock_path: Path | None = None,
        lock_timeout_secs: float = 30.0,
    ) -> None:
        self.path = path
        self.ttl_secs = ttl_secs
        self.lock_path = lock_path
        self.lock_timeout_secs = lock_timeout_secs
        self._memory: dict[str, CachedContract] = {}
        if path is not None and ttl_secs > 0:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = connect_wal(path, timeout_secs=_BUSY_TIMEOUT_SECS)
                with contextlib.closing(db), db:
                    db.execute(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                logger.warning("Contract cache %s unusable, using memory: %s", path, exc)
                self.path = None

    def get(self, symbols: Sequence[str]) -> dict[str, CachedContract]:
        """The cached entries of ``symbols`` (any age; the caller judges freshness)."""
        if self.ttl_secs <= 0 or not symbols:
            return {}
        if self.path is None:
            return {s: self._memory[s] for s in symbols if s in self._memory}
        marks = ",".join("?" * len(symbols))
        try:
            with self._connect() as db:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM contracts WHERE symbol IN ({marks})", list(symbols)
                ).fetchall()
            return {str(row[0]): _entry(row) for row in rows}
        except (sqlite3.Error, ValueError) as exc:
            logger.warning("Contract cache %s not readable: %s", self.path, exc)
            return {}

    def put(self, details: Mapping[str, ContractDetails], fetched_at: dt.datetime) -> None:
        """Store the details of symbols looked up at ``fetched_at``."""
        if self.ttl_secs <= 0 or not details:
            return
        if self.path is None:
            self._memory.update((s, CachedContract(d, fetched_at)) for s, d in details.items())
            return
        rows = [_row(symbol, d, fetched_at) for symbol, d in details.items() if d.contract]
        try:
            with self._connect() as db:
                db.executemany(
                    f"INSERT OR REPLACE INTO contracts ({_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as exc:
            logger.warning("Contract cache %s not updated: %s", self.path, exc)

    async def look_up(
        self, symbols: Sequence[str], now: dt.datetime, request: RequestDetails
    ) -> dict[str, ContractDetails]:
        """Details of ``symbols``: stored ones that serve a lookup at ``now`` (the gateway's
        clock), the rest from ``request``, stored with ``now`` as their fetch time.

        Under the gateway's lock when the cache is a shared file, so concurrent processes look
        each symbol up once (see the module docstring).

        Raises:
            Whatever ``request`` raises (nothing is stored then).
        """
        if self.path is None or self.lock_path is None or self.ttl_secs <= 0:
            return await self._look_up(symbols, now, request)
        try:
            async with holding(self.lock_path, self.lock_timeout_secs):
                return await self._look_up(symbols, now, request)
        except LockUnavailable as exc:
            logger.warning(
                "Contract lookups of %s not shared (%s): looking up %s without waiting",
                self.lock_path,
                exc,
                ", ".join(symbols),
            )
        return await self._look_up(symbols, now, request)

    async def _look_up(
        self, symbols: Sequence[str], now: dt.datetime, request: RequestDetails
    ) -> dict[str, ContractDetails]:
        found = {
            symbol: entry.details
            for symbol, entry in self.get(symbols).items()
            if entry.serves_lookup(self.ttl_secs, now)
        }
        missing = [s for s in symbols if s not in found]
        if missing:
            fetched = await request(missing)
            self.put(fetched, now)
            found.update(fetched)
        logger.debug(
            "Contract details of %d symbols: %d stored by another lookup, %d looked up",
            len(found),
            len(found) - len(missing),
            len(missing),
        )
        return found

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        assert self.path is not None
        return transaction(self.path, timeout_secs=_BUSY_TIMEOUT_SECS)


def _row(symbol: str, details: ContractDetails, fetched_at: dt.datetime) -> tuple[object, ...]:
    c = details.contract
    assert c is not None
    return (
        symbol,
        c.conId,
        c.secType,
        c.exchange,
        c.primaryExchange,
        c.currency,
        c.localSymbol,
        c.tradingClass,
        details.timeZoneId,
        details.liquidHours,
        fetched_at.isoformat(),
    )


def _entry(row: tuple[object, ...]) -> CachedContract:
    symbol, con_id, sec_type, exchange, primary, currency, local, trading_class = row[:8]
    zone, hours, fetched_at = row[8:]
    contract = Contract(
        secType=str(sec_type),
        conId=int(str(con_id)),
        symbol=str(symbol),
        exchange=str(exchange),
        primaryExchange=str(primary),
        currency=str(currency),
        localSymbol=str(local),
        tradingClass=str(trading_class),
    )
    details = ContractDetails(contract=contract, timeZoneId=str(zone), liquidHours=str(hours))
    when = dt.datetime.fromisoformat(str(fetched_at))
    if when.tzinfo is None:
        raise ValueError(f"fetch time {fetched_at!r} of {symbol} has no time zone")
    return CachedContract(details, when)
