"""Request and response bodies of the HTTP API (OpenAPI schemas come from these).

Every model is a frozen pydantic value that forbids unknown fields. Money, prices and weights
are ``Decimal`` and travel as JSON strings (``"1234.50"``), never as floats; share counts are
integers; times are ISO-8601 with an offset.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from broker_connector_base import AllocationItem, ExecutionReport
from pydantic import BaseModel, ConfigDict, Field

from app.store.queries import RunSource

__all__ = [
    "AccountDetail",
    "AccountSummary",
    "AccountsResponse",
    "AllocationInput",
    "BrokerStatus",
    "CalculateRequest",
    "ConnectionStatus",
    "DriftSummary",
    "ErrorBody",
    "ErrorResponse",
    "EventView",
    "EventsResponse",
    "FieldError",
    "HealthResponse",
    "Holding",
    "HoldingsSource",
    "OrderView",
    "PreviewInfo",
    "ProposedTrade",
    "RealtimeStatus",
    "RebalanceRequest",
    "RunDetail",
    "RunSummary",
    "RunsResponse",
    "SignalView",
    "SnapshotInfo",
    "SnapshotRequest",
    "StrategyShares",
    "StrategyWeightView",
]

Direction = Literal["BUY", "SELL", "HOLD"]

StrategyShares = dict[str, Decimal]
"""Which strategies of the account a line is for: strategy name -> its share (fractions
summing to 1; ``{}``: no strategy targets the symbol, it is being sold). Lines of runs that
were not attributed carry ``null`` instead."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- requests ----------------------------------------------------------------------------------


class AllocationInput(_Body):
    """One target weight: ``{"symbol": "SPY", "allocation": "0.6"}`` (a fraction, 0..1)."""

    symbol: str = Field(min_length=1, max_length=20, examples=["SPY"])
    allocation: Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False, examples=["0.6"])]

    def item(self) -> AllocationItem:
        """The validated allocation for the rebalancer."""
        return AllocationItem(symbol=self.symbol, allocation=self.allocation)


class CalculateRequest(_Body):
    """A preview; ``allocations`` replace the strategy's targets for this preview only.

    They are checked as the allocations API's documents are: symbols valid and unique, each
    weight within 0..1, the weights summing to 1 within 0.01 (what is not allocated stays in
    cash).
    """

    allocations: list[AllocationInput] | None = Field(default=None, max_length=200)


class RebalanceRequest(_Body):
    """An execution with the strategy's own allocations; the body is an empty object."""


class SnapshotRequest(_Body):
    """A portfolio snapshot now (reads the account, places nothing); an empty object."""


# -- errors ------------------------------------------------------------------------------------


class FieldError(_Body):
    """One invalid field of a request."""

    field: str
    value: Any = None
    message: str


class ErrorBody(_Body):
    """What went wrong: a stable ``code`` and a sentence for people."""

    code: str
    message: str
    fields: list[FieldError] = Field(default_factory=list)
    run: RunDetail | None = None


class ErrorResponse(_Body):
    """Every 4xx/5xx answer of the API."""

    error: ErrorBody


# -- health and connection ---------------------------------------------------------------------


class HealthResponse(_Body):
    """The daemon answers; ``accepting`` is false once it is shutting down."""

    status: Literal["ok"] = "ok"
    version: str
    accepting: bool


class BrokerStatus(_Body):
    """A broker's gateway as the daemon can reach it (workers connect per run)."""

    broker: str
    address: str | None
    reachable: bool | None
    checked_at: datetime | None
    error: str | None = None
    last_successful_run_at: datetime | None = None


class RealtimeStatus(_Body):
    """The realtime (Ably) link: ``disabled`` without ``REALTIME_API_KEY``."""

    state: str
    channels: list[str]


class SignalView(_Body):
    """The newest strategy signal the daemon received."""

    channel: str
    event_id: str | None
    received_at: datetime
    outcome: str | None


class ConnectionStatus(_Body):
    """Gateways, the realtime link and the last signal."""

    brokers: list[BrokerStatus]
    realtime: RealtimeStatus
    last_signal: SignalView | None
    active_runs: int


# -- runs and events ---------------------------------------------------------------------------


class OrderView(_Body):
    """An order a run placed, in its last journalled state (quantities unsigned), and the
    strategies it is for."""

    order_id: str | None
    symbol: str
    side: Literal["BUY", "SELL"]
    quantity: int
    price: Decimal
    status: str | None
    filled_quantity: int | None
    avg_fill_price: Decimal | None
    recorded_at: datetime
    updated_at: datetime
    strategies: StrategyShares | None = None


class ProposedTrade(_Body):
    """A trade a preview proposes (nothing placed), and the strategies it is for."""

    symbol: str
    side: Literal["BUY", "SELL"]
    quantity: int
    price: Decimal
    current_value: Decimal
    target_value: Decimal
    estimated_value: Decimal
    strategies: StrategyShares | None = None


