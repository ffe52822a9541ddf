"""No lost signals: what a channel received during a gap is read back and run once.

Real parts: the ably SDK (realtime and REST) against fake_ably_server, the daemon's AblyService,
CatchUp and HistoryReader, and the daemon's Runtime (journal as the de-duplication store, event
processor, strategy and account runs with a stand-in worker), wired as ``Runtime.subscriber``
wires them but with short SDK and watchdog timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from app.config.settings import AppConfig
from app.intake.catch_up import CatchUp
from app.intake.history import HistoryReader
from app.intake.messages import ReceivedMessage
from app.intake.subscriber import AblyConnectionFailed, AblyService
from app.models import StrategyExecutionResult
from app.runtime import Runtime
from app.store.files import JOURNAL_FILE
from broker_connector_base import AccountConfig
from fake_ably_server import FakeAblyServer, ensure_loopback_bypasses_proxy
from pydantic import SecretStr

API_KEY = "testapp.testkey:catch-up-secret"
CHANNEL = "strategy-alpha"
MAX_AGE_SECS = 300

RuntimeFactory = Callable[..., Runtime]
WorkerScript = Callable[[str], tuple[str, ...]]


class Handled:
    """``on_message`` that runs each message through the daemon's EventProcessor, awaitable."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.messages: list[ReceivedMessage] = []
        self._done: asyncio.Queue[tuple[ReceivedMessage, StrategyExecutionResult | None]]
        self._done = asyncio.Queue()

    async def __call__(self, message: ReceivedMessage) -> None:
        self.messages.append(message)
        self._done.put_nowait((message, await self.runtime.events.handle(message)))

    async def next(self) -> tuple[ReceivedMessage, StrategyExecutionResult | None]:
        return await asyncio.wait_for(self._done.get(), 15)

    async def until(self, message_id: str) -> ReceivedMessage:
        """Handled messages up to the one with ``message_id``; that one."""
        while True:
            message, _ = await self.next()
            if message.message_id == message_id:
                return message


