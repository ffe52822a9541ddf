"""The values ``Rebalancer`` plans with: what an account should hold, and one plan of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from broker_connector_base import (
    AccountSnapshot,
    AllocationItem,
    ContractPrice,
    RebalancePlan,
    Trade,
)

from rebalance_engine.plans import plan_lines
from rebalance_engine.quotes import TimedQuote, utc_now
from rebalance_engine.targets import AccountTargets

__all__ = ["Goal", "Plan"]


@dataclass(frozen=True)
class Goal:
    """What the calculator is given for an account: weights summing to 1 and the reserve."""

    targets: AccountTargets
    weights: list[AllocationItem]
    reserve_percent: Decimal


@dataclass(frozen=True)
class Plan:
    """A snapshot, its quotes (taken at ``quoted_at``), the calculator's trades and warnings,
    and the symbols it may not sell (bought today)."""

    snapshot: AccountSnapshot
    prices: list[ContractPrice]
    trades: list[Trade]
    warnings: list[str]
    no_sell: frozenset[str]
    quoted_at: datetime = field(default_factory=utc_now)
    _lines: dict[int, tuple[Goal, list[RebalancePlan]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def quotes(self) -> dict[str, TimedQuote]:
        """The plan's quotes by symbol: what its trades decided on."""
        return {p.symbol: TimedQuote(p, self.quoted_at, "plan") for p in self.prices}

    def lines(self, goal: Goal) -> list[RebalancePlan]:
        """The plan vocabulary of this plan: one line per symbol held or targeted.

        Built once per goal (the risk check and the result both read them).
        """
        built = self._lines.get(id(goal))
        if built is None:
            lines = plan_lines(
                self.snapshot,
                goal.weights,
                goal.reserve_percent,
                self.trades,
                goal.targets.attribution,
            )
            built = self._lines[id(goal)] = (goal, lines)  # the goal kept: its id stays its own
        return list(built[1])