class RunSummary(_Body):
    """One run; ``status`` is ``running`` until its end is journalled."""

    run_id: str
    account_id: str
    mode: Literal["rebalance", "print-rebalance", "snapshot"]
    status: str
    source: RunSource
    channel: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_secs: float | None
    total_value: Decimal | None
    cash_balance: Decimal | None
    error: str | None
    order_count: int


class RunDetail(RunSummary):
    """A run with its orders (placed) or proposed trades (previews) and warnings, and the
    execution report of a rebalance that placed orders (``null`` otherwise): every order
    against the quote it met (slippage in bps of the arrival midpoint, positive a cost), the
    run's notional-weighted slippage, commissions and the drift left."""

    orders: list[OrderView]
    proposed_trades: list[ProposedTrade]
    warnings: list[str]
    execution: ExecutionReport | None = None


class RunsResponse(_Body):
    """Runs newest first; ``next_before`` pages on."""

    runs: list[RunSummary]
    next_before: datetime | None


class EventView(_Body):
    """A journalled event: a strategy signal, a CLI or an API trigger."""

    id: int
    event_id: str | None
    channel: str
    source: RunSource
    received_at: datetime
    outcome: str | None
    payload: str


class EventsResponse(_Body):
    """Events newest first; ``next_before_id`` pages on."""

    events: list[EventView]
    next_before_id: int | None


# -- accounts ----------------------------------------------------------------------------------


class Holding(_Body):
    """One symbol held or targeted: where it is, where the plan wants it, the trade, and the
    strategies of the account it is for.

    Weights are fractions of the account's value; ``drift`` is ``current_weight -
    target_weight`` (positive: overweight). From a snapshot there is no trade (``HOLD``, 0),
    and the targets are ``null`` when the snapshot could not read them.
    """

    symbol: str
    current_value: Decimal
    current_weight: Decimal
    target_value: Decimal | None
    target_weight: Decimal | None
    drift: Decimal | None
    trade_quantity: int
    trade_value: Decimal
    direction: Direction
    strategies: StrategyShares | None = None


class DriftSummary(_Body):
    """How far the account is from its targets (fractions of its value).

    ``max_abs`` is the largest single-symbol drift; ``total`` half the sum of absolute drifts,
    the share of the account a rebalance would move.
    """

    max_abs: Decimal
    total: Decimal


class PreviewInfo(_Body):
    """Which preview the positions, targets and drift come from, and how old it is.

    ``stale`` is true when a rebalance succeeded after it (run a preview to refresh).
    ``plan_source`` says whether every held or targeted symbol is listed (``plan``) or only
    the symbols with a trade (``trades``).
    """

    run_id: str
    source: RunSource
    finished_at: datetime
    age_secs: float
    stale: bool
    plan_source: Literal["plan", "trades"]


class StrategyWeightView(_Body):
    """A strategy the account follows and the fraction of its investable value it gets."""

    name: str
    weight: Decimal


class SnapshotInfo(_Body):
    """The account's latest portfolio snapshot (daily, after each rebalance, or on demand).

    ``targets_known`` is false when the snapshot could not read the strategy's targets (then
    no drift is known from it).
    """

    run_id: str
    taken_at: datetime
    age_secs: float
    total_value: Decimal
    targets_known: bool


HoldingsSource = Literal["preview", "snapshot"]


class AccountSummary(_Body):
    """An account as configured, with its last known value, drift and last run.

    ``holdings_source`` says where the drift (and the detail's holdings) come from: the
    newest successful ``preview`` (with its proposed trades) or the latest ``snapshot``
    (positions against the targets stored with it), whichever is newer; ``null`` with
    neither.

    ``strategies`` lists every strategy the account follows with its weight (one, weight 1,
    for most accounts); ``strategy_name`` is the single strategy's name, or the names joined
    by ``+`` for several.
    """

    account_id: str
    strategy_name: str
    strategies: list[StrategyWeightView]
    broker: str
    type: Literal["paper", "live"]
    enabled: bool
    tradable: bool
    pdt_protection_enabled: bool
    total_value: Decimal | None
    cash_balance: Decimal | None
    drift: DriftSummary | None
    holdings_source: HoldingsSource | None
    preview: PreviewInfo | None
    snapshot: SnapshotInfo | None
    last_run: RunSummary | None
    running_run_id: str | None


class AccountsResponse(_Body):
    """Every configured account, in file order."""

    trading_mode: Literal["paper", "live"]
    accounts: list[AccountSummary]


class AccountDetail(AccountSummary):
    """An account with its holdings against its targets (from ``holdings_source``)."""

    holdings: list[Holding]
    warnings: list[str]


ErrorBody.model_rebuild()
ErrorResponse.model_rebuild()
