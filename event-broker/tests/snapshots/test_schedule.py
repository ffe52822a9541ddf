"""The daily snapshot schedule: NYSE trading days at SNAPSHOT_TIME, on an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest
from app.snapshots.schedule import DailySchedule, NyseCalendar, SnapshotScheduler
from broker_connector_base.types import NEW_YORK


def ny(text: str) -> datetime:
    """A New York wall time, ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


@pytest.fixture(scope="module")
def calendar() -> NyseCalendar:
    return NyseCalendar()


@pytest.fixture
def schedule(calendar: NyseCalendar) -> DailySchedule:
    return DailySchedule(time(16, 10), calendar)


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 11, 25), True),  # Wednesday before Thanksgiving
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 11, 27), True),  # early close (13:00) is a trading day
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
        (date(2026, 4, 3), False),  # Good Friday: the exchange closes, banks do not
        (date(2026, 7, 3), False),  # Independence Day observed on the Friday
        (date(2025, 1, 9), False),  # day of mourning for President Carter (special closure)
        (date(2027, 12, 24), False),  # Christmas observed
        (date(2026, 10, 12), True),  # Columbus Day: a bank holiday, the exchange trades
        (date(2026, 11, 11), True),  # Veterans Day: the same
    ],
)
def test_nyse_calendar_when_asked_for_a_day_then_knows_holidays_and_special_closures(
    calendar: NyseCalendar, day: date, open_: bool
) -> None:
    assert calendar.is_trading_day(day) is open_


@pytest.mark.parametrize(
    ("now", "due"),
    [
        ("2026-11-25 09:00", "2026-11-25 16:10"),  # same day, before the time
        ("2026-11-25 16:10", "2026-11-27 16:10"),  # at the time: the next one (Thanksgiving off)
        ("2026-11-27 16:11", "2026-11-30 16:10"),  # Friday evening: Monday
        ("2026-11-28 12:00", "2026-11-30 16:10"),  # Saturday
        ("2026-04-02 17:00", "2026-04-06 16:10"),  # Thursday before Good Friday
        ("2026-03-06 17:00", "2026-03-09 16:10"),  # over the switch to daylight saving time
        ("2026-10-30 17:00", "2026-11-02 16:10"),  # over the switch back
    ],
)
def test_schedule_next_after_when_at_a_moment_then_first_trading_day_time_strictly_after(
    schedule: DailySchedule, now: str, due: str
) -> None:
    assert schedule.next_after(ny(now)) == ny(due)


def test_schedule_due_instant_is_new_york_wall_time_in_either_season(
    schedule: DailySchedule,
) -> None:
    assert schedule.occurrence(date(2026, 1, 5)).astimezone(UTC).hour == 21  # EST, UTC-5
    assert schedule.occurrence(date(2026, 7, 6)).astimezone(UTC).hour == 20  # EDT, UTC-4


@pytest.mark.parametrize(
    ("now", "due"),
    [
        ("2026-11-25 16:09", None),
        ("2026-11-25 16:10", "2026-11-25 16:10"),
        ("2026-11-25 23:59", "2026-11-25 16:10"),
        ("2026-11-26 18:00", None),  # Thanksgiving
        ("2026-11-28 18:00", None),  # Saturday
    ],
)
def test_schedule_due_today_only_once_the_time_passed_on_a_trading_day(
    schedule: DailySchedule, now: str, due: str | None
) -> None:
    assert schedule.due_today(ny(now)) == (None if due is None else ny(due))


class FakeClock:
    """A clock that only moves when the scheduler sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, secs: float) -> None:
        self.sleeps.append(secs)
        self.now += timedelta(seconds=secs)
        await asyncio.sleep(0)


class Jobs:
    """Records each job call (with the fake time it ran at); stops after ``stop_after``."""

    def __init__(self, clock: FakeClock, stop_after: int) -> None:
        self.clock = clock
        self.calls: list[tuple[datetime, bool, datetime]] = []
        self.stop_after = stop_after
        self.done = asyncio.Event()
        self.fail_first = False

    async def __call__(self, due: datetime, catch_up: bool) -> None:
        self.calls.append((due, catch_up, self.clock()))
        if len(self.calls) >= self.stop_after:
            self.done.set()
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("broker down")


async def _run_until_done(scheduler: SnapshotScheduler, jobs: Jobs) -> None:
    task = asyncio.create_task(scheduler.run())
    async with asyncio.timeout(10):
        await jobs.done.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_scheduler_runs_at_each_trading_day_time_and_skips_holiday_and_weekend(
    schedule: DailySchedule,
) -> None:
    clock = FakeClock(ny("2026-11-25 12:00"))
    jobs = Jobs(clock, stop_after=3)
    await _run_until_done(SnapshotScheduler(schedule, jobs, clock=clock, sleep=clock.sleep), jobs)

    expected = [ny("2026-11-25 16:10"), ny("2026-11-27 16:10"), ny("2026-11-30 16:10")]
    assert [(due, catch_up) for due, catch_up, _ in jobs.calls] == [(d, False) for d in expected]
    # Each job ran when its time came on the clock, not before.
    assert [ran for _, _, ran in jobs.calls] == expected
    assert max(clock.sleeps) <= 300  # steps of at most five minutes


async def test_scheduler_started_after_todays_time_catches_up_at_once(
    schedule: DailySchedule,
) -> None:
    clock = FakeClock(ny("2026-11-25 16:45"))
    jobs = Jobs(clock, stop_after=2)
    await _run_until_done(SnapshotScheduler(schedule, jobs, clock=clock, sleep=clock.sleep), jobs)

    assert jobs.calls[0] == (ny("2026-11-25 16:10"), True, ny("2026-11-25 16:45"))
    assert jobs.calls[1][:2] == (ny("2026-11-27 16:10"), False)


async def test_scheduler_started_on_a_holiday_evening_does_not_catch_up(
    schedule: DailySchedule,
) -> None:
    clock = FakeClock(ny("2026-11-26 20:00"))
    jobs = Jobs(clock, stop_after=1)
    await _run_until_done(SnapshotScheduler(schedule, jobs, clock=clock, sleep=clock.sleep), jobs)

    assert jobs.calls == [(ny("2026-11-27 16:10"), False, ny("2026-11-27 16:10"))]


async def test_scheduler_when_a_job_fails_then_the_next_day_still_runs(
    schedule: DailySchedule, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(ny("2026-11-25 12:00"))
    jobs = Jobs(clock, stop_after=2)
    jobs.fail_first = True
    await _run_until_done(SnapshotScheduler(schedule, jobs, clock=clock, sleep=clock.sleep), jobs)

    assert [due for due, _, _ in jobs.calls] == [ny("2026-11-25 16:10"), ny("2026-11-27 16:10")]
    assert "Daily snapshot due at 2026-11-25T16:10:00-05:00 failed" in caplog.text


async def test_scheduler_cancelled_mid_job_leaves_the_job_running_for_finish(
    schedule: DailySchedule,
) -> None:
    clock = FakeClock(ny("2026-11-25 16:30"))
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[datetime] = []

    async def slow_job(due: datetime, catch_up: bool) -> None:
        started.set()
        await release.wait()
        finished.append(due)

    scheduler = SnapshotScheduler(schedule, slow_job, clock=clock, sleep=clock.sleep)
    task = asyncio.create_task(scheduler.run())
    await started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert task.cancelled()
    assert finished == []  # the snapshot runs under way were not killed with the scheduler
    release.set()
    await scheduler.finish()
    assert finished == [ny("2026-11-25 16:10")]
