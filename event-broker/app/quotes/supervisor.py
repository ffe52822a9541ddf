"""The daemon's side of the quote recorder: one recorder process per trading session.

``QuoteRecorderSupervisor.run`` waits for the regular session (09:30 to 16:00 New York on NYSE
trading days), starts ``python -m app.quotes.recorder`` with its request on stdin, stops it
(SIGTERM, then SIGKILL after a grace) at the close or when the daemon stops, and starts it
again after a failure with a growing pause (5 s doubling to 5 min), so a gateway that is down
costs one attempt every few minutes, not a busy loop. The process is the daemon's child: the
daemon never imports the broker library, and a crash of the recorder touches no run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol

from broker_connector_base.types import NEW_YORK

from app.quotes.request import RecorderRequest, encode_recorder

__all__ = ["QuoteRecorderSupervisor", "RegularHours", "TradingSessions"]

logger = logging.getLogger(__name__)

_OPEN = time(9, 30)
_CLOSE = time(16, 0)
_STOP_GRACE_SECS = 10.0
_FIRST_PAUSE_SECS = 5.0
_LONGEST_PAUSE_SECS = 300.0
_EVENT_BROKER_DIR = Path(__file__).resolve().parents[2]


class _Calendar(Protocol):
    def is_trading_day(self, day: date) -> bool: ...


class TradingSessions(Protocol):
    """When quotes are recorded."""

    def session(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The session ``now`` is in (open, close), or ``None`` outside every session."""

    def next_open(self, now: datetime) -> datetime:
        """The next session's open after ``now``."""


@dataclass(frozen=True)
class RegularHours:
    """NYSE's regular session, 09:30 to 16:00 New York, on ``calendar``'s trading days (an
    early close records the quiet rest of the day: harmless)."""

    calendar: _Calendar

    def session(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The session ``now`` is in (open, close), or ``None``."""
        local = now.astimezone(NEW_YORK)
        if not self.calendar.is_trading_day(local.date()):
            return None
        opens = datetime.combine(local.date(), _OPEN, tzinfo=NEW_YORK)
        closes = datetime.combine(local.date(), _CLOSE, tzinfo=NEW_YORK)
        return (opens, closes) if opens <= local < closes else None

    def next_open(self, now: datetime) -> datetime:
        """The first 09:30 New York of a trading day after ``now``."""
        day = now.astimezone(NEW_YORK).date()
        while True:
            opens = datetime.combine(day, _OPEN, tzinfo=NEW_YORK)
            if opens > now and self.calendar.is_trading_day(day):
                return opens
            day += timedelta(days=1)


def _now() -> datetime:
    return datetime.now(NEW_YORK)


class QuoteRecorderSupervisor:
    """Runs the recorder process during trading sessions.

    Args:
        request: What the recorder is told.
        sessions: When to record.
        clock: Now (aware); tests' clocks where they need one.
        command: The recorder's command line (default ``python -m app.quotes.recorder``).
        first_pause_secs: The pause after the first failure (doubled per failure in a row).
    """

    def __init__(
        self,
        request: RecorderRequest,
        sessions: TradingSessions,
        *,
        clock: Callable[[], datetime] = _now,
        command: Sequence[str] = (sys.executable, "-m", "app.quotes.recorder"),
        first_pause_secs: float = _FIRST_PAUSE_SECS,
    ) -> None:
        self.request = request
        self.sessions = sessions
        self.clock = clock
        self.command = tuple(command)
        self.first_pause_secs = first_pause_secs
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Record every session until ``stop``."""
        pause = self.first_pause_secs
        while not self._stopping.is_set():
            now = self.clock()
            session = self.sessions.session(now)
            if session is None:
                opens = self.sessions.next_open(now)
                logger.info("Quote recorder waits for the session opening %s", opens.isoformat())
                await self._wait((opens - now).total_seconds())
                continue
            code = await self._record_until(session[1])
            if code in (0, None):
                pause = self.first_pause_secs
                continue
            logger.warning("Quote recorder exited with %s; starting it again in %g s", code, pause)
            await self._wait(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_SECS)

    async def stop(self) -> None:
        """Stop the recorder (its buffered ticks are written) and ``run``."""
        self._stopping.set()
        await self._terminate()

    async def _wait(self, secs: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=max(secs, 0.0))

    async def _record_until(self, closes: datetime) -> int | None:
        """One recorder process until it exits, the close, or ``stop``; its exit code
        (``None``: stopped by us)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_EVENT_BROKER_DIR), env.get("PYTHONPATH", "")) if p
        )
        process = self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, env=env, start_new_session=True
        )
        self.starts += 1
        assert process.stdin is not None
        process.stdin.write(encode_recorder(self.request))
        await process.stdin.drain()
        logger.info("Quote recorder started (pid %d) until %s", process.pid, closes.isoformat())
        exited = asyncio.create_task(process.wait())
        await self._until(exited, (closes - self.clock()).total_seconds())
        if exited.done():
            return exited.result()
        await self._terminate()
        await exited
        return None

    async def _until(self, exited: Awaitable[object], secs: float) -> None:
        stopping = asyncio.create_task(self._stopping.wait())
        done_or_stopped = asyncio.wait(
            [stopping, asyncio.ensure_future(exited)], return_when=asyncio.FIRST_COMPLETED
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done_or_stopped, timeout=max(secs, 0.0))
        stopping.cancel()

    async def _terminate(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=_STOP_GRACE_SECS)
        except TimeoutError:
            logger.warning("Quote recorder (pid %d) ignored SIGTERM; killing it", process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
