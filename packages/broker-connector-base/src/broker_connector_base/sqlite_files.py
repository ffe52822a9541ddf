"""Open a SQLite file that several processes share, in WAL mode, without a start-up race.

The daemon, its per-account workers and ``tools/rebalance.sh`` open the same files (journal,
PDT state, contract and price caches), often at the same moment. SQLite's busy timeout covers
ordinary reads and writes, but not switching a file to WAL: that needs an exclusive lock, and a
connection that already holds a shared lock gets ``SQLITE_BUSY`` at once rather than wait,
because waiting could deadlock. So the switch is retried here, from scratch, until the timeout.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect_wal", "enable_wal", "transaction"]


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def enable_wal(conn: sqlite3.Connection, *, timeout_secs: float) -> None:
    """Put ``conn``'s database in WAL mode, retrying while another process holds a lock.

    Args:
        conn: An open connection with no transaction in progress.
        timeout_secs: How long to keep retrying a busy database.

    Raises:
        sqlite3.OperationalError: Still busy after ``timeout_secs``, or the file cannot be
            put in WAL mode (for example a read-only directory).
    """
    deadline = time.monotonic() + timeout_secs
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            # Jitter, so two processes that collided do not collide again in step.
            time.sleep(random.uniform(0.005, 0.05))
            continue
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"journal mode stays {mode!r}, WAL is not available")
        return


def connect_wal(
    path: Path, *, timeout_secs: float, autocommit: bool = False, check_same_thread: bool = True
) -> sqlite3.Connection:
    """Connect to ``path`` (created when missing) in WAL mode with a busy timeout.

    Args:
        path: The SQLite file.
        timeout_secs: The busy timeout of the connection, and how long to retry the WAL switch.
        autocommit: ``True`` for ``isolation_level=None`` (no implicit transactions).
        check_same_thread: As for ``sqlite3.connect``; ``False`` when the caller serialises
            use from several threads itself.

    Raises:
        sqlite3.Error: The file cannot be opened or put in WAL mode in time.
    """
    conn = sqlite3.connect(
        path,
        timeout=timeout_secs,
        isolation_level=None if autocommit else "DEFERRED",
        check_same_thread=check_same_thread,
    )
    try:
        enable_wal(conn, timeout_secs=timeout_secs)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(path: Path, *, timeout_secs: float) -> Iterator[sqlite3.Connection]:
    """A connection to ``path`` for one transaction: committed when the block ends normally,
    rolled back when it raises, closed either way.

    Args:
        path: The SQLite file (already in WAL mode when several processes share it:
            :func:`connect_wal` once at start-up).
        timeout_secs: The busy timeout.

    Raises:
        sqlite3.Error: The file cannot be opened, or a statement of the block failed.
    """
    db = sqlite3.connect(path, timeout=timeout_secs)
    try:
        with db:
            yield db
    finally:
        db.close()
