"""When the daily snapshot is due: ``SNAPSHOT_TIME`` New York time on NYSE trading days.

The rule: a snapshot is due at ``SNAPSHOT_TIME`` (default 16:10, ten minutes after the
regular close, when the day's last trades are in the positions' prices) on every weekday
that the NYSE does not close for the whole day. Early-close days (13:00) are trading days;
their snapshot comes at the same time. A daemon that starts after today's time, on a trading
day, before a snapshot of the account was taken since it, takes that one at once (a restart
or deploy at 16:05 does not lose the day); days it was down entirely are not made up (a
snapshot taken the next day would carry the next day's prices).

Closures come from the ``holidays`` package's NYSE calendar (``financial_holidays("NYSE")``):
the regular holidays by rule for any year, and the special closures (national days of
mourning, weather) its maintainers add as they are announced; keeping the package up to date
keeps the calendar right. It was chosen over ``exchange_calendars`` and
``pandas_market_calendars``, which know the same days but bring pandas into the daemon's image,
and over a table of our own, which would need a release for every special closure.

The scheduler is a small asyncio task rather than a scheduling library: it needs one daily
time, a calendar check and an injectable clock (so tests never wait for 16:10), and it sleeps
in steps of at most five minutes, so a clock that jumps (suspend, NTP) delays a snapshot by
at most one step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from broker_connector_base.types import NEW_YORK

__all__ = [
    "DailySchedule",
    "NyseCalendar",
    "SnapshotJob",
    "SnapshotScheduler",
    "TradingCalendar",
]

logger = logging.getLogger(__name__)

_MAX_SLEEP_SECS = 300.0


class TradingCalendar(Protocol):
    """Tells trading days from closed ones."""

    def is_trading_day(self, day: date) -> bool:
        """True when the exchange trades on ``day`` (a New York calendar day)."""
        ...


class NyseCalendar:
    """NYSE trading days: weekdays that are not full-day closures of the ``holidays`` calendar."""

    def __init__(self) -> None:
        # Imported here: the package loads every country's calendar (about 0.1 s of CPU),
        # which only the daemon's scheduler and the report need, not every CLI run.
        import holidays

        # Years are filled in lazily as days are looked up.
        self._closed = holidays.financial_holidays("NYSE")

    def is_trading_day(self, day: date) -> bool:
        """True on weekdays the NYSE is open (early-close days included)."""
        return day.weekday() < 5 and day not in self._closed

    def closure(self, day: date) -> str | None:
        """The name of the holiday closing ``day``, if one does."""
        name = self._closed.get(day)
        return None if name is None else str(name)


class DailySchedule:
    """``at`` New York time on every trading day of ``calendar``.

    Args:
        at: Wall-clock time in New York.
        calendar: Which days are trading days.
    """

    def __init__(self, at: time, calendar: TradingCalendar) -> None:
        self.at = at
        self.calendar = calendar

    def occurrence(self, day: date) -> datetime:
        """The instant the snapshot of ``day`` is due (aware, New York)."""
        return datetime.combine(day, self.at, tzinfo=NEW_YORK)

    def next_after(self, moment: datetime) -> datetime:
        """The first due instant strictly after ``moment`` (aware)."""
        day = moment.astimezone(NEW_YORK).date()
        while True:
            due = self.occurrence(day)
            if due > moment and self.calendar.is_trading_day(day):
                return due
            day += timedelta(days=1)

    def due_today(self, moment: datetime) -> datetime | None:
        """Today's due instant when it has passed by ``moment`` (a trading day), else ``None``."""
        day = moment.astimezone(NEW_YORK).date()
        due = self.occurrence(day)
        if due <= moment and self.calendar.is_trading_day(day):
            return due
        return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


SnapshotJob = Callable[[datetime, bool], Awaitable[object]]
"""``job(due, catch_up)``: take the snapshots due at ``due``; ``catch_up`` when the daemon
started after it (only accounts without a snapshot since ``due`` need one)."""


class SnapshotScheduler:
    """Runs ``job`` at every due instant of ``schedule`` until cancelled.

    Args:
        schedule: When snapshots are due.
        job: Takes them; its failures are logged, and the next day comes anyway.
        clock: The current time, aware; default the system clock (tests inject a fake).
        sleep: Waits that many seconds; default ``asyncio.sleep`` (tests: a fake that
            advances the fake clock).
    """

    def __init__(
        self,
        schedule: DailySchedule,
        job: SnapshotJob,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        self.schedule = schedule
        self.job = job
        self.clock = clock or _utc_now
        self.sleep = sleep or asyncio.sleep
        self.current_job: asyncio.Future[object] | None = None
        """The job under way, if any."""

    async def run(self) -> None:
        """Catch up today's snapshot if it is overdue, then take each one when due."""
        due = self.schedule.due_today(self.clock())
        if due is not None:
            await self._run_job(due, catch_up=True)
        while True:
            due = self.schedule.next_after(self.clock())
            logger.info("Next daily snapshot at %s", due.isoformat())
            while (remaining := (due - self.clock()).total_seconds()) > 0:
                await self.sleep(min(remaining, _MAX_SLEEP_SECS))
            await self._run_job(due, catch_up=False)

    async def _run_job(self, due: datetime, *, catch_up: bool) -> None:
        job = asyncio.ensure_future(self.job(due, catch_up))
        self.current_job = job
        try:
            # Shielded: cancelling the scheduler (shutdown) must not kill snapshot runs under
            # way; they get the executor's shutdown grace and the daemon awaits ``current_job``.
            await asyncio.shield(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The schedule outlives one bad day: the next snapshot is still taken.
            logger.exception("Daily snapshot due at %s failed", due.isoformat())
        self.current_job = None

    async def finish(self) -> None:
        """After cancelling ``run``: wait for a job it left under way, its failure logged."""
        job, self.current_job = self.current_job, None
        if job is None:
            return
        try:
            await job
        except Exception as exc:
            logger.warning("Daily snapshot under way at shutdown ended with %s", exc)
