"""Contract details by symbol that outlive the process (SQLite under the data directory).

Every run checks liquid hours and needs each symbol's contract (conId) for quotes and orders;
looking them up costs one gateway request per symbol, against IB's limit of 50 messages per
second. Contract ids do not change within a day and liquid hours are announced per day, so
an entry serves the hours check only on the exchange day it was fetched (by the gateway's
clock), and quotes and orders for at most ``ttl_secs``. Safe for several processes at once
(WAL mode, a busy timeout, one short transaction per call); a cache that cannot be read or
written costs speed, never correctness.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from broker_connector_base import InvalidInputError
from broker_connector_base.sqlite_files import connect_wal, transaction
from ib_async import Contract, ContractDetails

from ibkr_connector.translation import exchange_zone

__all__ = ["CachedContract", "ContractCache"]

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


class ContractCache:
    """Contract details by symbol; in memory when ``path`` is ``None``, else in a SQLite file.

    Args:
        path: The SQLite file (created with its directory), or ``None`` for memory only.
        ttl_secs: How long an entry serves quotes and orders; 0 disables the cache.
    """

    def __init__(self, path: Path | None, ttl_secs: float) -> None:
        self.path = path
        self.ttl_secs = ttl_secs
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
        except sqlite3.Error as exc:
            logger.warning("Contract cache %s not readable: %s", self.path, exc)
            return {}
        return {row[0]: _entry(row) for row in rows}

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
    return CachedContract(details, dt.datetime.fromisoformat(str(fetched_at)))
