"""One de-duplication store: the realtime subscriber, the runtime's event processor, the journal.

The real ably SDK against fake_ably_server, a real journal in ``tmp_path``, stand-in workers.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from app.config.settings import AppConfig
from app.runtime import Runtime
from app.store.files import JOURNAL_FILE
from broker_connector_base import AccountConfig
from fake_ably_server import FakeAblyServer, ensure_loopback_bypasses_proxy

WorkerScript = Callable[[str], tuple[str, ...]]
ConfigFactory = Callable[..., AppConfig]
RuntimeFactory = Callable[..., Runtime]
AccountFactory = Callable[..., AccountConfig]
Until = Callable[[Callable[[], bool], str], Awaitable[None]]

KEY = "dedupapp.dedupkey:not-a-secret"
CHANNEL = "s1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAblyServer]:
    ensure_loopback_bypasses_proxy()
    async with FakeAblyServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def config(fake: FakeAblyServer, make_config: ConfigFactory, account: AccountFactory) -> AppConfig:
    return make_config(
        account("DU300001", CHANNEL),
        realtime_api_key=KEY,
        ably_endpoint=fake.endpoint,
        ably_tls="false",
    )


@asynccontextmanager
async def subscribed(runtime: Runtime) -> AsyncIterator[None]:
    """The runtime's own subscriber, started; closed with its runs at the end."""
    subscriber = runtime.subscriber()
    await subscriber.start()
    try:
        yield
    finally:
        await subscriber.close()
        await runtime.events.wait_idle()


def _events(config: AppConfig) -> list[tuple[str, str | None]]:
    path = config.settings.data_dir / JOURNAL_FILE
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return list(conn.execute("SELECT event_id, outcome FROM events ORDER BY id"))


def _run_count(config: AppConfig) -> int:
    path = config.settings.data_dir / JOURNAL_FILE
    with contextlib.closing(sqlite3.connect(path)) as conn:
        count: int = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    return count


def _handled(config: AppConfig, event_id: str) -> Callable[[], bool]:
    """The event's outcome is recorded: its runs are over."""
    return lambda: any(e == event_id and outcome for e, outcome in _events(config))


async def test_duplicate_message_id_is_journalled_and_run_once(
    fake: FakeAblyServer,
    config: AppConfig,
    make_runtime: RuntimeFactory,
    worker_script: WorkerScript,
    until: Until,
) -> None:
    runtime = make_runtime(config, worker_script("print(result())"))
    async with subscribed(runtime):
        for message_id in ("dup", "dup", "after"):
            await fake.publish(CHANNEL, {"exec": "print-rebalance"}, id=message_id)
        # Delivered in order and claimed in order: once "after" is done, so is the duplicate.
        await until(_handled(config, "after"), "the event after the duplicate ran")

    assert _events(config) == [
        ("dup", "ran 1 accounts: succeeded"),
        ("after", "ran 1 accounts: succeeded"),
    ]
    assert _run_count(config) == 2


async def test_duplicate_message_id_after_restart_on_same_data_dir_is_not_run_again(
    fake: FakeAblyServer,
    config: AppConfig,
    make_runtime: RuntimeFactory,
    worker_script: WorkerScript,
    until: Until,
) -> None:
    command = worker_script("print(result())")
    first = make_runtime(config, command)
    async with subscribed(first):
        await fake.publish(CHANNEL, {"exec": "print-rebalance"}, id="once")
        await until(_handled(config, "once"), "the first delivery ran")
    first.close()

    second = make_runtime(config, command)
    async with subscribed(second):
        await fake.publish(CHANNEL, {"exec": "print-rebalance"}, id="once")
        await fake.publish(CHANNEL, {"exec": "print-rebalance"}, id="new")
        await until(_handled(config, "new"), "the message after the replay ran")

    assert [event_id for event_id, _ in _events(config)] == ["once", "new"]
    assert _run_count(config) == 2


async def test_message_id_is_claimed_before_its_run_starts(
    fake: FakeAblyServer,
    config: AppConfig,
    make_runtime: RuntimeFactory,
    worker_script: WorkerScript,
    tmp_path: Path,
    until: Until,
) -> None:
    # A worker that checks the journal itself: the event must be on disk before any run,
    # which is what keeps a crash mid-run from running the message again after a restart.
    seen = tmp_path / "seen.txt"
    journal = config.settings.data_dir / JOURNAL_FILE
    command = worker_script(
        f"""
        import sqlite3
        rows = sqlite3.connect({str(journal)!r}).execute(
            "SELECT event_id FROM events WHERE event_id = 'early'").fetchall()
        open({str(seen)!r}, "w").write(str(len(rows)))
        print(result())
        """
    )
    runtime = make_runtime(config, command)
    async with subscribed(runtime):
        await fake.publish(CHANNEL, {"exec": "print-rebalance"}, id="early")
        await until(_handled(config, "early"), "the event ran")

    assert seen.read_text() == "1"
