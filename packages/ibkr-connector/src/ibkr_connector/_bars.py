"""Daily bars from IB's historical data service (HMDS), cached, within IB's pacing rules.

Which bars: ``ADJUSTED_LAST``, the trades' OHLC adjusted for splits and dividends. A backtest
holds shares through years without modelling corporate actions; on ``TRADES`` bars a split
would read as a crash and a bond fund's coupons would vanish from its return, while adjusted
closes carry both (what the backtest package asks of its prices). The price of that choice: IB
computes adjusted bars up to now only (no end date), and every dividend rescales the bars before
its ex-date. So a cached series is checked against the gateway once per New York day: the new
request reaches back to the last cached day, and when the days both hold differ, history was
adjusted and the symbol's series is fetched again whole. A series checked today is served
without a request (IB applies an ex-date's adjustment before that day's session).

Pacing (IB's historical limits, the simulator's ``historical_pacing``): at most 60 requests in
10 minutes, and no identical request within 15 seconds. ``HistoryPacing`` waits before a
request that would break either rule, instead of drawing error 162 (IB counts per gateway
login, so other clients of the gateway can still use up the budget; the error then names it).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from broker_connector_base import BrokerAPIError, DailyBar, InvalidInputError
from broker_connector_base.types import trading_day
from ib_async import IB, BarData, Contract
from pydantic import ValidationError

from ibkr_connector import _gateway
from ibkr_connector.bar_cache import BarCache, CachedSeries
from ibkr_connector.translation import ib_price

__all__ = ["WHAT_TO_SHOW", "DailyBars", "HistoryPacing", "duration_back_to"]

logger = logging.getLogger(__name__)

_DAY = dt.timedelta(days=1)
_ContractLookup = Callable[[str], Awaitable[Contract]]
_Clock = Callable[[], Awaitable[dt.datetime]]

WHAT_TO_SHOW = "ADJUSTED_LAST"
"""The bars asked for (see the module docstring)."""


@dataclass
class HistoryPacing:
    """Waits so that historical requests keep IB's pacing rules (defaults: IB's).

    Attributes:
        max_requests: Requests allowed in any ``window_secs``.
        window_secs: The window they are counted over.
        identical_secs: How long before the same request may be sent again.
    """

    max_requests: int = 60
    window_secs: float = 600.0
    identical_secs: float = 15.0
    _sent: collections.deque[float] = field(default_factory=collections.deque, init=False)
    _last: dict[Hashable, float] = field(default_factory=dict, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def admit(self, key: Hashable, context: str) -> None:
        """Return when request ``key`` may be sent, and count it as sent."""
        async with self._lock:
            wait = self._wait(key, time.monotonic())
            if wait > 0:
                logger.info("Waiting %.1f s before %s (IB's historical data pacing)", wait, context)
                await asyncio.sleep(wait)
            now = time.monotonic()
            self._sent.append(now)
            self._last[key] = now

    def _wait(self, key: Hashable, now: float) -> float:
        while self._sent and now - self._sent[0] >= self.window_secs:
            self._sent.popleft()
        wait = 0.0
        if len(self._sent) >= self.max_requests:
            wait = self._sent[len(self._sent) - self.max_requests] + self.window_secs - now
        last = self._last.get(key)
        if last is not None:
            wait = max(wait, last + self.identical_secs - now)
        return wait


def duration_back_to(first: dt.date, today: dt.date) -> str:
    """An IB ``durationStr`` ending today that reaches back to ``first`` (or further).

    Up to 365 days as days (``"N D"``); beyond, IB wants years: enough whole years that the
    window starts before ``first``.
    """
    days = (today - first).days + 1
    if days <= 365:
        return f"{max(days, 1)} D"
    years = today.year - first.year
    while _years_before(today, years) >= first:
        years += 1
    return f"{years} Y"


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class DailyBars:
    """``get_daily_bars`` of ``IBKRClient``: the cache first, the gateway for the rest."""

    def __init__(
        self,
        ib: IB,
        contract_for: _ContractLookup,
        gateway_time: _Clock,
        cache: BarCache,
        pacing: HistoryPacing,
        timeout_secs: float,
    ) -> None:
        self.ib = ib
        self.contract_for = contract_for
        self.gateway_time = gateway_time
        self.cache = cache
        self.pacing = pacing
        self.timeout_secs = timeout_secs
        self._locks: dict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)

    async def get(self, symbol: str, start: dt.date, end: dt.date) -> list[DailyBar]:
        """The bars of ``symbol`` from ``start`` to ``end`` (see ``IBKRClient.get_daily_bars``)."""
        if start > end:
            raise InvalidInputError(f"daily bars of {symbol}: start {start} is after end {end}")
        today = trading_day(await self.gateway_time())
        if start > today:
            raise InvalidInputError(
                f"daily bars of {symbol}: start {start} is after today ({today}, New York)"
            )
        async with self._locks[symbol]:
            series = self.cache.series(symbol)
            if _serves(series, start, end, today):
                return self.cache.bars(symbol, start, end)
            fetched = await self._refresh(symbol, start, today, series)
        return [b for b in fetched if start <= b.date <= end]

    async def _refresh(
        self, symbol: str, start: dt.date, today: dt.date, series: CachedSeries | None
    ) -> list[DailyBar]:
        """Bring the cache up to date for ``start`` on; every bar from ``start`` to now."""
        if series is not None and series.first_day <= start:
            anchor = self.cache.last_bar_day(symbol)
            if anchor is not None:
                new = await self._extend(symbol, series, anchor, today)
                if new is not None:
                    return [*self.cache.bars(symbol, start, series.last_day), *new]
                logger.info(
                    "Daily bars of %s were adjusted since they were cached: fetching again", symbol
                )
            start = min(start, series.first_day)
        bars = await self._request(symbol, start, today)
        self.cache.store(
            symbol,
            [b for b in bars if b.date < today],
            CachedSeries(start, today - _DAY, today),
            replace=True,
        )
        return bars

    async def _extend(
        self, symbol: str, series: CachedSeries, anchor: dt.date, today: dt.date
    ) -> list[DailyBar] | None:
        """The bars after ``series.last_day``, asked from ``anchor`` (the last cached bar) on,
        and stored; ``None`` when IB's bars of the days the cache holds differ (adjusted)."""
        tail = await self._request(symbol, anchor, today)
        overlap = [b for b in tail if series.first_day <= b.date <= series.last_day]
        if not overlap:
            return None
        held = self.cache.bars(symbol, overlap[0].date, series.last_day)
        cached = {b.date: b for b in held}
        if len(held) != len(overlap) or any(cached.get(b.date) != b for b in overlap):
            return None
        new = [b for b in tail if b.date > series.last_day]
        last_day = max(series.last_day, today - _DAY)
        self.cache.store(
            symbol,
            [b for b in new if b.date < today],
            CachedSeries(series.first_day, last_day, today),
            replace=False,
        )
        return new

    async def _request(self, symbol: str, first: dt.date, today: dt.date) -> list[DailyBar]:
        contract = await self.contract_for(symbol)
        duration = duration_back_to(first, today)
        context = f"daily bars of {symbol} ({duration} to {today})"
        await self.pacing.admit((contract.conId, symbol, duration, WHAT_TO_SHOW), context)
        raw = await _gateway.bounded(
            self.ib,
            self.ib.reqHistoricalDataAsync(
                contract,
                endDateTime="",  # ADJUSTED_LAST: up to now only
                durationStr=duration,
                barSizeSetting="1 day",
                whatToShow=WHAT_TO_SHOW,
                useRTH=True,
                formatDate=1,
                timeout=0,  # bounded here: ib_async's own timeout would answer [] silently
            ),
            self.timeout_secs,
            context,
        )
        return [_daily_bar(symbol, bar) for bar in raw]


def _serves(series: CachedSeries | None, start: dt.date, end: dt.date, today: dt.date) -> bool:
    """Whether the cache alone answers: checked today, reaching back to ``start``, and not
    asked for today's (incomplete) bar."""
    return (
        series is not None
        and series.checked_on == today
        and series.first_day <= start
        and end < today
        and end <= series.last_day
    )


def _daily_bar(symbol: str, bar: BarData) -> DailyBar:
    day = bar.date.date() if isinstance(bar.date, dt.datetime) else bar.date
    prices = [ib_price(v) for v in (bar.open, bar.high, bar.low, bar.close)]
    try:
        return DailyBar(
            symbol=symbol,
            date=day,
            open=prices[0],
            high=prices[1],
            low=prices[2],
            close=prices[3],
            volume=int(bar.volume) if bar.volume is not None and bar.volume >= 0 else None,
        )
    except ValidationError as exc:
        raise BrokerAPIError(
            f"IB sent an unusable daily bar of {symbol} on {day}: {exc.errors()[0]['msg']} "
            f"(open {bar.open}, high {bar.high}, low {bar.low}, close {bar.close})"
        ) from None
