"""connect_wal/enable_wal: the WAL switch waits out another process's write lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from broker_connector_base.sqlite_files import connect_wal, enable_wal


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to a fresh rollback-journal file, holding a write lock."""
    path = tmp_path / "shared.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    yield conn
    if conn.in_transaction:
        conn.execute("COMMIT")
    conn.close()


def test_sqlite_itself_refuses_the_wal_switch_at_once_despite_a_busy_timeout(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    # Why the helper exists: the busy timeout is not applied to this one statement.
    with closing(sqlite3.connect(tmp_path / "shared.sqlite3", timeout=5)) as other:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("PRAGMA journal_mode = WAL")
        assert time.monotonic() - started < 1


def test_enable_wal_waits_for_the_lock_to_go(tmp_path: Path, writer: sqlite3.Connection) -> None:
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    with closing(sqlite3.connect(tmp_path / "shared.sqlite3", isolation_level=None)) as other:
        started = time.monotonic()
        enable_wal(other, timeout_secs=10)
        assert time.monotonic() - started >= 0.25
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert other.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_enable_wal_gives_up_after_its_timeout(tmp_path: Path, writer: sqlite3.Connection) -> None:
    with closing(sqlite3.connect(tmp_path / "shared.sqlite3")) as other:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            enable_wal(other, timeout_secs=0.3)
        assert 0.3 <= time.monotonic() - started < 3


def test_connect_wal_creates_the_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with closing(connect_wal(path, timeout_secs=1, autocommit=True)) as conn:
        assert conn.isolation_level is None
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert path.exists()


def test_connect_wal_closes_the_connection_when_the_switch_fails(
    tmp_path: Path, writer: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[sqlite3.Connection] = []
    real_connect = sqlite3.connect

    def tracking_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = real_connect(*args, **kwargs)
        opened.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", tracking_connect)
    with pytest.raises(sqlite3.OperationalError):
        connect_wal(tmp_path / "shared.sqlite3", timeout_secs=0.1)
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[0].execute("SELECT 1")
