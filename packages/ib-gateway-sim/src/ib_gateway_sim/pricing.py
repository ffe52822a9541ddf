"""At what price a working order executes, per order type and algo (pure functions).

Rules (all deterministic):

* ``MKT``/``LMT``: a buy at the ask, a sell at the bid (the last price when that side is
  missing); a limit order only when that price is within its limit.
* ``MIDPRICE``: needs a two-sided quote; executes at the midpoint, kept exact (a half-tick on
  a one-tick spread, as US midpoint executions print) or rounded to the tick in the trader's
  favour or against it (``fills.midprice_rounding``); never beyond its optional price cap.
* IB ``Adaptive`` on MKT/LMT, by ``adaptivePriority``: ``Urgent`` at the far side; ``Normal``
  at the midpoint rounded to the tick toward the far side; ``Patient`` at the midpoint rounded
  toward the near side (on a one-tick spread: the near side, as a passive order that gets hit).
  Without a two-sided quote it trades as the plain order type. A limit still caps the price.
* ``MOC``: never in continuous trading; the closing auction prints at ``closing_price``.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from ib_gateway_sim.scenario import SymbolSpec
from ib_gateway_sim.state import SimOrder, mark_price

__all__ = [
    "ADAPTIVE",
    "ADAPTIVE_PRIORITIES",
    "adaptive_priority",
    "closing_price",
    "execution_price",
    "reference_price",
]

ADAPTIVE = "Adaptive"
ADAPTIVE_PRIORITIES = ("Urgent", "Normal", "Patient")
_DEFAULT_PRIORITY = "Normal"
_LIMITED_TYPES = frozenset({"LMT", "MIDPRICE"})


def adaptive_priority(order: SimOrder) -> str | None:
    """The order's ``adaptivePriority`` (Normal when not given), or None for non-Adaptive."""
    if order.algo_strategy != ADAPTIVE:
        return None
    return dict(order.algo_params).get("adaptivePriority", _DEFAULT_PRIORITY)


def _far_side(order: SimOrder, spec: SymbolSpec) -> Decimal | None:
    price = spec.ask if order.is_buy else spec.bid
    if price is None or price <= 0:
        price = spec.last
    if price is None or price <= 0:
        return None
    return price


def _two_sided(spec: SymbolSpec) -> tuple[Decimal, Decimal] | None:
    bid, ask = spec.bid, spec.ask
    if bid is None or ask is None or bid <= 0 or ask < bid:
        return None
    return bid, ask


def _to_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return steps * tick


def _midpoint(order: SimOrder, spec: SymbolSpec, rounding: str) -> Decimal | None:
    quote = _two_sided(spec)
    if quote is None:
        return None
    mid = (quote[0] + quote[1]) / 2
    if rounding == "exact":
        return mid
    # In the trader's favour a buy rounds down and a sell up; against the trader the reverse.
    up = (rounding == "favour") != order.is_buy
    return _to_tick(mid, spec.min_tick, up=up)


def _adaptive(order: SimOrder, spec: SymbolSpec, priority: str) -> Decimal | None:
    quote = _two_sided(spec)
    if quote is None or priority == "Urgent":
        return _far_side(order, spec)
    mid = (quote[0] + quote[1]) / 2
    toward_far_side = priority == "Normal"
    up = toward_far_side == order.is_buy
    return _to_tick(mid, spec.min_tick, up=up)


def _within_limit(order: SimOrder, price: Decimal) -> bool:
    if order.order_type not in _LIMITED_TYPES or order.limit_price is None:
        return True
    return price <= order.limit_price if order.is_buy else price >= order.limit_price


def execution_price(order: SimOrder, spec: SymbolSpec, midprice_rounding: str) -> Decimal | None:
    """The price ``order`` executes at now in continuous trading, or None when it cannot."""
    if order.order_type == "MOC":
        return None
    priority = adaptive_priority(order)
    if order.order_type == "MIDPRICE":
        price = _midpoint(order, spec, midprice_rounding)
    elif priority is not None:
        price = _adaptive(order, spec, priority)
    else:
        price = _far_side(order, spec)
    if price is None or not _within_limit(order, price):
        return None
    return price


def reference_price(order: SimOrder, spec: SymbolSpec) -> Decimal:
    """The price a funds check values the order at: its limit or cap, else the market."""
    if order.order_type in _LIMITED_TYPES and order.limit_price is not None:
        return order.limit_price
    for price in (spec.ask if order.is_buy else spec.bid, spec.last, spec.close):
        if price is not None and price > 0:
            return price
    return Decimal(0)


def closing_price(spec: SymbolSpec) -> Decimal | None:
    """The closing auction's print: the symbol's ``close``, else its mark price."""
    if spec.close is not None and spec.close > 0:
        return spec.close
    mark = mark_price(spec)
    return mark if mark > 0 else None
