"""The quote recorder process under its supervisor: real ib_async streaming from the
simulator into SQLite, restarts after failures, and what it is told."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from app.config.settings import AppConfig, load_app_config
from app.quotes.request import RECORDER_CLIENT_ID, build_recorder_request, encode_recorder
from app.quotes.supervisor import QuoteRecorderSupervisor, RegularHours
from app.snapshots.schedule import NyseCalendar
from broker_connector_base.types import NEW_YORK

Stack = Any  # conftest.Stack
Until = Callable[[Callable[[], bool], str], Awaitable[None]]  # conftest's ``until``
REPO = Path(__file__).resolve().parents[3]

# Every tradable demo account's targets: DU789012's IRA set swaps DBC for PDBC and GLD for IAU,
# DUM959247 still targets DBC and GLD, DU345678 adds income-core-20's IEF and VNQ.
DEMO_SYMBOLS = {"SPY", "QQQ", "TLT", "GLD", "DBC", "PDBC", "IAU", "IEF", "VNQ"}


class _AlwaysOpen:
    """A session around every moment (the real hours are tested on their own below)."""

    def session(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        return now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)

    def next_open(self, now: dt.datetime) -> dt.datetime:
        raise AssertionError("always open")


def _config(stack: Stack, **env: str) -> AppConfig:
    environ = {**stack.env, "QUOTE_RECORDER_ENABLED": "true", **env}
    return load_app_config(env_file=None, environ=environ)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path) as conn:
            return list(conn.execute(sql))
    except sqlite3.OperationalError:  # the recorder has not created the table yet
        return []


@pytest.fixture
async def supervise() -> AsyncIterator[Callable[..., QuoteRecorderSupervisor]]:
    """Start supervisors (``run`` as a task); every one stopped at the end."""
    running: list[tuple[QuoteRecorderSupervisor, asyncio.Task[None]]] = []

    def start(config: AppConfig, **kwargs: object) -> QuoteRecorderSupervisor:
        request = build_recorder_request(config)
        assert request is not None
        supervisor = QuoteRecorderSupervisor(request, _AlwaysOpen(), **kwargs)  # type: ignore[arg-type]
        running.append((supervisor, asyncio.create_task(supervisor.run())))
        return supervisor

    yield start
    for supervisor, task in running:
        await supervisor.stop()
        await asyncio.wait_for(task, 30)


async def test_recorder_streams_every_target_symbol_and_each_change_into_sqlite(
    stack: Stack, supervise: Callable[..., QuoteRecorderSupervisor], until: Until
) -> None:
    quotes = stack.data_dir / "quotes.sqlite3"
    supervisor = supervise(_config(stack))

    def recorded() -> set[str]:
        return {str(r[0]) for r in _rows(quotes, "SELECT DISTINCT symbol FROM quotes")}

    await until(lambda: recorded() == DEMO_SYMBOLS, f"ticks of {DEMO_SYMBOLS}")
    assert _rows(quotes, "SELECT bid, ask, bid_size FROM quotes WHERE symbol = 'TLT'")[0] == (
        "92.1",
        "92.12",
        100,
    )
    stack.sim.set_price("SPY", bid="600.01", ask="600.05")
    new_quote = (
        "SELECT count(*) FROM quotes WHERE symbol = 'SPY' AND bid = '600.01' AND ask = '600.05'"
    )
    await until(lambda: _rows(quotes, new_quote) == [(1,)], "the new SPY quote")
    assert RECORDER_CLIENT_ID in stack.sim.client_ids()

    process = supervisor.process
    assert process is not None
    await supervisor.stop()
    assert (process.returncode, supervisor.starts) == (0, 1)


async def test_recorder_that_fails_is_started_again_after_a_pause(
    stack: Stack, supervise: Callable[..., QuoteRecorderSupervisor], until: Until
) -> None:
    config = _config(stack, ALLOCATIONS_API_URL=(stack.workdir / "missing").as_uri())
    supervisor = supervise(config, first_pause_secs=0.05)

    await until(lambda: supervisor.starts >= 3, "three recorder starts")

    process = supervisor.process
    assert process is not None
    assert process.returncode in (1, None)
    assert not (stack.data_dir / "quotes.sqlite3").exists()


async def test_recorder_refuses_an_unreadable_request_without_echoing_the_key(
    stack: Stack,
) -> None:
    request = build_recorder_request(
        _config(stack, ALLOCATIONS_API_KEY="sekret-allocations-key-123")
    )
    assert request is not None
    payload = json.loads(encode_recorder(request))
    payload["port"] = "not-a-port"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.quotes.recorder",
        cwd=REPO / "event-broker",
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(json.dumps(payload).encode()), 30)

    assert process.returncode == 2
    assert "port: Input should be a valid integer" in err.decode()
    assert "sekret" not in err.decode()


def test_request_only_when_enabled_and_only_for_tradable_ib_accounts(stack: Stack) -> None:
    assert build_recorder_request(load_app_config(env_file=None, environ=stack.env)) is None

    request = build_recorder_request(_config(stack))

    assert request is not None
    assert [a.account_id for a in request.accounts] == ["DUM959247", "DU789012", "DU345678"]
    assert request.quotes_file == stack.data_dir / "quotes.sqlite3"
    assert request.pacing_file == stack.data_dir / f"ib-pacing-127.0.0.1-{stack.sim.port}"


HOURS = RegularHours(NyseCalendar())


def _ny(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("now", "session"),
    [
        (_ny(2026, 12, 3, 9, 29), None),
        (_ny(2026, 12, 3, 9, 30), (_ny(2026, 12, 3, 9, 30), _ny(2026, 12, 3, 16, 0))),
        (_ny(2026, 12, 3, 15, 59), (_ny(2026, 12, 3, 9, 30), _ny(2026, 12, 3, 16, 0))),
        (_ny(2026, 12, 3, 16, 0), None),
        (_ny(2026, 12, 5, 12, 0), None),  # a Saturday
        (_ny(2026, 12, 25, 12, 0), None),  # Christmas, a Friday
    ],
)
def test_regular_hours_session(
    now: dt.datetime, session: tuple[dt.datetime, dt.datetime] | None
) -> None:
    assert HOURS.session(now) == session


def test_regular_hours_next_open_skips_weekends_and_holidays() -> None:
    assert HOURS.next_open(_ny(2026, 12, 3, 8, 0)) == _ny(2026, 12, 3, 9, 30)
    assert HOURS.next_open(_ny(2026, 12, 3, 9, 30)) == _ny(2026, 12, 4, 9, 30)
    assert HOURS.next_open(_ny(2026, 12, 24, 17, 0)) == _ny(2026, 12, 28, 9, 30)
    assert HOURS.next_open(_ny(2026, 12, 24, 17, 0).astimezone(dt.UTC)) == _ny(2026, 12, 28, 9, 30)


class _ClosesSoon:
    """One session that closes ``secs`` after it is first asked about, none after it."""

    def __init__(self, secs: float) -> None:
        self.secs = secs
        self.closes: dt.datetime | None = None

    def session(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        if self.closes is None:
            self.closes = now + dt.timedelta(seconds=self.secs)
        return (now - dt.timedelta(hours=1), self.closes) if now < self.closes else None

    def next_open(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(days=1)


async def test_recorder_is_stopped_at_the_close_with_its_ticks_written(
    stack: Stack, until: Until
) -> None:
    request = build_recorder_request(_config(stack))
    assert request is not None
    # Long enough for the recorder to start and stream on a loaded machine (its ticks are
    # checked), short enough for a test.
    sessions = _ClosesSoon(secs=12.0)
    supervisor = QuoteRecorderSupervisor(request, sessions)
    task = asyncio.create_task(supervisor.run())
    try:
        await until(lambda: supervisor.process is not None, "the recorder started")
        process = supervisor.process
        assert process is not None
        await asyncio.wait_for(process.wait(), 30)

        assert process.returncode == 0  # stopped by SIGTERM at the close, not crashed
        assert sessions.closes is not None
        assert dt.datetime.now(NEW_YORK) >= sessions.closes
        symbols = _rows(stack.data_dir / "quotes.sqlite3", "SELECT DISTINCT symbol FROM quotes")
        assert {str(row[0]) for row in symbols} == DEMO_SYMBOLS
        assert not task.done()  # waiting for the next session
        assert supervisor.starts == 1
    finally:
        await supervisor.stop()
        await asyncio.wait_for(task, 30)


async def test_recorder_that_cannot_use_its_file_says_so_and_exits_1(stack: Stack) -> None:
    request = build_recorder_request(_config(stack))
    assert request is not None
    unusable = stack.data_dir / "quotes-is-a-directory"
    unusable.mkdir(parents=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.quotes.recorder",
        cwd=REPO / "event-broker",
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    line = encode_recorder(request.model_copy(update={"quotes_file": unusable}))
    _, err = await asyncio.wait_for(process.communicate(line), 30)

    assert process.returncode == 1
    assert f"Quote recorder: cannot use {unusable}" in err.decode()
    assert "Traceback" not in err.decode()
