"""NYSE sessions: weekdays that are not exchange holidays.

The holidays come from the ``holidays`` package's NYSE calendar (``financial_holidays("NYSE")``;
maintained, pure Python, its only dependency is python-dateutil): the regular holidays and the
special closures (2012-10-29/30 Hurricane Sandy, 2018-12-05 and 2025-01-09 national days of
mourning, ...). The daemon keeps no calendar of its own (a run on a holiday finds the market
closed at the broker), and ``exchange-calendars`` would bring pandas-based calendars of 50
exchanges for this one question. Early closes (13:00 on some half days) are not modelled: a
backtest trades at a session's open or close, whatever time that is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache

from broker_connector_base.types import NEW_YORK
from holidays import financial_holidays

__all__ = ["NYSE_CLOSE", "NYSE_OPEN", "is_session", "next_session", "session_moment", "sessions"]

NYSE_OPEN = dt.time(9, 30)
NYSE_CLOSE = dt.time(16, 0)


@lru_cache(maxsize=256)
def _holidays(year: int) -> frozenset[dt.date]:
    return frozenset(financial_holidays("NYSE", years=year))


def is_session(day: dt.date) -> bool:
    """Whether the NYSE trades on ``day`` (a weekday that is no exchange holiday)."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def sessions(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """Every session day from ``first`` to ``last``, both included."""
    day = first
    while day <= last:
        if is_session(day):
            yield day
        day += dt.timedelta(days=1)


def next_session(day: dt.date) -> dt.date:
    """The first session day after ``day``."""
    day += dt.timedelta(days=1)
    while not is_session(day):
        day += dt.timedelta(days=1)
    return day


def session_moment(day: dt.date, at: dt.time) -> dt.datetime:
    """``day`` at the New York wall-clock time ``at``, as an aware datetime."""
    return dt.datetime.combine(day, at, tzinfo=NEW_YORK)
