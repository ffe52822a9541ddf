"""What trading costs in a backtest: the half spread paid against the mid, and commissions.

Quotes are built around each bar's price ``p`` (the close, or the open): ``bid = p - h``,
``ask = p + h``; market buys fill at the ask and sells at the bid, so every trade pays ``h`` per
share. ``h`` is ``p * half_spread_bps / 10,000`` rounded up to a hundredth of a cent, or a fixed
amount for a symbol in ``half_spreads`` (an ETF that trades a cent wide: 0.005). Commissions
come from the calculator's schedules (``rebalance_calculator.commissions``): the model the
account's plans are priced with, charged on every fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Protocol

from broker_connector_base import AccountConfig, InvalidInputError
from rebalance_calculator.commissions import commission_model, resolve_commission_schedule

__all__ = ["CommissionEstimator", "Costs", "commission_estimator"]

_SUB_CENT = Decimal("0.0001")
_BPS = Decimal(10_000)


class CommissionEstimator(Protocol):
    """A commission schedule: ``rebalance_calculator.commissions.CommissionModel`` is one."""

    def estimate(self, quantity: int, price: Decimal) -> Decimal:
        """Commission and fees of one order of ``quantity`` shares (negative sells)."""
        ...


@dataclass(frozen=True)
class Costs:
    """The spread and commission model of a backtest (all zero: a frictionless run).

    Attributes:
        half_spread_bps: Half the bid/ask spread, in basis points of the price.
        half_spreads: A fixed half spread (in dollars) per symbol, instead of the bps.
        commission: The schedule charged on every fill; ``None``: no commission.
    """

    half_spread_bps: Decimal = Decimal(0)
    half_spreads: Mapping[str, Decimal] = field(default_factory=dict)
    commission: CommissionEstimator | None = None

    def __post_init__(self) -> None:
        amounts = {"half_spread_bps": self.half_spread_bps, **dict(self.half_spreads)}
        for name, value in amounts.items():
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise InvalidInputError(
                    f"half spread {name} must be a non-negative Decimal, got {value!r}",
                    source="backtest costs",
                )

    def half_spread(self, symbol: str, price: Decimal) -> Decimal:
        """``h`` for ``symbol`` at ``price`` (see the module docstring)."""
        fixed = self.half_spreads.get(symbol)
        if fixed is not None:
            return fixed
        if not self.half_spread_bps:
            return Decimal(0)
        return (price * self.half_spread_bps / _BPS).quantize(_SUB_CENT, rounding=ROUND_CEILING)

    def commission_of(self, quantity: int, price: Decimal) -> Decimal:
        """The commission of a fill of ``quantity`` shares (negative sells) at ``price``."""
        if self.commission is None:
            return Decimal(0)
        return self.commission.estimate(quantity, price)


def commission_estimator(account: AccountConfig) -> CommissionEstimator | None:
    """The calculator's model of the schedule ``account`` is planned with: its
    ``commission_schedule``, else its broker's default (``resolve_commission_schedule``).

    Charging the schedule the plans are priced with is what makes a plan's
    ``estimated_commission`` and its fills agree. ``None`` for a free schedule.

    Raises:
        InvalidInputError: The account names no schedule and its broker has no default.
    """
    model = commission_model(resolve_commission_schedule(account))
    return None if model.is_zero else model
