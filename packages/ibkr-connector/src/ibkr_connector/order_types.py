"""The base ``OrderSpec`` as IB orders, and back (pure functions, tested with plain values).

========== ===============================================================================
OrderSpec  IB order
========== ===============================================================================
MARKET     ``MKT``
LIMIT      ``LMT`` at ``limit_price``
MIDPRICE   ``MIDPRICE`` (IB's pegged-to-midpoint type), ``lmtPrice`` the optional cap
MOC        ``MOC`` (market on close; IB refuses new ones after the exchange's cut-off)
ADAPTIVE   ``MKT`` (or ``LMT`` with a limit) with ``algoStrategy="Adaptive"`` and
           ``algoParams=[adaptivePriority=Patient|Normal|Urgent]``
========== ===============================================================================

Every order is a DAY order, as the base contract says.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from broker_connector_base import OrderSpec, OrderType
from ib_async import Fill, Order, TagValue
from ib_async.util import UNSET_DOUBLE

from ibkr_connector.translation import ib_price

__all__ = [
    "ADAPTIVE_ALGO",
    "SUPPORTED_ORDER_TYPES",
    "commission_of",
    "ib_order",
    "order_spec_of",
]

ADAPTIVE_ALGO = "Adaptive"

SUPPORTED_ORDER_TYPES: frozenset[OrderType] = frozenset(
    {"MARKET", "LIMIT", "MIDPRICE", "MOC", "ADAPTIVE"}
)


def ib_order(action: str, quantity: int, spec: OrderSpec) -> Order:
    """The ib_async ``Order`` of ``quantity`` shares (``action`` BUY or SELL) for ``spec``."""
    order = Order(action=action, totalQuantity=quantity, tif="DAY")
    kind = spec.type
    price = float(spec.limit_price) if spec.limit_price is not None else None
    if kind == "MARKET":
        order.orderType = "MKT"
    elif kind == "LIMIT":
        order.orderType = "LMT"
    elif kind == "MIDPRICE":
        order.orderType = "MIDPRICE"
    elif kind == "MOC":
        order.orderType = "MOC"
    else:
        order.orderType = "LMT" if price is not None else "MKT"
        order.algoStrategy = ADAPTIVE_ALGO
        order.algoParams = [TagValue("adaptivePriority", spec.priority or "Normal")]
    if price is not None:
        # A cent price's shortest repr is its decimal text: what goes on the wire.
        order.lmtPrice = price
    return order


def order_spec_of(order: Order) -> OrderSpec | None:
    """The ``OrderSpec`` an IB order carries out; ``None`` for a type the contract lacks
    (a stop, a trailing order placed by hand in TWS)."""
    # ib_async marks a price that was never set with UNSET_DOUBLE, not None.
    limit = None if order.lmtPrice in (None, UNSET_DOUBLE) else float(order.lmtPrice)
    price = ib_price(limit) if order.orderType in ("LMT", "MIDPRICE") else None
    if order.algoStrategy == ADAPTIVE_ALGO and order.orderType in ("MKT", "LMT"):
        priority = dict((p.tag, p.value) for p in order.algoParams or []).get("adaptivePriority")
        return OrderSpec.of("ADAPTIVE", limit_price=price, priority=priority or "Normal")
    kind = {"MKT": "MARKET", "LMT": "LIMIT", "MIDPRICE": "MIDPRICE", "MOC": "MOC"}.get(
        order.orderType
    )
    if kind is None or order.algoStrategy:
        return None
    if kind == "LIMIT" and price is None:
        return None
    return OrderSpec.of(kind, limit_price=price)


def commission_of(fills: Iterable[Fill]) -> Decimal | None:
    """What IB charged for ``fills``, from their commission reports.

    ``None`` while a fill's report has not arrived (IB sends it just after the execution):
    a sum over the reports seen would understate the cost.
    """
    total = Decimal(0)
    for fill in fills:
        report = fill.commissionReport
        if not report.execId:
            return None
        total += Decimal(repr(float(report.commission)))
    return total
