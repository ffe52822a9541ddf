"""Validation of a ``POST /v2/orders`` body into a ``NewOrder`` (Alpaca's 422 answers).

The body arrives with JSON numbers read as ``Decimal`` (alpaca-py sends ``qty`` and
``limit_price`` as JSON numbers), so ``10.0`` shares and ``294.55`` dollars stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

from alpaca_api_sim.state import ApiError

__all__ = ["INVALID_PARAMS", "NewOrder", "parse_new_order"]

INVALID_PARAMS = 40010001
"""Alpaca's error code for a request with a malformed or unsupported field."""

_MAX_CLIENT_ORDER_ID = 128
_KNOWN_FIELDS = frozenset(
    {
        "symbol",
        "qty",
        "notional",
        "side",
        "type",
        "time_in_force",
        "limit_price",
        "stop_price",
        "trail_price",
        "trail_percent",
        "extended_hours",
        "client_order_id",
        "order_class",
        "take_profit",
        "stop_loss",
        "legs",
        "position_intent",
    }
)


@dataclass(frozen=True)
class NewOrder:
    """A validated order request."""

    symbol: str
    qty: int
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    time_in_force: Literal["day", "gtc", "cls"]
    limit_price: Decimal | None
    client_order_id: str | None
    extended_hours: bool


def _invalid(message: str) -> ApiError:
    return ApiError(422, INVALID_PARAMS, message)


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise _invalid(f"invalid {name} {value!r}: this simulator accepts {', '.join(allowed)}")
    return cast(str, value)


def _whole_qty(body: dict[str, Any]) -> int:
    if body.get("notional") is not None:
        raise _invalid("notional orders are not supported by this simulator (send qty)")
    raw = body.get("qty")
    try:
        qty = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise _invalid(f"qty is required and must be a number, got {raw!r}") from exc
    if not qty.is_finite() or qty <= 0:
        raise _invalid(f"qty must be > 0, got {raw}")
    if qty != qty.to_integral_value():
        raise _invalid(f"qty {raw} is fractional: this simulator trades whole shares")
    return int(qty)


def _limit_price(body: dict[str, Any], order_type: str) -> Decimal | None:
    raw = body.get("limit_price")
    if order_type == "market":
        if raw is not None:
            raise _invalid("limit_price is not allowed for a market order")
        return None
    try:
        price = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise _invalid(f"limit_price is required for a limit order, got {raw!r}") from exc
    if not price.is_finite() or price <= 0:
        raise _invalid(f"limit_price must be > 0, got {raw}")
    if price != price.quantize(Decimal("0.01")) and price >= 1:
        # Alpaca's sub-penny rule: prices of $1 and above take at most two decimals.
        raise _invalid(f"invalid limit_price {raw}. sub-penny increment does not fulfill minimum")
    return price


def _client_order_id(body: dict[str, Any]) -> str | None:
    value = body.get("client_order_id")
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_CLIENT_ORDER_ID:
        raise _invalid(f"client_order_id must be 1-{_MAX_CLIENT_ORDER_ID} characters")
    return value


def parse_new_order(body: Any) -> NewOrder:
    """Validate an order request body.

    Raises:
        ApiError: 422 naming the field that is missing, malformed or unsupported.
    """
    if not isinstance(body, dict):
        raise _invalid("request body must be a JSON object")
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        raise _invalid(f"unknown fields {unknown}")
    if body.get("order_class") not in (None, "", "simple"):
        raise _invalid(f"order_class {body['order_class']!r} is not supported by this simulator")
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise _invalid("symbol is required")
    order_type = _choice(body, "type", ("market", "limit"))
    extended = body.get("extended_hours", False)
    if not isinstance(extended, bool):
        raise _invalid(f"extended_hours must be a boolean, got {extended!r}")
    return NewOrder(
        symbol=symbol,
        qty=_whole_qty(body),
        side=cast(Literal["buy", "sell"], _choice(body, "side", ("buy", "sell"))),
        type=cast(Literal["market", "limit"], order_type),
        time_in_force=cast(
            Literal["day", "gtc", "cls"],
            _choice(body, "time_in_force", ("day", "gtc", "cls")),
        ),
        limit_price=_limit_price(body, order_type),
        client_order_id=_client_order_id(body),
        extended_hours=extended,
    )
