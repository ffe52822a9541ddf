"""All translation between ib_async values and the base models, as pure functions and tables.

Nothing here talks to the gateway, so every rule is tested exhaustively with plain values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from broker_connector_base import ContractPrice, InvalidInputError, OrderStatus

from ibkr_connector.errors import ErrorKind, error_kind

__all__ = [
    "CANCEL_REFUSED_CODES",
    "IB_ORDER_STATUS",
    "Session",
    "exchange_zone",
    "has_any_price",
    "ib_price",
    "next_open",
    "order_id_to_int",
    "order_status",
    "parse_liquid_hours",
    "quantity_to_action",
    "session_end",
    "usable_price",
]

IB_ORDER_STATUS: dict[str, OrderStatus] = {
    "PendingSubmit": OrderStatus.PENDING,
    "ApiPending": OrderStatus.PENDING,
    "PreSubmitted": OrderStatus.WORKING,
    "Submitted": OrderStatus.WORKING,
    "ApiUpdate": OrderStatus.WORKING,  # a modification of a working order is in flight
    # A cancel was requested but IB has not confirmed it: the order can still fill.
    "PendingCancel": OrderStatus.WORKING,
    # ib_async's own status for an order that got a validation warning; it is still live.
    "ValidationError": OrderStatus.WORKING,
    "ApiCancelled": OrderStatus.CANCELLED,
    "Cancelled": OrderStatus.CANCELLED,
    "Filled": OrderStatus.FILLED,
    # IB: "received by the system but no longer active because it was rejected or cancelled".
    "Inactive": OrderStatus.REJECTED,
}


CANCEL_REFUSED_CODES = frozenset({161, 10148})
"""IB's "cannot be cancelled in its state" answers to a cancel: the order filled (or is being
filled) before the cancel arrived. ib_async still marks the trade ``Cancelled`` when one of
them comes before the fill report (the 10148 trap)."""


def order_status(
    ib_status: str,
    error_codes: Iterable[int] = (),
    *,
    filled: float = 0.0,
    total: float = 0.0,
    cancel_refused: bool = False,
) -> OrderStatus:
    """Normalise an IB order status.

    ib_async marks a rejected order ``Cancelled``; when the order's log carries an order error
    code (201 rejected, 203 not allowed, ...) other than 202 (a plain cancel) and the refused
    cancels (161, 10148), it was rejected. Unknown statuses map to ``ERROR`` rather than to a
    guess.

    Args:
        ib_status: ib_async's ``orderStatus.status``.
        error_codes: The codes in the trade's log.
        filled: Shares filled, as far as known (executions win over the status).
        total: Shares ordered (0: unknown).
        cancel_refused: ib_async set ``Cancelled`` because IB refused a cancel (161, 10148),
            not because IB cancelled the order: it filled or is filling.
    """
    status = IB_ORDER_STATUS.get(ib_status, OrderStatus.ERROR)
    if total > 0 and filled >= total and status is not OrderStatus.ERROR:
        return OrderStatus.FILLED
    if status is not OrderStatus.CANCELLED:
        return status
    if cancel_refused:
        return OrderStatus.WORKING  # the fill report is still on its way
    if any(
        error_kind(code) is ErrorKind.ORDER and code != 202 and code not in CANCEL_REFUSED_CODES
        for code in error_codes
    ):
        return OrderStatus.REJECTED
    return status


def order_id_to_int(order_id: str) -> int:
    """IB order ids are positive integers; the base contract passes them as strings.

    Raises:
        InvalidInputError: ``order_id`` is not the decimal text of a positive integer.
    """
    text = order_id.strip() if isinstance(order_id, str) else ""
    if not text.isascii() or not text.isdigit() or int(text) <= 0:
        raise InvalidInputError(
            f"order id must be the text of a positive integer for IBKR, got {order_id!r}"
        )
    return int(text)


def quantity_to_action(quantity: int) -> tuple[str, int]:
    """Signed share quantity to IB's ``(action, totalQuantity)``."""
    if quantity == 0:
        raise InvalidInputError("order quantity must not be 0")
    return ("BUY", quantity) if quantity > 0 else ("SELL", -quantity)


