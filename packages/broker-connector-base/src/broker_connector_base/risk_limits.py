"""Pre-trade risk limits of one account (``risk_limits`` in ``accounts.yaml``).

A rebalancer does what its allocations say; these limits are the owner's word on what no plan
may do whatever a document says (100 % in one leveraged ETF, a typo symbol, a price glitch
turning into an order worth more than the account). The defaults are far beyond any normal
rebalance, so an account without ``risk_limits`` trades as before; an owner tightens them.
``rebalance_engine.risk`` checks a plan against them before any order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from broker_connector_base.types import NonNegativeMoney, Symbol, to_decimal

__all__ = ["RiskLimits"]

_Percent = Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)]


class RiskLimits(BaseModel):
    """Limits a plan must keep, or be refused whole before its first order.

    Attributes:
        max_symbol_weight_percent: Largest target weight of one symbol, percent of the
            account value (default 100: off).
        max_order_value: Largest value of one order in dollars (default none).
        max_order_percent: Largest value of one order, percent of the account value
            (default 100: no order worth more than the whole account).
        max_orders_per_run: Orders one run may place, all rounds together (default 200).
        max_turnover_percent: Value of all of a run's orders, sells and buys, percent of the
            account value (default 250; moving everything from one portfolio to another is
            about 200).
        allowed_symbols: When given, the only symbols a plan may target (``None``: any).
        denied_symbols: Symbols no plan may target (selling a held one stays allowed).
        max_orders_per_day: Orders placed in the account per New York trading day, every
            run together (default 500).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_symbol_weight_percent: _Percent = Decimal(100)
    max_order_value: NonNegativeMoney | None = None
    max_order_percent: _Percent = Decimal(100)
    max_orders_per_run: Annotated[int, Field(ge=1, le=100_000)] = 200
    max_turnover_percent: Annotated[Decimal, Field(gt=0, le=1000, allow_inf_nan=False)] = Decimal(
        250
    )
    allowed_symbols: tuple[Symbol, ...] | None = None
    denied_symbols: tuple[Symbol, ...] = ()
    max_orders_per_day: Annotated[int, Field(ge=1, le=100_000)] = 500

    @field_validator(
        "max_symbol_weight_percent",
        "max_order_value",
        "max_order_percent",
        "max_turnover_percent",
        mode="before",
    )
    @classmethod
    def _exact(cls, value: object) -> object:
        return to_decimal(value)

    @field_validator("allowed_symbols", "denied_symbols", mode="before")
    @classmethod
    def _list_as_tuple(cls, value: Any) -> Any:
        # YAML and JSON give lists; the model keeps an immutable tuple.
        return tuple(value) if isinstance(value, list) else value

    @field_validator("allowed_symbols")
    @classmethod
    def _some_allowed(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError(
                "an empty allowed_symbols list would refuse every plan; leave it out to allow "
                "any symbol"
            )
        return value

    @model_validator(mode="after")
    def _lists_disjoint(self) -> RiskLimits:
        both = sorted(set(self.allowed_symbols or ()) & set(self.denied_symbols))
        if both:
            raise ValueError(f"symbols both allowed and denied: {', '.join(both)}")
        return self
