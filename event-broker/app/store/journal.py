"""SQLite journal of events, account runs, orders and portfolio snapshots, shared by the daemon
and its subprocesses.

Every received event is recorded once, by its message id, before anything runs for it: the
events table is also the daemon's de-duplication store (``claim_event``).
Every account run is recorded when it starts, every order as soon as it is known, and the run's
result when it ends. A run without an end is what a crash leaves behind; the daemon lists those
at start (``unfinished_runs``) so an operator can check the orders they placed. A run's
portfolio snapshot, and the cash flow found since the previous one, are stored with its end
(``app.store.snapshots``).

Several processes write the same file (the daemon records events and runs, each per-account
subprocess records its orders), so the database runs in WAL mode with a busy timeout, every
write is one ``BEGIN IMMEDIATE`` transaction, and ``synchronous=FULL`` keeps a committed order
on disk even after a power loss. Money is stored as decimal text, never as a float.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from broker_connector_base import InvalidInputError, Trade
from broker_connector_base.sqlite_files import connect_wal

from app.models import AccountExecutionResult
from app.snapshots.model import PortfolioSnapshot
from app.store import snapshots as stored
from app.store.executions import insert_execution
from app.store.journal_schema import (
    SCHEMA_VERSION,
    backup_before_migration,
    create_schema,
    format_summary,
)
from app.store.orders import JournalOrder, columns, orders_of, record_trading_day, upsert_order
from app.store.snapshots import CashFlow, RunSummary, SnapshotValue

__all__ = ["Journal", "JournalOrder", "UnfinishedRun"]

_BUSY_TIMEOUT_SECS = 15.0
_RUN_MODES = frozenset({"rebalance", "print-rebalance", "snapshot"})


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise InvalidInputError(f"timestamp {value.isoformat()} has no time zone")
    return value.astimezone(UTC).isoformat()


_EVENT_ID_KNOWN = "SELECT 1 FROM events WHERE event_id = ? LIMIT 1"


def _insert_event(
    conn: sqlite3.Connection,
    event_id: str | None,
    channel: str,
    payload: str,
    received_at: str,
    *,
    outcome: str | None = None,
    published_ms: int | None = None,
) -> int:
    cursor = conn.execute(
        "INSERT INTO events (event_id, channel, payload, received_at, outcome, published_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (event_id, channel, payload, received_at, outcome, published_ms),
    )
    assert cursor.lastrowid is not None  # an INSERT always sets it
    return cursor.lastrowid


@dataclass(frozen=True)
class UnfinishedRun:
    """A run that started but never recorded an end, with the orders it recorded."""

    run_id: str
    account_id: str
    mode: str
    client_id: int
    started_at: str
    pid: int
    event_row: int | None
    orders: tuple[JournalOrder, ...]


class Journal:
    """The journal file; one instance per process (it holds one connection).

    Methods may be called from any thread (a lock serialises them); each call is short.

    Args:
        path: The SQLite file, usually ``DATA_DIR / JOURNAL_FILE`` (``app.store.files``).
            Its directory is created when missing.

    Raises:
        InvalidInputError: The file was written by a newer schema than this code knows.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        # isolation_level=None: no implicit transactions; every write opens its own below.
        self._conn = connect_wal(
            path, timeout_secs=_BUSY_TIMEOUT_SECS, autocommit=True, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA synchronous = FULL")
            # Off while the schema is created or migrated (a migration rebuilds ``runs``,
            # which ``orders`` refers to), on for every write after.
            self._conn.execute("PRAGMA foreign_keys = OFF")
            backup_before_migration(self._conn, path)
            with self._write() as conn:
                create_schema(conn, path)
            self._conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, schema {SCHEMA_VERSION})"

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, for the store's other modules (``app.store.reconciliation``,
        ``app.runs.pdt``): committed when the block ends, rolled back on any error."""
        with self._write() as conn:
            yield conn

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """The rows of one read statement (rows index by column name)."""
        return self._read(sql, params)

    # -- events --------------------------------------------------------------------------------

    def record_event(
        self,
        *,
        event_id: str | None,
        channel: str,
        payload: str,
        received_at: datetime | None = None,
    ) -> int:
        """Record a received event and return its row number (for ``start_run``)."""
        received = _iso(received_at) if received_at is not None else _now()
        with self._write() as conn:
            return _insert_event(conn, event_id, channel, payload, received)

    def claim_event(
        self, *, event_id: str, channel: str, payload: str, published_ms: int | None = None
    ) -> int | None:
        """Record an event unless one with this id was recorded before: the de-duplication.

        The check and the insert are one write transaction, so two handlers (or processes)
        never both claim one id. Claimed before any run starts, a message is never run twice,
        not even after a crash mid-run and a restart.

        Args:
            event_id: The message id.
            channel: The channel it came on.
            payload: Its data as text.
            published_ms: Its Ably timestamp (milliseconds since the epoch).

        Returns:
            The new event's row number, or ``None`` when the id was recorded before.
        """
        with self._write() as conn:
            if conn.execute(_EVENT_ID_KNOWN, (event_id,)).fetchone() is not None:
                return None
            return _insert_event(
                conn, event_id, channel, payload, _now(), published_ms=published_ms
            )

    def import_seen_ids(self, seen: Iterable[tuple[str, str, datetime]], *, outcome: str) -> int:
        """Record ``(event_id, channel, seen_at)`` ids handled elsewhere, payload unknown.

        Ids already recorded are skipped; all are written in one transaction.

        Returns:
            How many ids were new.
        """
        added = 0
        with self._write() as conn:
            for event_id, channel, seen_at in seen:
                if conn.execute(_EVENT_ID_KNOWN, (event_id,)).fetchone() is None:
                    _insert_event(conn, event_id, channel, "", _iso(seen_at), outcome=outcome)
                    added += 1
        return added

    def set_event_outcome(self, event_row: int, outcome: str) -> None:
        """Record what became of an event (``processed``, ``duplicate``, ``too old: ...``)."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE events SET outcome = ? WHERE id = ?", (outcome, event_row)
            )
            if cursor.rowcount != 1:
                raise InvalidInputError(f"journal has no event row {event_row}")

    def event_seen(self, event_id: str) -> bool:
        """True when an event with this id was recorded before."""
        return bool(self._read(_EVENT_ID_KNOWN, (event_id,)))

    def last_published_ms(self, channel: str) -> int | None:
        """The newest Ably timestamp of an event recorded for ``channel`` (``None``: none)."""
        rows = self._read("SELECT MAX(published_ms) FROM events WHERE channel = ?", (channel,))
        value = rows[0][0]
        return None if value is None else int(value)

    # -- runs ----------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        run_id: str,
        account_id: str,
        mode: str,
        client_id: int,
        event_row: int | None = None,
    ) -> None:
        """Record that a run started now in this process.

        Raises:
            InvalidInputError: Unknown mode, or ``run_id`` already used.
        """
        if mode not in _RUN_MODES:
            raise InvalidInputError(f"run mode {mode!r} is not one of {sorted(_RUN_MODES)}")
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO runs (run_id, account_id, mode, client_id, event_row,"
                    " started_at, pid) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, account_id, mode, client_id, event_row, _now(), os.getpid()),
                )
        except sqlite3.IntegrityError as exc:
            raise InvalidInputError(f"cannot start run {run_id}: {exc}") from None

    def record_order(self, *, run_id: str, trade: Trade) -> None:
        """Insert or update an order of a run (see ``app.store.orders``).

        Called first with the intent (no order id, no status) before the order is sent, so
        a crash cannot lose it. The first order a ``rebalance`` run records also records the
        New York trading day for PDT protection, in the same transaction.

        Raises:
            InvalidInputError: The run is unknown or already finished.
        """
        with self._write() as conn:
            run = self._require_open_run(conn, run_id)
            upsert_order(conn, run_id, trade)
            if run["mode"] == "rebalance":
                record_trading_day(conn, run["account_id"], run_id, datetime.now(UTC))

    def orders_since(self, account_id: str, since: datetime) -> int:
        """Orders the account's runs recorded since ``since`` (for ``max_orders_per_day``).

        Every order row counts, an intent recorded just before sending included: a limit is
        better kept one order early than one late.
        """
        rows = self._read(
            "SELECT count(*) FROM orders JOIN runs ON orders.run_id = runs.run_id"
            " WHERE runs.account_id = ? AND orders.recorded_at >= ?",
            (account_id, _iso(since)),
        )
        return int(rows[0][0])

    @staticmethod
    def _require_open_run(conn: sqlite3.Connection, run_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise InvalidInputError(f"journal has no run {run_id}")
        if row["finished_at"] is not None:
            raise InvalidInputError(f"run {run_id} already ended ({row['status']})")
        return row

    def finish_run(self, *, run_id: str, result: AccountExecutionResult) -> CashFlow | None:
        """Record how a run ended, the final state of its placed orders, and its snapshot.

        A snapshot (``result.snapshot``) is stored with the cash flow found since the
        account's previous one (``app.snapshots.flows``), in the same transaction.

        Returns:
            That cash flow, or ``None``.

        Raises:
            InvalidInputError: The run is unknown, already finished, or ``result`` belongs to
                another run or account.
        """
        if result.run_id != run_id:
            raise InvalidInputError(f"result of run {result.run_id} given for run {run_id}")
        with self._write() as conn:
            row = self._require_open_run(conn, run_id)
            if row["account_id"] != result.account_id:
                raise InvalidInputError(
                    f"result for account {result.account_id} given for run {run_id} of "
                    f"account {row['account_id']}"
                )
            # Placed orders get their final state; previews (no order id) stay in result_json.
            for trade in result.trades:
                if trade.order_id is not None:
                    upsert_order(conn, run_id, trade)
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, error = ?, total_value = ?,"
                " cash_balance = ?, warnings = ?, result_json = ? WHERE run_id = ?",
                (
                    _iso(result.finished_at),
                    result.status,
                    result.error,
                    None if result.total_value is None else str(result.total_value),
                    None if result.cash_balance is None else str(result.cash_balance),
                    json.dumps(result.warnings),
                    result.model_dump_json(),
                    run_id,
                ),
            )
            if result.execution is not None:
                insert_execution(conn, run_id, result.execution)
            if result.snapshot is None:
                return None
            return stored.insert_snapshot(conn, run_id, result.snapshot)

    def unfinished_runs(self) -> list[UnfinishedRun]:
        """Runs that started and never ended, oldest first, with their orders.

        This includes runs still in progress in another process; hold the account's lock
        (``app.runs.locks.account_lock``) before treating one as abandoned.
        """
        with self._lock:
            runs = list(
                self._conn.execute(
                    "SELECT * FROM runs WHERE finished_at IS NULL ORDER BY started_at, run_id"
                )
            )
            return [
                UnfinishedRun(
                    **columns(run, UnfinishedRun, but=frozenset({"orders"})),
                    orders=orders_of(self._conn, run["run_id"]),
                )
                for run in runs
            ]

    def run_trades(self, run_id: str) -> list[Trade]:
        """The orders of ``run_id`` as last recorded, as the trades they were journalled from."""
        rows = self._read("SELECT trade_json FROM orders WHERE run_id = ? ORDER BY seq", (run_id,))
        return [Trade.model_validate_json(row["trade_json"]) for row in rows]

    def run_orders(self, run_id: str) -> tuple[JournalOrder, ...]:
        """The orders of ``run_id`` as last recorded, in the order they were journalled."""
        with self._lock:
            return orders_of(self._conn, run_id)

    def mark_run_abandoned(self, run_id: str, *, reason: str) -> None:
        """End an unfinished run as ``abandoned`` (its process died), keeping its orders."""
        with self._write() as conn:
            self._require_open_run(conn, run_id)
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = 'abandoned', error = ? WHERE run_id = ?",
                (_now(), reason, run_id),
            )

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot_values(self, account_id: str, *, since: date | None = None) -> list[SnapshotValue]:
        """Every snapshot of ``account_id`` from New York day ``since`` on, oldest first."""
        with self._lock:
            return stored.snapshot_values(self._conn, account_id, since)

    def latest_snapshot(self, account_id: str) -> PortfolioSnapshot | None:
        """The most recent snapshot of ``account_id``, with positions and targets."""
        with self._lock:
            return stored.latest_snapshot(self._conn, account_id)

    def last_snapshot_at(self, account_id: str) -> datetime | None:
        """When the most recent snapshot of ``account_id`` was taken, or ``None``."""
        with self._lock:
            return stored.last_snapshot_at(self._conn, account_id)

    def cash_flows(self, account_id: str, *, since: date | None = None) -> list[CashFlow]:
        """Deposits and withdrawals found for ``account_id``, dated ``since`` or later."""
        with self._lock:
            return stored.cash_flows(self._conn, account_id, since)

    def recent_runs(self, account_id: str, *, limit: int = 10) -> list[RunSummary]:
        """The ``limit`` most recent runs of ``account_id``, newest first."""
        with self._lock:
            return stored.recent_runs(self._conn, account_id, limit)

    def summary(self, *, limit: int = 20) -> str:
        """Recent runs, newest first, with outcome, values and orders, as plain text."""
        with self._lock:
            return format_summary(self._conn, limit=limit)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()
