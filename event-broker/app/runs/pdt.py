"""Pattern-day-trader protection: at most one executed rebalance per account per trading day.

FINRA's pattern day trader rule restricts margin accounts under $25,000 that make four or more
day trades (buying and selling the same security on the same day) within five business days.
A rebalance can sell what an earlier rebalance that day bought, so accounts with
``pdt_protection_enabled`` are refused a second executed rebalance on the same New York
calendar day. Previews (``print-rebalance``) place no orders and are never restricted.

The trading day is the calendar day in America/New_York (``zoneinfo``; the ``tzdata`` package
supplies the rules where the system has none), so the boundary is midnight New York time in
both EST and EDT. The next allowed time is midnight at the start of the next weekday;
exchange holidays are not modelled (a rebalance on a holiday finds the market closed anyway).

State lives in a small SQLite file so it survives restarts and is shared by the daemon and
its per-account processes. Check and record are separate calls: the account lock
(``app.runs.locks.account_lock``) keeps two runs of one account from interleaving them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from broker_connector_base.sqlite_files import connect_wal
from broker_connector_base.types import NEW_YORK, trading_day

from app.models import PDTCheckResult, PDTExecutionInfo

__all__ = [
    "NEW_YORK",
    "PDTProtectionService",
    "next_allowed_after",
    "pdt_refusal_message",
    "trading_day",
]

logger = logging.getLogger(__name__)

_BUSY_TIMEOUT_SECS = 15.0
_SATURDAY = 5


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


def pdt_refusal_message(account_id: str, next_allowed_time: str | datetime | None) -> str:
    """The message for a refused rebalance, worded as the original daemon did."""
    when = (
        next_allowed_time.isoformat()
        if isinstance(next_allowed_time, datetime)
        else next_allowed_time or "the next trading day"
    )
    return (
        f"PDT Protection: Account {account_id} was already rebalanced earlier today so it was "
        f"skipped to protect against PDT. You can manually rebalance after {when}."
    )


class PDTProtectionService:
    """Remembers each account's last executed rebalance and refuses a second one the same day.

    Args:
        state_path: SQLite file for the state (for example ``DATA_DIR / "pdt.sqlite3"``);
            its directory is created when missing.
    """

    def __init__(self, state_path: Path) -> None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_path = state_path
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS pdt_executions ("
                " account_id TEXT PRIMARY KEY,"
                " last_executed TEXT NOT NULL)"
            )

    def __repr__(self) -> str:
        return f"PDTProtectionService({str(self.state_path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection; one transaction, committed on success."""
        with closing(connect_wal(self.state_path, timeout_secs=_BUSY_TIMEOUT_SECS)) as conn:
            conn.execute("PRAGMA synchronous = FULL")
            with conn:
                yield conn

    def last_execution(self, account_id: str) -> datetime | None:
        """When ``account_id`` last executed a rebalance (UTC), or ``None``."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT last_executed FROM pdt_executions WHERE account_id = ?", (account_id,)
            ).fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

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
        """Whether an executed rebalance may run now.

        Refused when the account already executed one on the current New York day (or, after
        a clock step backwards, on a later day).

        Args:
            account_id: The account.
            now: The current time (aware); defaults to the system clock.
        """
        today = trading_day(_aware(now))
        last = self.last_execution(account_id)
        if last is None or trading_day(last) < today:
            return PDTCheckResult(allowed=True)
        blocked_day = max(trading_day(last), today)
        next_time = next_allowed_after(blocked_day).isoformat()
        logger.info(
            "PDT protection: account %s executed at %s; next execution allowed after %s",
            account_id,
            last.isoformat(),
            next_time,
        )
        return PDTCheckResult(allowed=False, next_allowed_time=next_time)

    def record_execution(self, account_id: str, *, now: datetime | None = None) -> None:
        """Remember that ``account_id`` executed a rebalance at ``now``.

        An earlier time than the stored one never replaces it (the later execution counts).
        """
        moment = _aware(now).astimezone(UTC)
        # One statement, so two processes cannot interleave a read and a write. Fixed-width
        # UTC ISO text compares in time order.
        stamp = moment.isoformat(timespec="microseconds")
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO pdt_executions (account_id, last_executed) VALUES (?, ?)"
                " ON CONFLICT (account_id) DO UPDATE SET last_executed = excluded.last_executed"
                " WHERE excluded.last_executed > pdt_executions.last_executed",
                (account_id, stamp),
            )
        logger.info(
            "PDT protection: recorded executed rebalance of account %s at %s",
            account_id,
            moment.isoformat(),
        )
