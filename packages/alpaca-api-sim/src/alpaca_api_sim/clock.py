"""The simulated market clock: New York sessions, holidays, early closes, and overrides.

Alpaca's ``/v2/clock`` says whether the market is open now and when it next opens and closes;
``/v2/calendar`` lists trading days with their open and close (New York wall-clock times).
Both are computed here from the scenario's ``clock:`` section.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from alpaca_api_sim.scenario import ClockSpec

__all__ = ["NEW_YORK", "MarketClock", "Session"]

NEW_YORK = ZoneInfo("America/New_York")

Session = tuple[dt.datetime, dt.datetime]
"""A trading session: aware open and close instants."""

_MIDNIGHT = dt.time(0, 0)
_SEARCH_DAYS = 14


class MarketClock:
    """The simulator's notion of "now" and of the market's sessions.

    Args:
        spec: The scenario's clock section.
    """

    def __init__(self, spec: ClockSpec) -> None:
        self.spec = spec
        self.always_open = spec.always_open
        self.forced_open: bool | None = None
        self._frozen: dt.datetime | None = spec.time

    # -- time ------------------------------------------------------------------------------

    @property
    def is_real_time(self) -> bool:
        """Whether the clock follows the wall clock (not frozen)."""
        return self._frozen is None

    def now(self) -> dt.datetime:
        """The current simulated instant, aware UTC."""
        if self._frozen is not None:
            return self._frozen.astimezone(dt.UTC)
        return dt.datetime.fromtimestamp(time.time(), dt.UTC)

    def set_time(self, when: dt.datetime | None) -> None:
        """Freeze at ``when`` (aware), or follow real time again (``None``)."""
        if when is not None and when.tzinfo is None:
            raise ValueError(f"clock time {when.isoformat()} has no UTC offset")
        self._frozen = when

    def advance(self, delta: dt.timedelta) -> None:
        """Move the clock forward by ``delta``; it stays frozen at the new instant."""
        self._frozen = self.now() + delta

    def today(self) -> dt.date:
        """The New York calendar day now."""
        return self.now().astimezone(NEW_YORK).date()

    # -- sessions --------------------------------------------------------------------------

    def session(self, day: dt.date) -> Session | None:
        """The session of the New York ``day``, or ``None`` when the market does not open."""
        if self.always_open:
            start = dt.datetime.combine(day, _MIDNIGHT, NEW_YORK)
            end = dt.datetime.combine(day + dt.timedelta(days=1), _MIDNIGHT, NEW_YORK)
            return start, end
        if day.weekday() >= 5 or day in self.spec.holidays:
            return None
        close = self.spec.early_closes.get(day, self.spec.close)
        return (
            dt.datetime.combine(day, self.spec.open, NEW_YORK),
            dt.datetime.combine(day, close, NEW_YORK),
        )

    def sessions(self, start: dt.date, end: dt.date) -> list[tuple[dt.date, Session]]:
        """Trading days from ``start`` to ``end`` inclusive, with their sessions."""
        days = []
        day = start
        while day <= end:
            session = self.session(day)
            if session is not None:
                days.append((day, session))
            day += dt.timedelta(days=1)
        return days

    def scheduled_open(self, at: dt.datetime | None = None) -> bool:
        """Whether ``at`` (default now) falls inside a scheduled session."""
        moment = at or self.now()
        session = self.session(moment.astimezone(NEW_YORK).date())
        return session is not None and session[0] <= moment < session[1]

    def is_open(self) -> bool:
        """Whether the market is open now (an override from the control API wins)."""
        if self.forced_open is not None:
            return self.forced_open
        return self.scheduled_open()

    def next_open(self) -> dt.datetime:
        """The next session start strictly after now."""
        now = self.now()
        for _, (start, _end) in self._upcoming(now):
            if start > now:
                return start
        raise RuntimeError(f"no session opens within {_SEARCH_DAYS} days of {now.isoformat()}")

    def next_close(self) -> dt.datetime:
        """The end of the session running now, else of the next one."""
        now = self.now()
        for _, (_, end) in self._upcoming(now):
            if end > now:
                return end
        raise RuntimeError(f"no session closes within {_SEARCH_DAYS} days of {now.isoformat()}")

    def _upcoming(self, now: dt.datetime) -> list[tuple[dt.date, Session]]:
        today = now.astimezone(NEW_YORK).date()
        return self.sessions(today, today + dt.timedelta(days=_SEARCH_DAYS))
