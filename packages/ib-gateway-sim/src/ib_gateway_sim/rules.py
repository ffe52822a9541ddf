"""Checks an order must pass before the gateway accepts it (no account state involved)."""

from __future__ import annotations

from ib_gateway_sim.clock import MarketClock
from ib_gateway_sim.ledger import OrderRefused
from ib_gateway_sim.pricing import ADAPTIVE, ADAPTIVE_PRIORITIES
from ib_gateway_sim.scenario import FaultSpec, FillSpec
from ib_gateway_sim.state import SimOrder

SUPPORTED_TYPES = frozenset({"MKT", "LMT", "MOC", "MIDPRICE"})
SUPPORTED_TIFS = frozenset({"DAY", "GTC", "IOC"})
_ADAPTIVE_TYPES = frozenset({"MKT", "LMT"})
_REJECTED = "Order rejected - reason:"


def _refuse(reason: str) -> OrderRefused:
    return OrderRefused(201, _REJECTED + reason)


def check_order(order: SimOrder, *, faults: FaultSpec, fills: FillSpec, clock: MarketClock) -> None:
    """Raise ``OrderRefused`` (201) when the gateway would not accept ``order``."""
    if order.symbol in faults.reject_symbols:
        raise _refuse(f"{order.symbol} is not tradable")
    if order.action not in ("BUY", "SELL"):
        raise _refuse(f"Unsupported action {order.action}")
    if order.quantity <= 0:
        raise _refuse("Order quantity must be positive")
    if order.order_type not in SUPPORTED_TYPES:
        raise _refuse(f"Unsupported order type {order.order_type}")
    if order.order_type == "LMT" and (order.limit_price is None or order.limit_price <= 0):
        raise _refuse("A limit order needs a limit price")
    if order.order_type == "MIDPRICE" and order.limit_price is not None and order.limit_price <= 0:
        raise _refuse("The price cap of a MIDPRICE order must be positive")
    if order.tif not in SUPPORTED_TIFS:
        raise _refuse(f"Unsupported time in force {order.tif}")
    _check_algo(order)
    if order.order_type == "MOC":
        _check_moc(order, fills, clock)


def _check_algo(order: SimOrder) -> None:
    if not order.algo_strategy:
        return
    if order.algo_strategy != ADAPTIVE:
        raise _refuse(f"Algo strategy {order.algo_strategy} is not supported by the simulator")
    if order.order_type not in _ADAPTIVE_TYPES:
        raise _refuse(f"The Adaptive algo takes MKT and LMT orders, not {order.order_type}")
    for tag, value in order.algo_params:
        if tag != "adaptivePriority":
            raise _refuse(f"Unknown Adaptive algo parameter {tag}")
        if value not in ADAPTIVE_PRIORITIES:
            raise _refuse(
                f"Invalid value {value!r} for adaptivePriority: must be one of "
                + ", ".join(ADAPTIVE_PRIORITIES)
            )


def _check_moc(order: SimOrder, fills: FillSpec, clock: MarketClock) -> None:
    if order.tif != "DAY":
        raise _refuse(f"MOC orders must be DAY orders, not {order.tif}")
    cutoff = fills.moc_cutoff
    if cutoff is not None and clock.past_cutoff(cutoff):
        raise _refuse(
            f"MOC orders cannot be placed after the {cutoff:%H:%M} {clock.timezone} cut-off"
        )
