"""Daily bars for reqHistoricalData: the scenario's own, or a deterministic random walk.

A symbol without ``history`` gets generated bars on the clock's session days (weekdays minus
the clock's holidays). The walk is anchored at the latest session day when the simulator
starts: that day closes at the symbol's scenario price (IB's mark price rule), earlier days
walk back from it, later ones (a clock moved forward) walk on. Every day's move comes from
a hash of (``history_seed``, symbol, date), so any two windows agree on the days they share
and the same scenario and start day give the same bars on every run. Prices are ``Decimal``
on the symbol's tick.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from ib_gateway_sim.bars import HistoryBar
from ib_gateway_sim.clock import MarketClock
from ib_gateway_sim.scenario import SymbolSpec
from ib_gateway_sim.state import mark_price

__all__ = ["GENERATED_YEARS", "BarSource", "Duration", "window_start"]

GENERATED_YEARS = 30
"""How far back generated history reaches before the anchor day."""

_RETURN_SCALE = Decimal(15000)  # four hash bytes: daily move of about 1 % (sd), at most 3.4 %
_GAP_SCALE = Decimal(85000)  # open within 0.3 % of the previous close
_RANGE_SCALE = Decimal(40000)  # high/low up to 0.64 % beyond open and close

Duration = tuple[int, str]
"""A parsed ``durationStr``: (count, unit) with unit one of S, D, W, M, Y."""


def _shift_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):  # the 31st of a shorter month: its last day
        try:
            return dt.date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has a 28th")


def window_start(last_day: dt.date, duration: Duration) -> dt.date | None:
    """The calendar day before a W/M/Y window ending on ``last_day`` (bars after it count).

    Returns None for S and D, which count sessions rather than calendar time.
    """
    count, unit = duration
    if unit == "W":
        return last_day - dt.timedelta(weeks=count)
    if unit == "M":
        return _shift_months(last_day, count)
    if unit == "Y":
        return _shift_months(last_day, 12 * count)
    return None


class BarSource:
    """Daily bars per symbol (scenario specs as loaded; run-time quote changes do not move
    history)."""

    def __init__(self, symbols: dict[str, SymbolSpec], clock: MarketClock, seed: int) -> None:
        self._symbols = symbols
        self._clock = clock
        self._seed = seed
        self._anchor = clock.latest_session_day()
        self._cache: dict[tuple[str, dt.date], list[HistoryBar]] = {}

    def bars(self, symbol: str) -> list[HistoryBar]:
        """Every bar of ``symbol`` up to the latest session day by the clock (may be [])."""
        spec = self._symbols[symbol]
        last_day = self._clock.latest_session_day()
        if spec.history is not None:
            return [bar for bar in spec.history if bar.date <= last_day]
        last_day = max(last_day, self._anchor)
        key = (symbol, last_day)
        if key not in self._cache:
            self._cache[key] = self._generate(symbol, spec, last_day)
        return [bar for bar in self._cache[key] if bar.date <= self._clock.latest_session_day()]

    def set_history(self, symbol: str, bars: list[HistoryBar]) -> None:
        """Serve ``bars`` for ``symbol`` from now on (IB rewrites adjusted history after a
        dividend or a split)."""
        spec = self._symbols[symbol]
        self._symbols = {**self._symbols, symbol: spec.model_copy(update={"history": bars})}
        self._cache = {key: bars for key, bars in self._cache.items() if key[0] != symbol}

    def select(self, symbol: str, end_day: dt.date, duration: Duration) -> list[HistoryBar]:
        """The bars of a request: up to ``end_day``, as far back as ``duration`` reaches.

        ``N D`` (and seconds, rounded up to days) are the last N sessions; W, M and Y are
        calendar spans (``1 Y`` ending 2026-11-20 holds the bars after 2025-11-20).
        """
        bars = self.bars(symbol)
        stop = bisect.bisect_right([bar.date for bar in bars], end_day)
        upto = bars[:stop]
        count, unit = duration
        start = window_start(end_day, duration)
        if start is None:
            sessions = count if unit == "D" else -(-count // 86_400)
            return upto[-sessions:] if sessions > 0 else []
        return [bar for bar in upto if bar.date > start]

    def _days(self, first: dt.date, last: dt.date) -> list[dt.date]:
        days, day = [], first
        while day <= last:
            if self._clock.is_session_day(day):
                days.append(day)
            day += dt.timedelta(days=1)
        return days

    def _digest(self, symbol: str, day: dt.date) -> bytes:
        text = f"{self._seed}:{symbol}:{day.isoformat()}".encode()
        return hashlib.blake2b(text, digest_size=8).digest()

    def _generate(self, symbol: str, spec: SymbolSpec, last_day: dt.date) -> list[HistoryBar]:
        price = mark_price(spec)
        if price <= 0:
            return []
        tick = spec.min_tick
        first = _shift_months(self._anchor, 12 * GENERATED_YEARS)
        days = self._days(first, last_day)
        anchor = bisect.bisect_right(days, self._anchor) - 1
        moves = [self._digest(symbol, day) for day in days]
        closes = [Decimal(0)] * len(days)
        closes[anchor] = _on_tick(price, tick, ROUND_HALF_EVEN)
        for i in range(anchor - 1, -1, -1):  # close[i] moved by the next day's return
            closes[i] = _on_tick(closes[i + 1] / (1 + _daily_return(moves[i + 1])), tick)
        for i in range(anchor + 1, len(days)):
            closes[i] = _on_tick(closes[i - 1] * (1 + _daily_return(moves[i])), tick)
        return [
            _bar(days[i], closes[i - 1], closes[i], moves[i], spec) for i in range(1, len(days))
        ]


def _daily_return(digest: bytes) -> Decimal:
    return Decimal(sum(digest[:4]) - 510) / _RETURN_SCALE


def _on_tick(price: Decimal, tick: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    steps = (price / tick).to_integral_value(rounding=rounding)
    return max(steps, Decimal(1)) * tick


def _bar(
    day: dt.date, previous: Decimal, close: Decimal, digest: bytes, spec: SymbolSpec
) -> HistoryBar:
    tick = spec.min_tick
    open_ = _on_tick(previous * (1 + Decimal(2 * digest[4] - 255) / _GAP_SCALE), tick)
    high = _on_tick(max(open_, close) * (1 + digest[5] / _RANGE_SCALE), tick, ROUND_CEILING)
    low = _on_tick(min(open_, close) * (1 - digest[6] / _RANGE_SCALE), tick, ROUND_FLOOR)
    volume = spec.volume * (192 + digest[7]) // 320
    return HistoryBar(date=day, open=open_, high=high, low=low, close=close, volume=volume)
