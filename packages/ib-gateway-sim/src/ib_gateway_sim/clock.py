"""Market clock: real or frozen time, liquid/trading hours in IB's contract-details format."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ib_gateway_sim.scenario import ClockSpec

_DAYS_LISTED = 7
# A clock moved further than this in one step runs only the latest closes' auctions.
_MAX_CLOSES_SCANNED = 400


def _parse_span(span: str) -> tuple[dt.time, dt.time]:
    start, _, end = span.partition("-")
    return dt.time.fromisoformat(start), dt.time.fromisoformat(end)


class MarketClock:
    """The simulator's notion of "now" and of when the market is open."""

    def __init__(self, spec: ClockSpec) -> None:
        self._fixed: dt.datetime | None = spec.time
        self.timezone = spec.timezone
        self._zone = ZoneInfo(spec.timezone)
        self.always_open = spec.always_open
        self.liquid_span = _parse_span(spec.liquid_hours)
        self.trading_span = _parse_span(spec.trading_hours)
        self.holidays = set(spec.holidays)

    @property
    def is_real_time(self) -> bool:
        """True when the clock follows the wall clock."""
        return self._fixed is None

    def now(self) -> dt.datetime:
        """Current simulated time (timezone-aware UTC)."""
        if self._fixed is not None:
            return self._fixed.astimezone(dt.UTC)
        return dt.datetime.now(dt.UTC)

    def set_time(self, when: dt.datetime | None) -> None:
        """Freeze the clock at ``when`` (aware), or return to real time with ``None``."""
        if when is not None and when.tzinfo is None:
            raise ValueError("clock time must be timezone-aware")
        self._fixed = when

    def advance(self, delta: dt.timedelta) -> None:
        """Move a frozen clock forward (freezing it at now + delta first if it was real)."""
        self._fixed = self.now() + delta

    @property
    def zone(self) -> ZoneInfo:
        """The exchange's timezone (``timeZoneId`` of contract details)."""
        return self._zone

    def is_session_day(self, day: dt.date) -> bool:
        """True for weekdays that are not holidays (the days that have daily bars)."""
        return day.weekday() < 5 and day not in self.holidays

    def _within(self, span: tuple[dt.time, dt.time], when: dt.datetime | None = None) -> bool:
        if self.always_open:
            return True
        local = (when or self.now()).astimezone(self._zone)
        if not self.is_session_day(local.date()):
            return False
        return span[0] <= local.time().replace(second=0, microsecond=0) < span[1]

    def is_liquid(self, when: dt.datetime | None = None) -> bool:
        """True within regular (liquid) hours: market orders work only then."""
        return self._within(self.liquid_span, when)

    def is_trading(self, when: dt.datetime | None = None) -> bool:
        """True within the extended trading session."""
        return self._within(self.trading_span, when)

    def _hours(self, span: tuple[dt.time, dt.time]) -> str:
        today = self.now().astimezone(self._zone).date()
        parts: list[str] = []
        for offset in range(_DAYS_LISTED):
            day = today + dt.timedelta(days=offset)
            stamp = day.strftime("%Y%m%d")
            if self.always_open:
                # A session crossing midnight, as IB writes futures sessions.
                end = (day + dt.timedelta(days=1)).strftime("%Y%m%d")
                parts.append(f"{stamp}:0000-{end}:0000")
            elif self.is_session_day(day):
                start, stop = span
                parts.append(f"{stamp}:{start:%H%M}-{stamp}:{stop:%H%M}")
            else:
                parts.append(f"{stamp}:CLOSED")
        return ";".join(parts)

    def liquid_hours(self) -> str:
        """Liquid hours as IB sends them, e.g. ``20261123:0930-20261123:1600;20261128:CLOSED``."""
        return self._hours(self.liquid_span)

    def trading_hours(self) -> str:
        """Trading hours in the same format."""
        return self._hours(self.trading_span)

    def closes_between(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """Liquid-session closes in ``(start, end]`` (none for an always-open clock)."""
        if self.always_open or end <= start:
            return []
        first = start.astimezone(self._zone).date()
        last = end.astimezone(self._zone).date()
        first = max(first, last - dt.timedelta(days=_MAX_CLOSES_SCANNED))
        closes: list[dt.datetime] = []
        day = first
        while day <= last:
            if self.is_session_day(day):
                close = dt.datetime.combine(day, self.liquid_span[1], tzinfo=self._zone)
                if start < close <= end:
                    closes.append(close.astimezone(dt.UTC))
            day += dt.timedelta(days=1)
        return closes

    def past_cutoff(self, cutoff: dt.time, when: dt.datetime | None = None) -> bool:
        """True between ``cutoff`` and the liquid close of a session day (exchange time).

        An always-open clock has no close, so no cut-off either.
        """
        if self.always_open:
            return False
        local = (when or self.now()).astimezone(self._zone)
        if not self.is_session_day(local.date()):
            return False
        return cutoff <= local.time() < self.liquid_span[1]

    def latest_session_day(self, when: dt.datetime | None = None) -> dt.date:
        """The last session day whose regular session has started by ``when`` (or now)."""
        local = (when or self.now()).astimezone(self._zone)
        day = local.date()
        opened = self.always_open or local.time() >= self.liquid_span[0]
        if not (self.is_session_day(day) and opened):
            day -= dt.timedelta(days=1)
            while not self.is_session_day(day):
                day -= dt.timedelta(days=1)
        return day

    def next_liquid_open(self) -> dt.datetime | None:
        """The next instant regular hours start (None when always open)."""
        if self.always_open:
            return None
        local = self.now().astimezone(self._zone)
        for offset in range(_DAYS_LISTED + 14):
            day = local.date() + dt.timedelta(days=offset)
            if not self.is_session_day(day):
                continue
            start = dt.datetime.combine(day, self.liquid_span[0], tzinfo=self._zone)
            if start > local:
                return start.astimezone(dt.UTC)
        return None