class LogLine(logging.Handler):
    """Set :attr:`seen` when a record containing ``text`` is logged (on any logger)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
async def fake() -> AsyncIterator[FakeAblyServer]:
    ensure_loopback_bypasses_proxy()
    # Persisted history (an hour): old signals stay readable, as on an app that persists them.
    async with FakeAblyServer(api_key=API_KEY, history_retention_secs=3600) as server:
        yield server


@pytest.fixture
def runtime(
    make_config: Callable[..., AppConfig],
    make_runtime: RuntimeFactory,
    worker_script: WorkerScript,
    account: Callable[..., AccountConfig],
) -> Runtime:
    config = make_config(account("DU300001", CHANNEL), event_max_age_secs=str(MAX_AGE_SECS))
    return make_runtime(config, worker_script("print(result())"))


def make_service(
    fake: FakeAblyServer,
    handled: Handled,
    *,
    history_endpoint: str | None = None,
    **overrides: Any,
) -> AblyService:
    reader = HistoryReader(
        api_key=SecretStr(API_KEY), endpoint=history_endpoint or fake.endpoint, tls=False
    )
    options: dict[str, Any] = {
        "api_key": SecretStr(API_KEY),
        "channels": [CHANNEL],
        "on_message": handled,
        "catch_up": CatchUp(reader, handled.runtime.journal, max_age_secs=MAX_AGE_SECS),
        "endpoint": fake.endpoint,
        "tls": False,
        "max_message_age_secs": MAX_AGE_SECS,
        "watchdog_interval_secs": 0.2,
        "connect_timeout_secs": 5.0,
        "ping_timeout_secs": 1.0,
        "request_timeout_secs": 1.0,
        "retry_timeout_secs": 0.2,
        "max_watchdog_failures": 100,
    }
    options.update(overrides)
    return AblyService(**options)


@asynccontextmanager
async def running(service: AblyService) -> AsyncIterator[asyncio.Task[None]]:
    await service.start()
    task = asyncio.create_task(service.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AblyConnectionFailed):
            await task
        await service.close()


def events(runtime: Runtime) -> list[tuple[str, str]]:
    """``(event_id, outcome)`` of every journalled event, in order."""
    path = runtime.config.settings.data_dir / JOURNAL_FILE
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT event_id, outcome FROM events ORDER BY id").fetchall()
    return [(str(event_id), str(outcome)) for event_id, outcome in rows]


def runs(runtime: Runtime) -> int:
    path = runtime.config.settings.data_dir / JOURNAL_FILE
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM runs").fetchone()[0])


def now_ms() -> int:
    return int(time.time() * 1000)


RAN = "ran 1 accounts: succeeded"
SIGNAL = {"exec": "print-rebalance"}


async def test_signal_published_while_the_connection_is_dead_runs_once_after_it_is_replaced(
    fake: FakeAblyServer, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    handled = Handled(runtime)
    service = make_service(fake, handled)
    async with running(service):
        await fake.publish(CHANNEL, SIGNAL, id="before")
        await handled.until("before")
        fake.stall()  # the socket stays open; nothing reaches the client any more
        await fake.publish(CHANNEL, SIGNAL, id="while-dead")
        await service.link.wait_for("dead", timeout_secs=10)
        recovered = await handled.until("while-dead")
        await service.wait_until_healthy(True, timeout_secs=10)
        await fake.publish(CHANNEL, SIGNAL, id="after")
        await handled.until("after")
    assert recovered.recovered
    assert events(runtime) == [("before", RAN), ("while-dead", RAN), ("after", RAN)]
    assert runs(runtime) == 3
    assert "Recovered 1 message(s) on strategy-alpha" in caplog.text
    assert "first attach of a new realtime client" in caplog.text


@pytest.mark.parametrize("refuse_resume", [True, False], ids=["resume-refused", "resumed"])
async def test_signal_published_during_an_outage_runs_once_whether_or_not_ably_resumes(
    fake: FakeAblyServer, runtime: Runtime, caplog: pytest.LogCaptureFixture, refuse_resume: bool
) -> None:
    caplog.set_level(logging.INFO)
    fake.refuse_resume = refuse_resume
    handled = Handled(runtime)
    service = make_service(fake, handled, watchdog_interval_secs=30)
    async with running(service):
        await fake.publish(CHANNEL, SIGNAL, id="before")
        await handled.until("before")
        caplog.clear()
        await fake.stop()
        await service.wait_until_healthy(False)
        await fake.publish(CHANNEL, SIGNAL, id="while-away")
        await fake.start()
        await handled.until("while-away")
        await fake.publish(CHANNEL, SIGNAL, id="after")
        await handled.until("after")
    assert events(runtime) == [("before", RAN), ("while-away", RAN), ("after", RAN)]
    # Resumed: Ably (here the fake) replays what was missed itself; no catch-up is needed.
    assert ("re-attached without continuity" in caplog.text) is refuse_resume
    assert ("Recovered 1 message(s)" in caplog.text) is refuse_resume


async def test_signal_published_while_the_daemon_is_stopped_runs_once_on_the_next_start(
    fake: FakeAblyServer, runtime: Runtime
) -> None:
    first_run = Handled(runtime)
    async with running(make_service(fake, first_run)):
        await fake.publish(CHANNEL, SIGNAL, id="first")
        await first_run.until("first")
    await fake.publish(CHANNEL, SIGNAL, id="while-stopped")
    second_run = Handled(runtime)
    async with running(make_service(fake, second_run)):
        recovered = await second_run.until("while-stopped")
        await fake.publish(CHANNEL, SIGNAL, id="first")  # a replay of an old id
        _, replayed = await second_run.next()
    assert recovered.recovered
    # "first" came back from history too (its time is where reading starts): skipped as seen.
    assert [m.message_id for m in second_run.messages] == ["while-stopped", "first"]
    assert replayed is None
    assert events(runtime) == [("first", RAN), ("while-stopped", RAN)]
    assert runs(runtime) == 2


async def test_stale_signal_read_back_after_a_gap_is_journalled_as_stale_and_not_run(
    fake: FakeAblyServer, runtime: Runtime
) -> None:
    first_run = Handled(runtime)
    async with running(make_service(fake, first_run)):
        await fake.publish(CHANNEL, SIGNAL, id="long-ago", timestamp_ms=now_ms() - 1_800_000)
        await first_run.until("long-ago")
    await fake.publish(CHANNEL, SIGNAL, id="too-old", timestamp_ms=now_ms() - 600_000)
    await fake.publish(CHANNEL, SIGNAL, id="fresh")
    second_run = Handled(runtime)
    async with running(make_service(fake, second_run)):
        await second_run.until("fresh")
    assert [(m.message_id, m.recovered) for m in second_run.messages] == [
        ("too-old", True),
        ("fresh", True),
    ]
    (long_ago, first_outcome), (too_old, second_outcome), fresh = events(runtime)
    assert (long_ago, too_old, fresh) == ("long-ago", "too-old", ("fresh", RAN))
    # Judged when each reached the daemon: the age may have gained a second since publishing.
    assert re.fullmatch(r"stale: published 180[01] s ago \(limit 300 s\); not run", first_outcome)
    assert re.fullmatch(r"stale: published 60[01] s ago \(limit 300 s\); not run", second_outcome)
    assert runs(runtime) == 1


async def test_first_start_without_a_record_reads_back_only_the_staleness_window(
    fake: FakeAblyServer, runtime: Runtime
) -> None:
    await fake.publish(CHANNEL, SIGNAL, id="before-the-window", timestamp_ms=now_ms() - 600_000)
    await fake.publish(CHANNEL, SIGNAL, id="in-the-window", timestamp_ms=now_ms() - 60_000)
    handled = Handled(runtime)
    async with running(make_service(fake, handled)):
        await handled.until("in-the-window")
        await fake.publish(CHANNEL, SIGNAL, id="live")
        await handled.until("live")
    assert [m.message_id for m in handled.messages] == ["in-the-window", "live"]
    assert events(runtime) == [("in-the-window", RAN), ("live", RAN)]


async def test_failed_catch_up_is_logged_and_retried_after_the_next_liveness_check(
    fake: FakeAblyServer, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    history = FakeAblyServer(api_key=API_KEY)  # history served elsewhere, down at first
    await history.start()
    await history.stop()
    await history.publish(CHANNEL, SIGNAL, id="only-in-history")
    failed = LogLine("Could not read the messages published on strategy-alpha")
    logging.getLogger().addHandler(failed)
    handled = Handled(runtime)
    service = make_service(fake, handled, history_endpoint=history.endpoint)
    try:
        async with running(service):
            await asyncio.wait_for(failed.seen.wait(), 15)
            await history.start()
            recovered = await handled.until("only-in-history")
    finally:
        logging.getLogger().removeHandler(failed)
        await history.stop()
    assert recovered.recovered
    assert events(runtime) == [("only-in-history", RAN)]
    assert "retried after a failed catch-up" in caplog.text
