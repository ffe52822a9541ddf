"""A ``DATA_DIR`` of the previous version: its own file of seen Ably message ids."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from app.config.settings import AppConfig
from app.intake.messages import ReceivedMessage
from app.runtime import Runtime
from app.store.files import JOURNAL_FILE, LEGACY_SEEN_FILE, LEGACY_SEEN_IMPORTED_FILE
from app.store.journal import Journal
from app.store.legacy import IMPORTED_OUTCOME, import_legacy_seen_ids
from broker_connector_base import AccountConfig, InvalidInputError

WorkerScript = Callable[[str], tuple[str, ...]]
ConfigFactory = Callable[..., AppConfig]
RuntimeFactory = Callable[..., Runtime]
AccountFactory = Callable[..., AccountConfig]


def write_previous_version_store(data_dir: Path, *ids: str) -> Path:
    """The previous version's ``ably-seen-messages.sqlite3``, as it wrote it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LEGACY_SEEN_FILE
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS seen_messages (message_id TEXT PRIMARY KEY,"
            " channel TEXT NOT NULL, seen_at_ms INTEGER NOT NULL)"
        )
        for message_id in ids:
            db.execute(
                "INSERT INTO seen_messages VALUES (?, ?, ?)",
                (message_id, "s1", int(time.time() * 1000)),
            )
    return path


def message(message_id: str) -> ReceivedMessage:
    return ReceivedMessage(
        channel="s1",
        message_id=message_id,
        name=None,
        data={"exec": "print-rebalance"},
        timestamp_ms=None,
    )


def journal_rows(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(data_dir / JOURNAL_FILE)) as conn:
        return list(conn.execute(sql))


async def test_message_seen_by_the_previous_version_is_not_run_after_the_upgrade(
    make_config: ConfigFactory,
    make_runtime: RuntimeFactory,
    account: AccountFactory,
    worker_script: WorkerScript,
) -> None:
    config = make_config(account("DU400001"))
    data_dir = config.settings.data_dir
    write_previous_version_store(data_dir, "old-1", "old-2")

    runtime = make_runtime(config, worker_script("print(result())"))
    replayed = await runtime.events.handle(message("old-2"))
    fresh = await runtime.events.handle(message("new-1"))

    assert replayed is None
    assert fresh is not None
    assert [r.status for r in fresh.results] == ["succeeded"]
    assert journal_rows(data_dir, "SELECT event_id, channel, payload, outcome FROM events") == [
        ("old-1", "s1", "", IMPORTED_OUTCOME),
        ("old-2", "s1", "", IMPORTED_OUTCOME),
        ("new-1", "s1", '{"exec": "print-rebalance"}', "ran 1 accounts: succeeded"),
    ]
    assert journal_rows(data_dir, "SELECT count(*) FROM runs") == [(1,)]
    assert not (data_dir / LEGACY_SEEN_FILE).exists()
    assert (data_dir / LEGACY_SEEN_IMPORTED_FILE).exists()


def test_importing_the_previous_ids_again_adds_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Journal(data_dir / JOURNAL_FILE) as journal:
        write_previous_version_store(data_dir, "a", "b")
        first = import_legacy_seen_ids(journal, data_dir)
        # Another process, or a crash before the rename, can leave the file for a second go.
        write_previous_version_store(data_dir, "a", "b", "c")
        second = import_legacy_seen_ids(journal, data_dir)
        nothing_left = import_legacy_seen_ids(journal, data_dir)

    assert (first, second, nothing_left) == (2, 1, 0)
    assert journal_rows(data_dir, "SELECT event_id FROM events ORDER BY id") == [
        ("a",),
        ("b",),
        ("c",),
    ]


@pytest.mark.parametrize(
    "content",
    [b"not a database at all, but long enough to look like one" * 4, None],
    ids=["garbage", "other-schema"],
)
def test_unreadable_previous_seen_file_refuses_start_naming_it_and_keeps_it(
    make_config: ConfigFactory,
    make_runtime: RuntimeFactory,
    account: AccountFactory,
    worker_script: WorkerScript,
    content: bytes | None,
) -> None:
    config = make_config(account("DU400002"))
    path = config.settings.data_dir / LEGACY_SEEN_FILE
    if content is None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE other (x)")
    else:
        path.write_bytes(content)
    before = path.read_bytes()

    with pytest.raises(InvalidInputError, match="previous version's seen message ids") as caught:
        make_runtime(config, worker_script("print(result())"))

    assert caught.value.source == str(path)
    assert path.read_bytes() == before
