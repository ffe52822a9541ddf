"""``JournalReader``: its connection per thread, read transactions, the snapshot reads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from app.reporting import account_report
from app.store.files import JOURNAL_FILE
from app.store.queries import JournalReader

Book = Any  # conftest.SnapshotBook


@pytest.fixture
def reader(book: Book, tmp_path: Path) -> Iterator[JournalReader]:
    journal_reader = JournalReader(tmp_path / "data" / JOURNAL_FILE)
    yield journal_reader
    journal_reader.close()


def _day(day: int) -> datetime:
    return datetime(2026, 11, day, 21, 10, tzinfo=UTC)


def test_read_transaction_in_a_thread_keeps_its_state_while_the_loop_thread_sees_commits(
    book: Book, reader: JournalReader
) -> None:
    book.take("A1", _day(2), total="100", cash="100")
    inside = threading.Event()
    committed = threading.Event()
    seen: dict[str, int] = {}

    def report_thread() -> None:
        with reader.read_transaction():
            seen["before"] = len(reader.snapshot_values("A1"))
            inside.set()
            committed.wait(10)
            seen["inside_after_commit"] = len(reader.snapshot_values("A1"))
        seen["after_transaction"] = len(reader.snapshot_values("A1"))

    thread = threading.Thread(target=report_thread)
    thread.start()
    assert inside.wait(10)
    version = reader.data_version()
    book.take("A1", _day(3), total="101", cash="101")  # another connection commits
    # This thread's connection is not the worker's: no wait on its open transaction.
    mine = len(reader.snapshot_values("A1"))
    changed = reader.data_version() != version
    committed.set()
    thread.join(10)

    assert (mine, changed) == (2, True)
    assert seen == {"before": 1, "inside_after_commit": 1, "after_transaction": 2}


def test_reader_reads_snapshots_as_the_journal_does(book: Book, reader: JournalReader) -> None:
    book.take(
        "A1",
        _day(2),
        total="100.00",
        cash="40.00",
        positions={"SPY": ("1", "60")},
        targets={"SPY": "0.6"},
        spy="60",
    )
    book.take(
        "A1",
        _day(3),
        total="110.00",
        cash="40.00",
        positions={"SPY": ("1", "70")},
        targets={"SPY": "0.6"},
        spy="70",
    )

    from_reader = account_report(reader, "A1").model_dump(exclude={"generated_at"})
    from_journal = account_report(book.journal, "A1").model_dump(exclude={"generated_at"})

    assert from_reader == from_journal
    assert from_reader["days"] == 2
    assert reader.last_snapshot_times() == {"A1": _day(3)}
    assert reader.snapshot_run_id("A1") == book.journal.recent_runs("A1", limit=1)[0].run_id


def test_closed_reader_refuses_queries_from_every_thread(reader: JournalReader) -> None:
    reader.data_version()
    reader.close()
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            reader.data_version()
        except sqlite3.ProgrammingError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(10)

    with pytest.raises(sqlite3.ProgrammingError):
        reader.data_version()
    assert len(errors) == 1
