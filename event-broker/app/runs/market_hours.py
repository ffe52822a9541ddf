"""The regular US equity session by the New York clock: when the daemon may wait, and check.

Monday to Friday 09:30-16:00 America/New_York. Exchange holidays and early closes are not
modelled (as for PDT protection): on such a day a run finds the market closed at the broker
and places nothing, and a position check just finds nothing changed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from broker_connector_base.types import NEW_YORK

__all__ = ["CLOSE", "OPEN", "in_regular_hours", "regular_close_after", "retry_deadline"]

OPEN = time(9, 30)
CLOSE = time(16, 0)
_SATURDAY = 5


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"time {now.isoformat()} has no time zone; give an aware datetime")
    return now


def in_regular_hours(now: datetime) -> bool:
    """Whether ``now`` falls in a regular session (weekday, 09:30-16:00 New York)."""
    local = _aware(now).astimezone(NEW_YORK)
    return local.weekday() < _SATURDAY and OPEN <= local.time() < CLOSE


def regular_close_after(now: datetime) -> datetime:
    """The first regular close (16:00 New York on a weekday) at or after ``now``."""
    local = _aware(now).astimezone(NEW_YORK)
    day = local.date()
    while True:
        close = datetime.combine(day, CLOSE, tzinfo=NEW_YORK)
        if day.weekday() < _SATURDAY and close >= local:
            return close
        day += timedelta(days=1)


def retry_deadline(now: datetime, wait_secs: float) -> datetime:
    """Until when a run that cannot reach its broker may wait: ``wait_secs``, never past the
    next regular close (a run that then finds the market closed places nothing anyway)."""
    return min(_aware(now) + timedelta(seconds=wait_secs), regular_close_after(now))
