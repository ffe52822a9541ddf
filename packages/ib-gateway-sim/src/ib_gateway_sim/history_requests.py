"""reqHistoricalData (20) and reqHeadTimeStamp (87) for daily bars, mixed into ``Session``.

reqHistoricalData as ib_async sends it (no version field): ``20, reqId, C12 contract,
includeExpired, endDateTime, barSizeSetting, durationStr, useRTH, whatToShow, formatDate,
keepUpToDate, chartOptions``. The reply is one historicalData (17) message: ``17, reqId,
startDate, endDate, count`` then ``date, open, high, low, close, volume, WAP, barCount`` per
bar, daily dates as ``YYYYMMDD`` whatever ``formatDate`` says (as IB sends them).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ib_gateway_sim import messages as m
from ib_gateway_sim.bars import HistoryBar
from ib_gateway_sim.history import Duration
from ib_gateway_sim.wire import Field, frame, integer

if TYPE_CHECKING:
    from ib_gateway_sim.engine import Engine
    from ib_gateway_sim.server import GatewaySimulator

_HMDS = "Historical Market Data Service error message:"
_SERVED = ("TRADES", "ADJUSTED_LAST", "MIDPOINT")
# Valid at IB but not served by the simulator: answered with 162 so the request ends.
_IB_WHAT_TO_SHOW = frozenset(
    {"BID", "ASK", "BID_ASK", "HISTORICAL_VOLATILITY", "OPTION_IMPLIED_VOLATILITY"}
    | {"REBATE_RATE", "FEE_RATE", "YIELD_BID", "YIELD_ASK", "YIELD_BID_ASK", "YIELD_LAST"}
    | {"SCHEDULE", "AGGTRADES"}
)
_IB_BAR_SIZES = frozenset(
    {"1 secs", "5 secs", "10 secs", "15 secs", "30 secs", "1 min", "2 mins", "3 mins"}
    | {"5 mins", "10 mins", "15 mins", "20 mins", "30 mins", "1 hour", "2 hours", "3 hours"}
    | {"4 hours", "8 hours", "1 week", "1 month"}
)
_DURATION = re.compile(r"^(\d+) ([SDWMY])$")
_END = re.compile(r"^(\d{8})(?:[ -](\d{2}:\d{2}:\d{2}))?(?: (\S+))?$")
_WAP = Decimal("0.0001")


class HistoryError(Exception):
    """A historical request answered with TWS error ``code``."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


def _invalid(what: str) -> HistoryError:
    # ib_async treats 321 as a warning: the request then waits for its own timeout, as with IB.
    return HistoryError(321, f"Error validating request.-'bH' : cause - {what}")