def ib_price(value: float | None) -> Decimal | None:
    """An ib_async price field as an exact Decimal; ``None`` for IB's "no value" markers.

    ib_async reports a missing price as NaN, and IB itself sends -1 (and 0 for some ticks)
    when it has no quote; none of those is a price.
    """
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return Decimal(repr(float(value)))


def usable_price(price: ContractPrice) -> tuple[ContractPrice, str | None]:
    """Fill a missing bid/ask from last (or close) so a plan can be made, with a warning.

    Returns:
        The price to plan with and a warning text when a fallback was used.

    A quote with no value at all is returned unchanged (callers check ``has_any_price``).
    """
    if price.bid is not None and price.ask is not None:
        return price, None
    fallback = price.last if price.last is not None else price.close
    if fallback is None:
        # One side only: use it for both sides rather than inventing a spread.
        side = price.bid if price.bid is not None else price.ask
        if side is None:
            return price, None
        fallback = side
        source = "the only quoted side"
    else:
        source = "last trade" if price.last is not None else "previous close"
    missing = "/".join(name for name, v in (("bid", price.bid), ("ask", price.ask)) if v is None)
    warning = f"{price.symbol}: no {missing} quote, using {source} {fallback} instead"
    filled = price.model_copy(update={"bid": price.bid or fallback, "ask": price.ask or fallback})
    return filled, warning


def has_any_price(price: ContractPrice) -> bool:
    """Whether the quote has at least one usable value."""
    return any(v is not None for v in (price.bid, price.ask, price.last, price.close))


Session = tuple[dt.datetime, dt.datetime]


def parse_liquid_hours(text: str, time_zone_id: str) -> list[Session]:
    """Parse IB ``liquidHours`` into aware ``(start, end)`` sessions, sorted.

    IB sends two formats: ``20260105:0930-20260105:1600;20260106:CLOSED`` (current) and
    ``20260105:0930-1600`` (older gateways). Times are in the contract's ``timeZoneId``.

    Raises:
        InvalidInputError: The text or time zone cannot be read.
    """
    zone = exchange_zone(time_zone_id)
    sessions: list[Session] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if part.endswith(":CLOSED"):
            continue
        start_text, sep, end_text = part.partition("-")
        if not sep:
            raise InvalidInputError(f"liquid hours entry {part!r} has no '-'", source="IB")
        start = _parse_stamp(start_text, zone)
        if ":" not in end_text:  # older format: end time on the same day
            end_text = f"{start_text.split(':')[0]}:{end_text}"
        end = _parse_stamp(end_text, zone)
        if end <= start:
            raise InvalidInputError(f"liquid hours entry {part!r} ends before it starts", "IB")
        sessions.append((start, end))
    return sorted(sessions)


def next_open(sessions: Iterable[Session], now: dt.datetime) -> tuple[bool, dt.datetime | None]:
    """Whether ``now`` is inside a session, and if not the start of the next one (or None)."""
    upcoming: list[dt.datetime] = []
    for start, end in sessions:
        if start <= now < end:
            return True, None
        if start > now:
            upcoming.append(start)
    return False, min(upcoming, default=None)


def session_end(sessions: Iterable[Session], now: dt.datetime) -> dt.datetime | None:
    """The end of the session ``now`` is in (``None`` outside every session)."""
    return next((end for start, end in sessions if start <= now < end), None)


def exchange_zone(time_zone_id: str) -> dt.tzinfo:
    """The time zone of a contract's ``timeZoneId``.

    Raises:
        InvalidInputError: IB named a zone this system does not know.
    """
    # IB uses both IANA names and legacy names such as "EST5EDT" and "US/Eastern".
    name = {"EST": "America/New_York", "EST (Eastern Standard Time)": "America/New_York"}.get(
        time_zone_id.strip(), time_zone_id.strip()
    )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(f"unknown time zone {time_zone_id!r}", source="IB") from exc


def _parse_stamp(text: str, zone: dt.tzinfo) -> dt.datetime:
    try:
        naive = dt.datetime.strptime(text.strip(), "%Y%m%d:%H%M")
    except ValueError as exc:
        raise InvalidInputError(f"time {text!r} is not YYYYMMDD:HHMM", source="IB") from exc
    return naive.replace(tzinfo=zone)
