"""What a run records as it goes (``RunRecord``) and one order as sent (``Sent``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from broker_connector_base import AccountSnapshot, RebalancePlan, Trade
from broker_connector_base.execution import OrderExecution

from rebalance_engine._plan import Goal
from rebalance_engine.quotes import TimedQuote

__all__ = ["RunRecord", "Sent"]


@dataclass
class RunRecord:
    """What one execution has done so far (for the result, whatever happens)."""

    orders: list[Trade] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    snapshot: AccountSnapshot | None = None
    plan: list[RebalancePlan] = field(default_factory=list)
    """The plan the run started from (after cancelling open orders)."""
    no_sell: set[str] = field(default_factory=set)
    """Symbols not to sell today: bought earlier (the broker's record when the run started)
    or by this run."""
    executions: list[OrderExecution] = field(default_factory=list)
    """Every order sent, against the quotes it met (the execution report's lines)."""
    goal: Goal | None = None
    """What the account should hold (the drift after the run is measured against it)."""
    settled: tuple[AccountSnapshot, int] | None = None
    """The snapshot of the plan that ended the run with nothing left to do, and how many
    orders the run had then: while there are still that many, it is the account as the
    run left it (read after the last fills settled)."""


@dataclass(frozen=True)
class Sent:
    """One order as sent: where it is recorded, the quotes and when."""

    index: int
    decided: TimedQuote | None
    arrival: TimedQuote | None
    sent_at: datetime
    started: float