def parse_duration(text: str) -> Duration:
    """``"10 Y"`` -> (10, "Y"); raises HistoryError 321 for anything else."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) <= 0:
        raise _invalid(f"Historical data request duration {text!r} is invalid")
    return int(match.group(1)), match.group(2)


def parse_end(text: str, zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """endDateTime: empty (now), ``YYYYMMDD HH:MM:SS [tz]``, ``YYYYMMDD-HH:MM:SS`` (UTC).

    Without a timezone the exchange's is used (IB uses the TWS login timezone).
    """
    if not text.strip():
        return now
    match = _END.match(text.strip())
    if match is None:
        raise _invalid(f"End date/time {text!r} is invalid")
    day, clock, tz_name = match.groups()
    tz: dt.tzinfo = zone
    if tz_name is not None:
        try:
            tz = dt.UTC if tz_name in ("UTC", "GMT") else ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _invalid(f"End date/time timezone {tz_name!r} is unknown") from exc
    elif clock is not None and "-" in text:
        tz = dt.UTC  # IB's YYYYMMDD-HH:MM:SS form is UTC
    try:
        when = dt.datetime.strptime(f"{day} {clock or '23:59:59'}", "%Y%m%d %H:%M:%S")
    except ValueError as exc:
        raise _invalid(f"End date/time {text!r} is invalid") from exc
    return when.replace(tzinfo=tz)


def bar_fields(bar: HistoryBar, what: str) -> list[Field]:
    """One bar on the wire; MIDPOINT bars carry no volume, WAP or count (-1, as IB sends)."""
    if what == "MIDPOINT":
        return [bar.date.strftime("%Y%m%d"), bar.open, bar.high, bar.low, bar.close, -1, -1, -1]
    wap = ((bar.high + bar.low + bar.close) / 3).quantize(_WAP)
    count = max(bar.volume // 100, 1) if bar.volume else 0
    fields: list[Field] = [bar.date.strftime("%Y%m%d"), bar.open, bar.high, bar.low, bar.close]
    return [*fields, bar.volume, wap, count]


class HistoryMixin:
    """Handlers for historical daily bars and the head timestamp."""

    sim: GatewaySimulator
    engine: Engine

    def send(self, *payloads: bytes) -> None:
        raise NotImplementedError

    def history_handlers(self) -> dict[int, Callable[[list[str]], None]]:
        """Map of message id to handler for this mixin."""
        return {
            20: self._req_historical_data,
            25: self._ignore,  # cancelHistoricalData: every reply is already complete
            87: self._req_head_timestamp,
            90: self._ignore,  # cancelHeadTimeStamp
        }

    def _ignore(self, fields: list[str]) -> None:
        """Requests that need no answer."""

    def _symbol(self, fields: list[str]) -> str:
        spec = self.engine.symbol_for(integer(fields[2]), fields[3])
        if spec is None or fields[4] not in ("", spec.sec_type):
            raise HistoryError(200, "No security definition has been found for the request")
        return self.engine.symbol_name(spec)

    def _req_historical_data(self, fields: list[str]) -> None:
        req_id = int(fields[1])
        try:
            payload = self._historical_reply(req_id, fields)
        except HistoryError as error:
            payload = m.error(req_id, error.code, error.text)
        self.send(payload)

    def _historical_reply(self, req_id: int, fields: list[str]) -> bytes:
        end_text, bar_size, duration_text, _use_rth, what = fields[15:20]
        symbol = self._symbol(fields)
        _check_request(bar_size, what, end_text)
        duration = parse_duration(duration_text)
        clock = self.engine.clock
        end = parse_end(end_text, clock.zone, clock.now())
        if not self.sim.history_pacer.admit(tuple(fields[2:21]), self.sim.faults):
            raise HistoryError(162, f"{_HMDS}Historical data request pacing violation")
        end_day = clock.latest_session_day(min(end, clock.now()))
        bars = self.sim.bars.select(symbol, end_day, duration)
        if not bars:
            exchange = fields[9] or "SMART"
            title = what.replace("_", " ").title()
            raise HistoryError(
                162, f"{_HMDS}HMDS query returned no data: {symbol}@{exchange} {title}"
            )
        stamp = f"%Y%m%d %H:%M:%S {clock.timezone}"
        first_open = dt.datetime.combine(bars[0].date, clock.liquid_span[0]).strftime(stamp)
        last = end.astimezone(clock.zone).strftime(stamp)
        message: list[Field] = [17, req_id, first_open, last, len(bars)]
        for bar in bars:
            message += bar_fields(bar, what)
        return frame(message)

    def _req_head_timestamp(self, fields: list[str]) -> None:
        req_id = int(fields[1])
        try:
            symbol = self._symbol(fields)
            bars = self.sim.bars.bars(symbol)
            if not bars:
                raise HistoryError(162, f"{_HMDS}HMDS query returned no data: {symbol}")
        except HistoryError as error:
            self.send(m.error(req_id, error.code, error.text))
            return
        clock = self.engine.clock
        first = dt.datetime.combine(bars[0].date, clock.liquid_span[0], tzinfo=clock.zone)
        if fields[17] == "2":
            stamp = str(int(first.timestamp()))
        else:
            stamp = first.strftime("%Y%m%d-%H:%M:%S")
        self.send(frame([88, req_id, stamp]))


def _check_request(bar_size: str, what: str, end_text: str) -> None:
    if bar_size != "1 day":
        if bar_size in _IB_BAR_SIZES:
            raise HistoryError(162, f"{_HMDS}the simulator serves 1 day bars only, not {bar_size}")
        raise _invalid(f"Historical data bar size setting {bar_size!r} is invalid")
    if what not in _SERVED:
        if what in _IB_WHAT_TO_SHOW:
            raise HistoryError(162, f"{_HMDS}the simulator does not serve {what} bars")
        raise _invalid(f"whatToShow {what!r} is invalid")
    if what == "ADJUSTED_LAST" and end_text.strip():
        # IB computes adjusted bars up to now only.
        raise _invalid("End date not supported with adjusted last")
