"""The run's execution report: its orders' execution records and the drift it left."""

from __future__ import annotations

from decimal import Decimal

from broker_connector_base import AccountSnapshot, ExecutionReport

from rebalance_engine._execution import RunRecord
from rebalance_engine._plan import Goal
from rebalance_engine.plans import plan_lines

__all__ = ["drift", "execution_report"]

_DRIFT = Decimal("0.000001")


def drift(snapshot: AccountSnapshot, goal: Goal) -> tuple[Decimal, Decimal]:
    """How far ``snapshot`` is from ``goal``: half the sum of |current weight - target weight|
    over every symbol held or targeted (the share of the account that is off target), and the
    largest single-symbol difference; as fractions of the account value."""
    lines = plan_lines(snapshot, goal.weights, goal.reserve_percent, [])
    off = [abs(line.current_weight - line.target_weight) for line in lines]
    total = (sum(off, Decimal(0)) / 2).quantize(_DRIFT)
    return total, max(off, default=Decimal(0)).quantize(_DRIFT)


def execution_report(run: RunRecord, final: AccountSnapshot | None) -> ExecutionReport | None:
    """The report of ``run`` (``None`` when it sent no order), with the drift ``final`` shows."""
    if not run.executions:
        return None
    if final is None or run.goal is None:
        return ExecutionReport.of(list(run.executions))
    total, largest = drift(final, run.goal)
    return ExecutionReport.of(list(run.executions), drift_after=total, drift_after_max=largest)
