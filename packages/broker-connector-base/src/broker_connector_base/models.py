"""Broker-agnostic models: the values every connector, the calculator and the daemon exchange.

All models are pydantic v2 with ``extra="forbid"``; value objects are frozen. Money and prices
are ``Decimal``; order quantities are whole shares (``int``). Position quantities are
``Decimal`` because a broker may report fractional holdings; only whole shares are traded.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from broker_connector_base.accounts import (
    AccountConfig,
    BrokerConnectionConfig,
    CommissionScheduleName,
    StrategyWeight,
)
from broker_connector_base.execution import ExecutionReport
from broker_connector_base.order_spec import OrderType
from broker_connector_base.order_status import OrderStatus
from broker_connector_base.plan import PositionDelta, RebalancePlan, StrategyAttribution
from broker_connector_base.types import (
    Money,
    NonNegativeMoney,
    Price,
    Shares,
    Symbol,
    to_decimal,
)

__all__ = [
    "AccountConfig",
    "AccountPosition",
    "AccountSnapshot",
    "AllocationItem",
    "BrokerConnectionConfig",
    "CalculateRebalanceResult",
    "CommissionScheduleName",
    "ContractPrice",
    "OpenOrder",
    "OrderFill",
    "OrderRecord",
    "OrderResult",
    "OrderStatus",
    "OrderType",
    "PositionDifference",
    "RebalanceResult",
    "StrategyWeight",
    "Trade",
    "TradingHoursStatus",
]


class _Value(BaseModel):
    """Immutable value object."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# Orders
# --------------------------------------------------------------------------------------------


class Trade(_Value):
    """One proposed or executed trade. Negative ``quantity`` sells.

    ``price`` is the price the plan was computed with: the bid for sells, ``ask * 1.005``
    rounded to the cent for buys. After execution, ``order_id`` (always a string, whatever the
    broker uses natively), ``perm_id`` (the broker's permanent id of the order, see
    ``OrderResult``), ``status``, ``filled_quantity`` (signed like ``quantity``) and
    ``avg_fill_price`` describe what actually happened; ``order_type`` and ``limit_price`` say
    how the order was sent (a plan's trades are ``MARKET`` until the engine sends them as the
    account's order type says). ``estimated_commission`` is what the
    plan expects the order to cost in commission and fees (rounded up to the cent), ``None``
    when the plan was not priced with a commission schedule. ``attribution`` names the
    strategies of the account the trade is for (``None`` when not attributed).
    """

    symbol: Symbol
    quantity: Shares
    current_shares: Decimal = Field(allow_inf_nan=False)
    target_value: NonNegativeMoney
    current_value: Money
    price: Price
    order_type: OrderType = "MARKET"
    limit_price: Price | None = None
    order_id: str | None = None
    status: OrderStatus | None = None
    filled_quantity: Shares | None = None
    avg_fill_price: Price | None = None
    estimated_commission: NonNegativeMoney | None = None
    attribution: StrategyAttribution | None = None
    perm_id: str | None = None

    @field_validator("current_shares", mode="before")
    @classmethod
    def _exact_shares(cls, value: object) -> object:
        return to_decimal(value)

    @field_validator("quantity")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a trade must buy or sell at least one share (quantity is 0)")
        return value

    @property
    def action(self) -> Literal["BUY", "SELL"]:
        """``"BUY"`` for a positive quantity, ``"SELL"`` for a negative one."""
        return "BUY" if self.quantity > 0 else "SELL"

    @property
    def notional(self) -> Decimal:
        """Absolute value of the trade at its planned price."""
        return abs(self.quantity) * self.price


class OrderResult(_Value):
    """What the broker acknowledged when an order was placed.

    ``perm_id`` is the broker's permanent id of the order, never given to another order (IB's
    ``permId``; brokers whose order ids are never reused give the order id); ``None`` when
    the broker had not told it yet. Order ids alone may be reused: IB hands out low ids again
    after a gateway restart.
    """

    order_id: str = Field(min_length=1)
    symbol: Symbol
    quantity: Shares
    status: OrderStatus
    order_ref: str | None = None
    perm_id: str | None = Field(default=None, min_length=1)


class OpenOrder(_Value):
    """An order that is still working at the broker."""

    order_id: str = Field(min_length=1)
    symbol: Symbol
    quantity: Shares
    status: OrderStatus
    order_type: OrderType
    account_id: str | None = None
    limit_price: Price | None = None
    order_ref: str | None = None


class OrderFill(_Value):
    """The state of an order after waiting for it (``BrokerClient.wait_for_order``).

    ``filled_quantity`` is signed like the order (negative for a sell). ``status`` may be
    non-final when the wait timed out; callers must check ``status.is_final``.
    ``commission`` is what the broker charged for the fills so far (commission and fees, as
    its reports tell them: IB's commission reports, 0 at a broker that charges none), ``None``
    when the broker has not reported it (yet).
    """

    order_id: str = Field(min_length=1)
    status: OrderStatus
    filled_quantity: Shares = 0
    remaining_quantity: Shares = 0
    avg_fill_price: Price | None = None
    message: str | None = None
    commission: NonNegativeMoney | None = None


class OrderRecord(_Value):
    """An order as the broker records it: what ``BrokerClient.get_orders_by_ref`` returns.

    ``quantity`` and ``filled_quantity`` are signed (negative sells); ``filled_quantity`` is
    what the broker's executions show, which wins over a status that says otherwise (IB can
    report ``Cancelled`` for an order whose cancel lost the race against its fill).
    ``quantity`` is ``None`` when the broker lists only the order's executions (IB after a
    gateway restart that forgot its completed orders): the order is then over, with
    ``filled_quantity`` filled, and ``status`` is ``FILLED`` although fewer shares than
    ordered may have filled; compare with the quantity you ordered. ``order_id`` is ``None``
    when the broker no longer tells it (IB's completed orders carry none); ``perm_id`` is
    always there and is the key. ``avg_fill_price`` is ``None`` before the first fill, and
    when the broker lists a filled order without its executions (no price to tell).
    """

    order_id: str | None = Field(default=None, min_length=1)
    perm_id: str = Field(min_length=1)
    account_id: str | None = None
    symbol: Symbol
    quantity: Shares | None
    status: OrderStatus
    filled_quantity: Shares = 0
    avg_fill_price: Price | None = None
    order_ref: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OrderRecord:
        if self.quantity is not None and self.filled_quantity:
            if (self.filled_quantity > 0) != (self.quantity > 0):
                raise ValueError(
                    f"order {self.perm_id}: filled {self.filled_quantity} has the other sign "
                    f"than its quantity {self.quantity}"
                )
            if abs(self.filled_quantity) > abs(self.quantity):
                raise ValueError(
                    f"order {self.perm_id}: filled {self.filled_quantity} exceeds its "
                    f"quantity {self.quantity}"
                )
        return self


# --------------------------------------------------------------------------------------------
# Allocations (account configuration: ``broker_connector_base.accounts``, re-exported here)
# --------------------------------------------------------------------------------------------


class AllocationItem(_Value):
    """Target weight of one symbol, as a fraction of the investable account value."""

    symbol: Symbol
    allocation: Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]

    @field_validator("allocation", mode="before")
    @classmethod
    def _exact_allocation(cls, value: object) -> object:
        return to_decimal(value)


# --------------------------------------------------------------------------------------------
# Market data and account state
# --------------------------------------------------------------------------------------------


class ContractPrice(_Value):
    """A quote. Any field may be ``None`` when the broker has no value for it."""

    symbol: Symbol
    bid: Price | None = None
    ask: Price | None = None
    last: Price | None = None
    close: Price | None = None


class AccountPosition(_Value):
    """A holding valued at the current market price (not the average cost)."""

    symbol: Symbol
    quantity: Decimal = Field(allow_inf_nan=False)
    market_price: Price
    market_value: Money
    avg_cost: Price | None = None

    @field_validator("quantity", mode="before")
    @classmethod
    def _exact_quantity(cls, value: object) -> object:
        return to_decimal(value)


