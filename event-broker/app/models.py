"""Daemon models: events, per-account and per-strategy results, PDT state.

The trading models live in ``broker_connector_base`` and are re-exported here so the daemon
imports everything it exchanges from one place (seed Task 2.5). Results cross the per-account
subprocess boundary, so every model here is a picklable, frozen pydantic value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    CalculateRebalanceResult,
    ContractPrice,
    ExecutionReport,
    OpenOrder,
    OrderResult,
    PositionDelta,
    PositionDifference,
    RebalancePlan,
    RebalanceResult,
    Trade,
)
from broker_connector_base.types import Money
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.snapshots.model import PortfolioSnapshot

__all__ = [
    "AccountConfig",
    "AccountExecutionResult",
    "AccountPosition",
    "AccountSnapshot",
    "AllocationItem",
    "CalculateRebalanceResult",
    "ContractPrice",
    "EventData",
    "ExecMode",
    "OpenOrder",
    "OrderResult",
    "PDTCheckResult",
    "PDTExecutionInfo",
    "PortfolioSnapshot",
    "PositionDelta",
    "RebalancePlan",
    "RebalanceResult",
    "RunMode",
    "RunStatus",
    "StrategyExecutionResult",
    "Trade",
]

ExecMode = Literal["rebalance", "print-rebalance"]
"""``rebalance`` places orders; ``print-rebalance`` only previews them."""

RunMode = Literal["rebalance", "print-rebalance", "snapshot", "reconcile"]
"""What an account run does: an ``ExecMode``, ``snapshot`` (reads the account and its
targets, places nothing; taken on a schedule or on demand, never by a strategy event) or
``reconcile`` (resolves the journal's unfinished orders against the broker and checks the
positions; reads and places nothing; started by the daemon at start-up, after a run that died
and on the position-check schedule, never by a strategy event; never journalled as a run)."""

RunStatus = Literal["succeeded", "failed", "refused", "timed_out"]
"""How one account run ended. ``refused``: a guard (PDT, lock, market hours) stopped it."""


def _aware(value: datetime) -> datetime:
    """Treat a naive timestamp as UTC: every time the daemon stores or compares is aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class EventData(BaseModel):
    """A strategy signal as published on the realtime channel or given to the CLI.

    Parsed strictly (``app.intake.events``): an unknown or misspelt field is refused, naming
    it and the closest known one, because a field the daemon does not read would be a
    silent change of meaning (``acount_id`` would run every account of the strategy instead
    of one). Whatever else a publisher wants to send goes into ``data``. ``created_at``
    accepts ISO-8601 text or a Unix timestamp; a naive value is taken as UTC.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    exec: ExecMode
    account_id: (
        Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] | None
    ) = None
    event_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    times_queued: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    created_at: datetime | None = None
    data: dict[str, Any] | None = None

    @field_validator("created_at", mode="before")
    @classmethod
    def _parse_created_at(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO-8601 date and time") from None
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(float(value), UTC)
            except (OverflowError, OSError, ValueError):
                raise ValueError(f"{value} is not a Unix time in seconds") from None
        return value

    @field_validator("created_at")
    @classmethod
    def _aware_created_at(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value)


class AccountExecutionResult(BaseModel):
    """The outcome of one account run (one subprocess), preview or execution.

    ``trades`` are the placed orders for ``rebalance`` and the proposed trades for
    ``print-rebalance``; ``plan`` the plan they came from (every symbol held or targeted,
    ``RebalancePlan.delta()`` in shares; empty when the run failed before planning).
    ``snapshot`` is the account as a ``rebalance`` left it or as a ``snapshot`` run read it
    (``None`` for previews and runs that could not read it). ``execution`` is a
    ``rebalance``'s execution report (``broker_connector_base.execution``; ``None`` when it
    sent no order). ``broker_unreachable`` says the run failed because the worker could not
    connect to the broker at all (what the gateway breaker counts).
    ``success`` is true exactly when ``status`` is ``"succeeded"``; ``error`` carries the
    reason for every other status. ``notes`` are what the owner should know beyond the trades
    (a completion run under PDT protection, orders of earlier runs reconciled with the broker);
    ``position_differences`` the symbols whose shares at the broker differ from what the
    journal's fills explain (after a run, or at a position check).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    mode: RunMode
    status: RunStatus
    success: bool
    error: str | None = None
    trades: list[Trade] = Field(default_factory=list)
    total_value: Money | None = None
    cash_balance: Money | None = None
    warnings: list[str] = Field(default_factory=list)
    plan: list[RebalancePlan] = Field(default_factory=list)
    snapshot: PortfolioSnapshot | None = None
    execution: ExecutionReport | None = None
    broker_unreachable: bool = False
    notes: list[str] = Field(default_factory=list)
    position_differences: list[PositionDifference] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime

    @field_validator("started_at", "finished_at")
    @classmethod
    def _aware_times(cls, value: datetime) -> datetime:
        return _aware(value)

    @model_validator(mode="after")
    def _consistent(self) -> AccountExecutionResult:
        if self.success != (self.status == "succeeded"):
            raise ValueError(
                f"success={self.success} contradicts status={self.status!r} "
                "(success is true exactly when status is 'succeeded')"
            )
        if not self.success and not self.error:
            raise ValueError(f"status {self.status!r} needs an error saying why")
        if self.snapshot is not None and self.snapshot.account_id != self.account_id:
            raise ValueError(
                f"snapshot of account {self.snapshot.account_id} in the result of {self.account_id}"
            )
        if self.finished_at < self.started_at:
            raise ValueError(
                f"finished_at {self.finished_at.isoformat()} is before "
                f"started_at {self.started_at.isoformat()}"
            )
        return self

    @property
    def duration_secs(self) -> float:
        """Wall-clock length of the run."""
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def traded_notional(self) -> Decimal:
        """Sum of the absolute planned values of the trades."""
        return sum((trade.notional for trade in self.trades), Decimal(0))


class StrategyExecutionResult(BaseModel):
    """All account runs triggered by one strategy event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str = Field(min_length=1)
    timestamp: datetime
    event: RunMode
    accounts_processed: int = Field(ge=0)
    results: list[AccountExecutionResult] = Field(default_factory=list)
    status: str | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware_timestamp(cls, value: datetime) -> datetime:
        return _aware(value)

    @property
    def all_succeeded(self) -> bool:
        """True when every account run succeeded (vacuously true with no accounts)."""
        return all(result.success for result in self.results)


class PDTCheckResult(BaseModel):
    """Whether a ``rebalance`` may run now under PDT protection.

    ``next_allowed_time`` is ISO-8601 with a UTC offset (New York time), set only when
    ``allowed`` is false; ``detail`` then says which runs used the day. ``completion_of`` names
    the incomplete run an allowed run completes (``None``: the day's first rebalance).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: bool
    next_allowed_time: str | None = None
    completion_of: str | None = None
    detail: str | None = None

    @field_validator("next_allowed_time")
    @classmethod
    def _iso_with_offset(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(f"next_allowed_time {value!r} has no UTC offset")
        return value

    @model_validator(mode="after")
    def _time_when_refused(self) -> PDTCheckResult:
        if not self.allowed and self.next_allowed_time is None:
            raise ValueError("a refusal must say when the next execution is allowed")
        return self


class PDTExecutionInfo(BaseModel):
    """When an account last executed a rebalance and when it may next execute one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    last_executed: datetime
    next_execution: datetime

    @field_validator("last_executed", "next_execution")
    @classmethod
    def _aware_times(cls, value: datetime) -> datetime:
        return _aware(value)
