"""Pattern-day-trader protection: one executed rebalance per account per trading day, plus
one completion run after a run that ended incomplete.

FINRA's pattern day trader rule restricts margin accounts under $25,000 that make four or more
day trades (buying and selling the same security on the same day) within five business days.
A rebalance can sell what an earlier rebalance that day bought, so accounts with
``pdt_protection_enabled`` get one executed rebalance per New York calendar day. Previews
(``print-rebalance``) place no orders and are never restricted.

The day is recorded by the run's first order, in the journal, in the same transaction as that
order's row, written before the order is sent (``app.store.orders``): whichever process
dies later, the journal says the account traded that day. A run that placed no order does not
use up the day.

A run that ended incomplete (failed, timed out, killed, abandoned) allows ONE completion run
the same day, instead of leaving the account half in cash until the next day: it plans from
the broker's positions like any run and only finishes the plan, because shares bought earlier
that day are never sold (``BrokerClient.get_symbols_bought_today``). After a complete run, or
after the completion run, the next rebalance is refused until the next trading day.

The trading day is the calendar day in America/New_York (``zoneinfo``; the ``tzdata`` package
supplies the rules where the system has none), so the boundary is midnight New York time in
both EST and EDT. The next allowed time is midnight at the start of the next weekday;
exchange holidays are not modelled (a rebalance on a holiday finds the market closed anyway).
Check and record are separated in time: the account lock (``app.runs.locks.account_lock``)
keeps two runs of one account from interleaving them.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from broker_connector_base.types import NEW_YORK, trading_day

from app.models import PDTCheckResult, PDTExecutionInfo
from app.store.journal import Journal
from app.store.orders import record_trading_day

__all__ = [
    "NEW_YORK",
    "PDTProtectionService",
    "completion_note",
    "next_allowed_after",
    "pdt_refusal_message",
    "trading_day",
]

logger = logging.getLogger(__name__)

_SATURDAY = 5
_INCOMPLETE = frozenset({"failed", "timed_out", "abandoned"})


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"time {now.isoformat()} has no time zone; give an aware datetime")
    return now


def next_allowed_after(day: date) -> datetime:
    """Midnight New York time at the start of the first weekday after ``day``."""
    following = day + timedelta(days=1)
    while following.weekday() >= _SATURDAY:
        following += timedelta(days=1)
    # Midnight exists on every New York day (DST changes at 02:00), so this is unambiguous.
    return datetime.combine(following, time(0), tzinfo=NEW_YORK)


def pdt_refusal_message(
    account_id: str, next_allowed_time: str | datetime | None, *, detail: str | None = None
) -> str:
    """The message for a refused rebalance, worded as the original daemon did.

    ``detail`` (which runs used the day) goes between the two sentences.
    """
    when = (
        next_allowed_time.isoformat()
        if isinstance(next_allowed_time, datetime)
        else next_allowed_time or "the next trading day"
    )
    middle = f" ({detail})" if detail else ""
    return (
        f"PDT Protection: Account {account_id} was already rebalanced earlier today{middle} so "
        f"it was skipped to protect against PDT. You can manually rebalance after {when}."
    )


def completion_note(first_run: str) -> str:
    """What the owner is told about a completion run."""
    return (
        f"PDT: completion run after run {first_run}, which ended incomplete earlier today; it "
        "only finishes the plan (nothing bought today is sold) and is the last rebalance "
        "allowed today."
    )


class PDTProtectionService:
    """Decides whether an executed rebalance may run, from the trading days in the journal.

    Args:
        journal: The journal the workers record each run's first order (and its day) in.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def __repr__(self) -> str:
        return f"PDTProtectionService({self.journal!r})"

    def _latest_day(self, account_id: str, since: date | None = None) -> _Day | None:
        rows = self.journal.query(
            "SELECT d.*, r.status AS first_status, r.finished_at AS first_finished"
            " FROM pdt_days d LEFT JOIN runs r ON r.run_id = d.run_id"
            " WHERE d.account_id = ? AND d.trading_day >= ?"
            " ORDER BY d.trading_day DESC LIMIT 1",
            (account_id, (since or date.min).isoformat()),
        )
        return _Day.of(rows[0]) if rows else None

    def last_execution(self, account_id: str) -> datetime | None:
        """When ``account_id`` last placed a rebalance's first order (UTC), or ``None``."""
        day = self._latest_day(account_id)
        return None if day is None else day.last_order_at

    def info(self, account_id: str) -> PDTExecutionInfo | None:
        """Last execution and the next allowed time, or ``None`` if it never executed."""
        last = self.last_execution(account_id)
        if last is None:
            return None
        return PDTExecutionInfo(
            last_executed=last, next_execution=next_allowed_after(trading_day(last))
        )

    def is_execution_allowed(
        self, account_id: str, *, now: datetime | None = None
    ) -> PDTCheckResult:
        """Whether an executed rebalance may run now, and whether as a completion run.

        Allowed when the account placed no rebalance order on the current New York day, or
        once more (``completion_of`` names the run) when the run that did ended incomplete.
        Refused after a complete run, after the completion run, or when the journal holds a
        later day (the clock stepped back).

        Args:
            account_id: The account.
            now: The current time (aware); defaults to the system clock.
        """
        today = trading_day(_aware(now))
        day = self._latest_day(account_id, today)
        if day is None:
            return PDTCheckResult(allowed=True)
        if day.day == today and day.completion_run_id is None and day.incomplete:
            logger.info(
                "PDT protection: account %s may run once more today to complete run %s (%s)",
                account_id,
                day.run_id,
                day.first_status or "never finished",
            )
            return PDTCheckResult(allowed=True, completion_of=day.run_id)
        next_time = next_allowed_after(max(day.day, today)).isoformat()
        logger.info(
            "PDT protection: account %s traded on %s (%s); next execution allowed after %s",
            account_id,
            day.day.isoformat(),
            day.describe(),
            next_time,
        )
        return PDTCheckResult(allowed=False, next_allowed_time=next_time, detail=day.describe())

    def record_execution(
        self, account_id: str, *, run_id: str | None = None, now: datetime | None = None
    ) -> None:
        """Record that ``account_id`` placed an order of ``run_id`` at ``now``.

        Workers record this with each run's first order (``Journal.record_order``); this is
        for callers without an order row (tools, tests). Without ``run_id`` the day counts
        as used by an unknown, complete run.
        """
        moment = _aware(now)
        with self.journal.transaction() as conn:
            if run_id is None:
                conn.execute(
                    "INSERT INTO pdt_days (account_id, trading_day, run_id, first_order_at)"
                    " VALUES (?, ?, NULL, ?) ON CONFLICT (account_id, trading_day) DO NOTHING",
                    (
                        account_id,
                        trading_day(moment).isoformat(),
                        moment.astimezone(UTC).isoformat(timespec="microseconds"),
                    ),
                )
            else:
                record_trading_day(conn, account_id, run_id, moment)
        logger.info(
            "PDT protection: recorded executed rebalance of account %s at %s",
            account_id,
            moment.isoformat(),
        )


@dataclass(frozen=True)
class _Day:
    """One ``pdt_days`` row with the status of the run that opened the day."""

    day: date
    run_id: str | None
    first_order_at: datetime
    completion_run_id: str | None
    completion_at: datetime | None
    first_status: str | None
    first_finished: str | None

    @classmethod
    def of(cls, row: sqlite3.Row) -> _Day:
        completion = row["completion_at"]
        return cls(
            day=date.fromisoformat(row["trading_day"]),
            run_id=row["run_id"],
            first_order_at=datetime.fromisoformat(row["first_order_at"]),
            completion_run_id=row["completion_run_id"],
            completion_at=None if completion is None else datetime.fromisoformat(completion),
            first_status=row["first_status"],
            first_finished=row["first_finished"],
        )

    @property
    def last_order_at(self) -> datetime:
        return self.completion_at or self.first_order_at

    @property
    def incomplete(self) -> bool:
        """The run that opened the day ended incomplete, or never recorded an end."""
        if self.run_id is None:
            return False  # imported from the previous version: which run it was is unknown
        return self.first_finished is None or self.first_status in _INCOMPLETE

    def describe(self) -> str:
        if self.run_id is None:
            return "recorded by the previous version"
        if self.completion_run_id is not None:
            return f"run {self.run_id}, then completion run {self.completion_run_id}"
        return f"run {self.run_id}, {self.first_status or 'never finished'}"
