"""A worker's ``AccountExecutionResult``, from what the engine or the reconciliation returned."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from broker_connector_base import (
    CalculateRebalanceResult,
    PositionDifference,
    RebalanceResult,
    Trade,
)

from app.models import AccountExecutionResult, PortfolioSnapshot
from app.workers.protocol import WorkerRequest

__all__ = ["failed_result_of", "result_of"]


def result_of(
    request: WorkerRequest,
    started_at: datetime,
    done: RebalanceResult | CalculateRebalanceResult | None,
    *,
    trades: list[Trade] | None = None,
    notes: list[str] | None = None,
    differences: list[PositionDifference] | None = None,
    warnings: list[str] | None = None,
    snapshot: PortfolioSnapshot | None = None,
    total_value: Decimal | None = None,
    cash_balance: Decimal | None = None,
) -> AccountExecutionResult:
    """The result of a run that got as far as the engine (or the reconciliation or the
    snapshot: ``done`` is ``None``; ``warnings`` are added to the engine's)."""
    success, error, refusal = True, None, None
    total, cash = total_value, cash_balance
    told: list[str] = []
    if isinstance(done, RebalanceResult):
        success, error, refusal = done.success, done.error, done.refusal
        total, cash = done.total_value, done.cash_balance
        told = done.warnings
        differences = done.position_differences if differences is None else differences
    elif isinstance(done, CalculateRebalanceResult):
        success, refusal = done.success, done.refusal
        error = None if done.success else refusal or "; ".join(done.warnings) or "preview failed"
        total, cash = done.current_value, done.cash_balance
        told = done.warnings
    return AccountExecutionResult(
        account_id=request.account.account_id,
        run_id=request.run_id,
        mode=request.mode,
        status="succeeded" if success else "refused" if refusal is not None else "failed",
        success=success,
        error=error,
        trades=trades or [],
        total_value=total,
        cash_balance=cash,
        warnings=[*told, *(warnings or [])],
        plan=done.plan if done is not None else [],
        notes=notes or [],
        position_differences=differences or [],
        snapshot=snapshot,
        execution=done.execution if isinstance(done, RebalanceResult) else None,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


def failed_result_of(
    request: WorkerRequest,
    started_at: datetime,
    error: str,
    *,
    notes: list[str] | None = None,
    unreachable: bool = False,
) -> AccountExecutionResult:
    """The result of a run that failed before or outside the engine (``unreachable``: it
    could not connect to the broker at all, what the gateway breaker counts)."""
    return AccountExecutionResult(
        account_id=request.account.account_id,
        run_id=request.run_id,
        mode=request.mode,
        status="failed",
        success=False,
        error=error,
        notes=notes or [],
        broker_unreachable=unreachable,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )
