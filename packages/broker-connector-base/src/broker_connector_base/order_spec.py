"""How an order is executed: its type, limit price and algo priority (``OrderSpec``).

``BrokerClient.place_order`` takes one ``OrderSpec``; each connector declares the types it
can send (``BrokerClient.supported_order_types``) and maps them to its broker's own:

========== ==================================== ===============================================
type       meaning                              limit_price / priority
========== ==================================== ===============================================
MARKET     at the market now                    neither
LIMIT      at ``limit_price`` or better         required
MIDPRICE   pegged to the midpoint of the quote  optional cap (never pay more / sell for less)
MOC        market on close: the closing auction neither
ADAPTIVE   a broker algo working the order      optional limit; ``priority`` Patient, Normal
           between the bid and the ask          (default) or Urgent
========== ==================================== ===============================================

Every order is a DAY order. A spec is validated when built: a LIMIT without a price, a MARKET
with one, a priority on anything but ADAPTIVE are refused (``InvalidInputError`` from the
``OrderSpec.of`` constructor, a pydantic ``ValidationError`` when validated as a model).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from broker_connector_base.exceptions import InvalidInputError
from broker_connector_base.types import Price

__all__ = [
    "ADAPTIVE_PRIORITIES",
    "MARKET",
    "ORDER_TYPES",
    "AdaptivePriority",
    "OrderSpec",
    "OrderType",
]

OrderType = Literal["MARKET", "LIMIT", "MIDPRICE", "MOC", "ADAPTIVE"]
"""The order types of the contract (see the module docstring)."""

ORDER_TYPES: tuple[OrderType, ...] = get_args(OrderType)

AdaptivePriority = Literal["Patient", "Normal", "Urgent"]
"""How hard an ADAPTIVE order works: Patient waits for a better price, Urgent takes the far
side sooner (IB's ``adaptivePriority`` values)."""

ADAPTIVE_PRIORITIES: tuple[AdaptivePriority, ...] = get_args(AdaptivePriority)

_PRICE_REQUIRED = frozenset({"LIMIT"})
_PRICE_REFUSED = frozenset({"MARKET", "MOC"})


class OrderSpec(BaseModel):
    """One order's execution: type, limit price (or cap) and algo priority.

    Attributes:
        type: The order type.
        limit_price: LIMIT's limit (required), MIDPRICE's cap or ADAPTIVE's limit (optional);
            positive. Refused for MARKET and MOC.
        priority: ADAPTIVE only; ``Normal`` when not given.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: OrderType = "MARKET"
    limit_price: Price | None = None
    priority: AdaptivePriority | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_priority(cls, data: object) -> object:
        adaptive = isinstance(data, dict) and data.get("type") == "ADAPTIVE"
        if adaptive and isinstance(data, dict) and data.get("priority") is None:
            return {**data, "priority": "Normal"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> OrderSpec:
        price, kind = self.limit_price, self.type
        if kind in _PRICE_REQUIRED and price is None:
            raise ValueError(f"a {kind} order needs a limit price")
        if kind in _PRICE_REFUSED and price is not None:
            raise ValueError(f"a {kind} order takes no price, got {price}")
        if price is not None and price <= 0:
            raise ValueError(f"the price of a {kind} order must be positive, got {price}")
        if self.priority is not None and kind != "ADAPTIVE":
            raise ValueError(f"a priority ({self.priority}) is for ADAPTIVE orders, not {kind}")
        return self

    @classmethod
    def of(
        cls,
        order_type: str,
        *,
        limit_price: Decimal | None = None,
        priority: str | None = None,
    ) -> OrderSpec:
        """A validated spec from loose arguments.

        Raises:
            InvalidInputError: Unknown type or priority, a price where none is taken or
                missing where one is needed; the message names the value.
        """
        try:
            return cls.model_validate(
                {"type": order_type, "limit_price": limit_price, "priority": priority}
            )
        except ValidationError as exc:
            reasons = "; ".join(_reason(e) for e in exc.errors())
            raise InvalidInputError(f"invalid order: {reasons}", source="order") from None

    def describe(self) -> str:
        """A short text for logs and reports: ``LIMIT 100.05``, ``ADAPTIVE Patient``."""
        parts: list[str] = [self.type]
        if self.priority is not None:
            parts.append(self.priority)
        if self.limit_price is not None:
            parts.append(("cap " if self.type == "MIDPRICE" else "") + str(self.limit_price))
        return " ".join(parts)


def _reason(error: object) -> str:
    assert isinstance(error, dict)
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not where:
        return message
    return f"{where}: {message}, got {error.get('input')!r}"


MARKET = OrderSpec()
"""A market order (``place_order``'s default)."""