class AccountSnapshot(_Value):
    """Balances and positions of one account at one moment."""

    account_id: str = Field(min_length=1)
    total_value: Money
    cash_balance: Money
    settled_cash: Money
    positions: list[AccountPosition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_symbols(self) -> AccountSnapshot:
        seen: set[str] = set()
        for position in self.positions:
            if position.symbol in seen:
                raise ValueError(f"position {position.symbol} appears more than once")
            seen.add(position.symbol)
        return self

    def position(self, symbol: str) -> AccountPosition | None:
        """The position in ``symbol`` (case-insensitive), or ``None``."""
        wanted = symbol.strip().upper()
        return next((p for p in self.positions if p.symbol == wanted), None)


class TradingHoursStatus(_Value):
    """Whether every requested symbol is inside its liquid (regular) trading hours now.

    ``closed_symbols`` lists those that are not; ``next_open`` is the earliest moment at which
    all of them are open again (``None`` when open now or unknown). ``closes_at`` is when the
    current liquid session ends for the first of them to close (``None`` when closed now, or
    when the broker does not tell): what market-on-close cut-offs are counted back from.
    ``checked_at`` is by the broker's clock where it has one.
    """

    is_open: bool
    checked_at: AwareDatetime
    closed_symbols: list[Symbol] = Field(default_factory=list)
    next_open: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None


# --------------------------------------------------------------------------------------------
# Rebalance results
# --------------------------------------------------------------------------------------------


class PositionDifference(_Value):
    """A symbol whose shares at the broker differ from what the journal and fills explain.

    ``expected`` is what the shares held before plus the fills since should come to,
    ``actual`` what the broker reports (0: no position).
    """

    symbol: Symbol
    expected: Decimal = Field(allow_inf_nan=False)
    actual: Decimal = Field(allow_inf_nan=False)

    @field_validator("expected", "actual", mode="before")
    @classmethod
    def _exact(cls, value: object) -> object:
        return to_decimal(value)

    @property
    def difference(self) -> Decimal:
        """``actual - expected``: positive when the broker shows more shares."""
        return self.actual - self.expected

    def describe(self) -> str:
        """One line for the owner, e.g. ``SPY: 40 held, 50 expected (-10)``."""
        return f"{self.symbol}: {self.actual} held, {self.expected} expected ({self.difference:+})"


class RebalanceResult(_Value):
    """Result of an executed rebalance.

    ``plan`` is the plan the run started from (every symbol held or targeted, traded or not;
    ``position_deltas`` the same in shares); ``orders`` what was placed, in every round.
    ``final_snapshot`` is the account as the run left it (the one ``total_value`` and
    ``cash_balance`` come from), ``None`` when no snapshot could be read.
    ``position_differences`` lists the symbols whose shares at the end differ from the shares
    at the start plus the run's fills (the post-trade reconciliation; empty when they agree
    or when the run filled nothing). ``refusal`` says why a guard stopped the run before an
    order (a risk limit, the kill switch); ``error`` then says the same and ``success`` is
    false. ``execution`` is the run's execution report: every order against the quotes it
    met, slippage, commissions and the drift left (``None`` when no order was sent).
    """

    orders: list[Trade]
    total_value: Money
    cash_balance: Money | None = None
    success: bool
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    plan: list[RebalancePlan] = Field(default_factory=list)
    final_snapshot: AccountSnapshot | None = None
    position_differences: list[PositionDifference] = Field(default_factory=list)
    refusal: str | None = None
    execution: ExecutionReport | None = None

    @property
    def position_deltas(self) -> list[PositionDelta]:
        """Each plan line's change in shares (``RebalancePlan.delta``)."""
        return [line.delta() for line in self.plan]


class CalculateRebalanceResult(_Value):
    """Result of a preview: the trades that would be placed, none placed.

    ``plan`` describes every symbol held or targeted, traded or not (``position_deltas``
    the same in shares). ``refusal`` is why the execution would be refused (a risk limit);
    ``success`` is then false and ``proposed_trades`` are the trades that would be refused.
    """

    proposed_trades: list[Trade]
    current_value: Money
    cash_balance: Money | None = None
    success: bool
    warnings: list[str] = Field(default_factory=list)
    plan: list[RebalancePlan] = Field(default_factory=list)
    refusal: str | None = None

    @property
    def position_deltas(self) -> list[PositionDelta]:
        """Each plan line's change in shares (``RebalancePlan.delta``)."""
        return [line.delta() for line in self.plan]
