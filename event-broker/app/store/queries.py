"""Read-only queries on the journal for the HTTP API and the run feed.

``JournalReader`` holds its own read-only connections (``query_only``), apart from the
``Journal`` that writes, so ``data_version`` changes whenever anyone commits, this daemon
included: the API caches what it built from the journal until then. Each thread gets a
connection of its own (made on its first query, closed once the thread has ended), so a
report built in a worker thread never waits for, or makes wait, the event loop's queries.
Decimals stay decimal text until the API's models parse them; nothing here turns money into
a float.

The snapshot reads (``snapshot_values``, ``latest_snapshot``, ``cash_flows``,
``recent_runs``) are ``Journal``'s, on this reader's connection: ``account_report`` takes
either; inside ``read_transaction`` they all see one state of the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from app.snapshots.model import PortfolioSnapshot
from app.store import snapshots as stored
from app.store.journal import JournalOrder
from app.store.snapshots import CashFlow, RunSummary, SnapshotValue

__all__ = [
    "EventRow",
    "JournalReader",
    "RunRow",
    "RunSource",
    "source_of_channel",
]

_BUSY_TIMEOUT_SECS = 5.0

RunSource = Literal["api", "cli", "signal", "unknown"]

# Channels the daemon itself writes events under; any other channel is a strategy's signal.
_OWN_CHANNELS: dict[str, RunSource] = {"api": "api", "manual": "cli"}

_RUN_COLUMNS = (
    "runs.run_id, runs.account_id, runs.mode, runs.started_at, runs.finished_at, runs.status,"
    " runs.error, runs.total_value, runs.cash_balance, runs.warnings, events.channel,"
    " (SELECT COUNT(*) FROM orders WHERE orders.run_id = runs.run_id) AS order_count"
)
_RUN_FROM = " FROM runs LEFT JOIN events ON events.id = runs.event_row"


def source_of_channel(channel: str | None) -> RunSource:
    """``api``, ``cli``, ``signal`` (a strategy's channel) or ``unknown`` (no event row)."""
    if channel is None:
        return "unknown"
    return _OWN_CHANNELS.get(channel, "signal")


@dataclass(frozen=True)
class RunRow:
    """One run as journalled; ``status`` is ``None`` while it runs (or if it never ended)."""

    run_id: str
    account_id: str
    mode: str
    started_at: str
    finished_at: str | None
    status: str | None
    error: str | None
    total_value: str | None
    cash_balance: str | None
    warnings: str | None
    channel: str | None
    order_count: int

    @property
    def source(self) -> RunSource:
        """Who started the run (``source_of_channel``)."""
        return source_of_channel(self.channel)


@dataclass(frozen=True)
class EventRow:
    """One journalled event (a signal, a CLI or API trigger)."""

    id: int
    event_id: str | None
    channel: str
    payload: str
    received_at: str
    outcome: str | None


class JournalReader:
    """Queries on the journal file; one per process, callable from any thread.

    Args:
        path: The journal file (created by ``Journal`` before this opens it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._closed = False
        self._connection()  # the opening thread's: a missing file fails here, not later

    def __repr__(self) -> str:
        return f"JournalReader({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError(f"{self!r} is closed")
            # Threads come and go (thread pools): their connections go with them.
            for thread in [t for t in self._connections if not t.is_alive()]:
                self._connections.pop(thread).close()
            conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_SECS, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only = ON")
            self._connections[threading.current_thread()] = conn
        self._local.conn = conn
        return conn

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return list(self._connection().execute(sql, params))

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Every query of this thread inside the block reads one state of the journal."""
        conn = self._connection()
        if conn.in_transaction:  # nested: the outer block already holds the read snapshot
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def data_version(self) -> int:
        """A number that changes whenever any connection commits to the journal.

        Compare only numbers read on one thread: each thread's connection counts its own.
        """
        (version,) = self._connection().execute("PRAGMA data_version").fetchone()
        return int(version)

    def runs(
        self, *, account_id: str | None = None, limit: int = 50, before: str | None = None
    ) -> list[RunRow]:
        """Runs newest first; ``before`` is a ``started_at`` to page from (exclusive)."""
        where, params = [], []
        if account_id is not None:
            where.append("runs.account_id = ?")
            params.append(account_id)
        if before is not None:
            where.append("runs.started_at < ?")
            params.append(before)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._rows(
            f"SELECT {_RUN_COLUMNS}{_RUN_FROM}{clause}"
            " ORDER BY runs.started_at DESC, runs.rowid DESC LIMIT ?",
            (*params, max(0, limit)),
        )
        return [_run_row(row) for row in rows]

    def run(self, run_id: str) -> RunRow | None:
        """The run ``run_id``, or ``None``."""
        rows = self._rows(f"SELECT {_RUN_COLUMNS}{_RUN_FROM} WHERE runs.run_id = ?", (run_id,))
        return _run_row(rows[0]) if rows else None

    def result_json(self, run_id: str) -> str | None:
        """The run's result document (``AccountExecutionResult``), once it ended."""
        rows = self._rows("SELECT result_json FROM runs WHERE run_id = ?", (run_id,))
        return rows[0]["result_json"] if rows else None

    def orders(self, run_id: str) -> list[JournalOrder]:
        """The orders a run recorded, in the order they were first recorded."""
        rows = self._rows("SELECT * FROM orders WHERE run_id = ? ORDER BY seq", (run_id,))
        return [JournalOrder.from_row(row) for row in rows]

    def latest_run(
        self, account_id: str, *, mode: str | None = None, status: str | None = None
    ) -> RunRow | None:
        """The account's newest run (of ``mode``, with ``status`` when given)."""
        where, params = ["runs.account_id = ?"], [account_id]
        if mode is not None:
            where.append("runs.mode = ?")
            params.append(mode)
        if status is not None:
            where.append("runs.status = ?")
            params.append(status)
        rows = self._rows(
            f"SELECT {_RUN_COLUMNS}{_RUN_FROM} WHERE {' AND '.join(where)}"
            " ORDER BY runs.started_at DESC, runs.rowid DESC LIMIT 1",
            tuple(params),
        )
        return _run_row(rows[0]) if rows else None

    def latest_strategy_preview(self, account_id: str) -> RunRow | None:
        """The account's newest successful preview against its strategy's own targets.

        Previews the API ran with allocations given in the request (the event's payload has
        ``allocations``) are left out: their drift is against other targets.
        """
        rows = self._rows(
            f"SELECT {_RUN_COLUMNS}{_RUN_FROM} WHERE runs.account_id = ?"
            " AND runs.mode = 'print-rebalance' AND runs.status = 'succeeded'"
            " AND NOT (events.channel = 'api' AND json_valid(events.payload)"
            " AND json_type(events.payload, '$.allocations') IS NOT NULL)"
            " ORDER BY runs.started_at DESC, runs.rowid DESC LIMIT 1",
            (account_id,),
        )
        return _run_row(rows[0]) if rows else None

    def events(self, *, limit: int = 50, before_id: int | None = None) -> list[EventRow]:
        """Events newest first; ``before_id`` pages on (exclusive)."""
        clause, params = ("WHERE id < ?", (before_id,)) if before_id is not None else ("", ())
        rows = self._rows(
            f"SELECT id, event_id, channel, payload, received_at, outcome FROM events {clause}"
            " ORDER BY id DESC LIMIT ?",
            (*params, max(0, limit)),
        )
        return [EventRow(**dict(row)) for row in rows]

    def last_signal(self) -> EventRow | None:
        """The newest event that came from a strategy's channel (not the CLI or the API)."""
        marks = ", ".join("?" for _ in _OWN_CHANNELS)
        rows = self._rows(
            "SELECT id, event_id, channel, payload, received_at, outcome FROM events"
            f" WHERE channel NOT IN ({marks}) AND payload != '' ORDER BY id DESC LIMIT 1",
            tuple(_OWN_CHANNELS),
        )
        return EventRow(**dict(rows[0])) if rows else None

    def channel_of_event(self, event_row: int) -> str | None:
        """The channel of the event in row ``event_row``."""
        rows = self._rows("SELECT channel FROM events WHERE id = ?", (event_row,))
        return str(rows[0]["channel"]) if rows else None

    # -- snapshots (the same reads as ``Journal``'s, for ``account_report``) --------------------

    def snapshot_values(self, account_id: str, *, since: date | None = None) -> list[SnapshotValue]:
        """Every snapshot of ``account_id`` from New York day ``since`` on, oldest first."""
        return stored.snapshot_values(self._connection(), account_id, since)

    def latest_snapshot(self, account_id: str) -> PortfolioSnapshot | None:
        """The most recent snapshot of ``account_id``, with positions and targets."""
        return stored.latest_snapshot(self._connection(), account_id)

    def snapshot_run_id(self, account_id: str) -> str | None:
        """The run that took ``account_id``'s most recent snapshot (``latest_snapshot``'s)."""
        rows = self._rows(
            "SELECT run_id FROM snapshots WHERE account_id = ?"
            " ORDER BY taken_at DESC, id DESC LIMIT 1",
            (account_id,),
        )
        return str(rows[0]["run_id"]) if rows else None

    def cash_flows(self, account_id: str, *, since: date | None = None) -> list[CashFlow]:
        """Deposits and withdrawals found for ``account_id``, dated ``since`` or later."""
        return stored.cash_flows(self._connection(), account_id, since)

    def recent_runs(self, account_id: str, *, limit: int = 10) -> list[RunSummary]:
        """The ``limit`` most recent runs of ``account_id``, newest first."""
        return stored.recent_runs(self._connection(), account_id, limit)

    def last_snapshot_times(self) -> dict[str, datetime]:
        """When each account's newest snapshot was taken."""
        rows = self._rows(
            "SELECT account_id, MAX(taken_at) AS taken_at FROM snapshots GROUP BY account_id"
        )
        return {str(row["account_id"]): datetime.fromisoformat(row["taken_at"]) for row in rows}

    def close(self) -> None:
        """Close every thread's connection (idempotent); no query may follow."""
        with self._lock:
            self._closed = True
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            conn.close()


def _run_row(row: sqlite3.Row) -> RunRow:
    values: dict[str, Any] = dict(row)
    return RunRow(**values)
