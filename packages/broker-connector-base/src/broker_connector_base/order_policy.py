"""How an account's orders are sent: ``order_type`` and ``order_options`` in ``accounts.yaml``.

========== ====================================================================================
order_type what the engine sends
========== ====================================================================================
market     market orders (the default)
limit      marketable limits: buys at the ask + ``limit_offset_bps``, sells at the bid minus it;
           after ``limit_timeout_secs`` unfilled, cancelled and re-priced at the new quote, up to
           ``limit_reprices`` times, then (``limit_fallback``) sent as market orders or left
midprice   orders pegged to the quote's midpoint (a broker that has them), capped at the
           ask + ``limit_offset_bps`` (buys) or the bid minus it (sells); after
           ``limit_timeout_secs`` unfilled, cancelled and (``limit_fallback``) sent at market
moc        market on close: every sell and buy of one round joins the closing auction (refused
           from the exchange's cut-off, 15:50 New York for NYSE/Arca); see the engine's MOC round
adaptive   a broker algo that works the order inside the spread (IB Adaptive) with
           ``adaptive_priority`` Patient, Normal or Urgent
========== ====================================================================================

Options that do not apply to the chosen type are refused, so a misplaced setting is never
silently ignored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from broker_connector_base.order_spec import AdaptivePriority, OrderType
from broker_connector_base.types import to_decimal

__all__ = ["ACCOUNT_ORDER_TYPES", "AccountOrderType", "OrderOptions", "applicable_options"]

AccountOrderType = Literal["market", "limit", "midprice", "moc", "adaptive"]
"""``order_type`` of an account (lower case, as written in ``accounts.yaml``)."""

ACCOUNT_ORDER_TYPES: dict[AccountOrderType, OrderType] = {
    "market": "MARKET",
    "limit": "LIMIT",
    "midprice": "MIDPRICE",
    "moc": "MOC",
    "adaptive": "ADAPTIVE",
}
"""Each account order type and the contract's ``OrderType`` it sends."""

_APPLICABLE: dict[AccountOrderType, frozenset[str]] = {
    "market": frozenset(),
    "limit": frozenset(
        {"limit_offset_bps", "limit_timeout_secs", "limit_reprices", "limit_fallback"}
    ),
    "midprice": frozenset({"limit_offset_bps", "limit_timeout_secs", "limit_fallback"}),
    "moc": frozenset(),
    "adaptive": frozenset({"adaptive_priority"}),
}


def applicable_options(order_type: AccountOrderType) -> frozenset[str]:
    """The ``order_options`` fields that mean something for ``order_type``."""
    return _APPLICABLE[order_type]


class OrderOptions(BaseModel):
    """Settings of the account's order type (see the module docstring).

    Attributes:
        limit_offset_bps: How far beyond the far side a limit (or a midprice cap) is set, in
            basis points of the quote: 5 buys at ``ask * 1.0005``.
        limit_timeout_secs: How long a limit or midprice order may rest unfilled before it is
            cancelled and re-priced or sent at market.
        limit_reprices: How many times an unfilled limit order is re-priced at a new quote.
        limit_fallback: What happens to what is still unfilled after the last re-price:
            ``market`` sends it as a market order, ``cancel`` leaves it (the run reports it).
        adaptive_priority: The adaptive algo's priority.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit_offset_bps: Annotated[
        Decimal, BeforeValidator(to_decimal), Field(ge=0, le=500, allow_inf_nan=False)
    ] = Decimal(5)
    limit_timeout_secs: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 30.0
    limit_reprices: Annotated[int, Field(ge=0, le=10)] = 1
    limit_fallback: Literal["market", "cancel"] = "market"
    adaptive_priority: AdaptivePriority = "Normal"
