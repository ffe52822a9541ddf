"""What a rebalance's orders cost against the market they met: the execution report.

For every order: the price the plan decided on (the quote it used), the quote when the order
was sent (arrival: its bid, ask, midpoint and spread), the average fill, the signed slippage
against the arrival midpoint, the commission the broker reported and how long the fills took.
Per run: the notional-weighted slippage, the commissions and the drift the run left.

Slippage sign convention: positive is a cost. A buy filled above the arrival midpoint, or a
sell filled below it, has positive slippage; in basis points of the midpoint::

    buy:  (avg_fill - arrival_mid) / arrival_mid * 10_000
    sell: (arrival_mid - avg_fill) / arrival_mid * 10_000

A market order filled at the far side thus costs half the spread (in bps of the mid).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from broker_connector_base.order_spec import OrderType
from broker_connector_base.order_status import OrderStatus
from broker_connector_base.types import Money, NonNegativeMoney, Price, Shares, Symbol

__all__ = ["BPS", "ExecutionReport", "OrderExecution", "QuoteSource", "slippage_bps"]

BPS = Decimal("0.01")
"""Slippage and spreads are reported to a hundredth of a basis point."""

QuoteSource = Literal["plan", "broker", "recorder"]
"""Where an arrival quote came from: the plan's own quote (young enough), a fresh quote from
the broker, or the daemon's quote recorder."""


def slippage_bps(side: Literal["BUY", "SELL"], avg_fill: Decimal, mid: Decimal) -> Decimal:
    """Signed slippage of a fill against ``mid``, in basis points (positive: a cost)."""
    signed = avg_fill - mid if side == "BUY" else mid - avg_fill
    return (signed / mid * 10_000).quantize(BPS, rounding=ROUND_HALF_EVEN)


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderExecution(_Value):
    """One order of a run, against the market it met.

    Attributes:
        order_id: The broker's order id (``None``: refused before it had one).
        symbol: Ticker.
        side: ``BUY`` or ``SELL``.
        quantity: Shares ordered (signed like the order: negative sells).
        order_type: How it was sent; ``limit_price`` its limit or cap.
        status: Its status when the run stopped looking (``WORKING``: a market-on-close order
            waiting for the auction).
        filled_quantity: Shares filled (signed).
        decision_price: The midpoint of the quote the plan used (the last trade when that
            quote had no bid and ask).
        arrival_bid, arrival_ask: The quote when the order was sent; ``arrival_source`` says
            where it came from.
        arrival_mid: Their midpoint; ``spread_bps`` the spread in basis points of it.
        avg_fill_price: Average fill price (``None`` before a fill).
        slippage_bps: Against ``arrival_mid`` (see the module docstring), ``None`` without a
            fill or an arrival midpoint.
        commission: What the broker charged (``None``: not reported).
        sent_at: When the order was sent.
        time_to_fill_secs: From sending to the last fill, as the engine saw it (``None``
            while not completely filled).
    """

    order_id: str | None
    symbol: Symbol
    side: Literal["BUY", "SELL"]
    quantity: Shares
    order_type: OrderType
    limit_price: Price | None = None
    status: OrderStatus
    filled_quantity: Shares = 0
    decision_price: Price | None = None
    arrival_bid: Price | None = None
    arrival_ask: Price | None = None
    arrival_mid: Price | None = None
    arrival_source: QuoteSource | None = None
    spread_bps: Decimal | None = Field(default=None, allow_inf_nan=False)
    avg_fill_price: Price | None = None
    slippage_bps: Decimal | None = Field(default=None, allow_inf_nan=False)
    commission: NonNegativeMoney | None = None
    sent_at: AwareDatetime
    time_to_fill_secs: Annotated[float, Field(ge=0)] | None = None

    @property
    def filled_notional(self) -> Decimal:
        """Filled shares valued at the arrival midpoint (0 without one)."""
        return abs(self.filled_quantity) * (self.arrival_mid or Decimal(0))


class ExecutionReport(_Value):
    """The execution of one run.

    Attributes:
        orders: Every order the run sent, in sending order.
        slippage_bps: The filled orders' slippage weighted by their filled notional (at the
            arrival midpoint); ``None`` when nothing with a known arrival quote filled.
        filled_notional: The weights' sum.
        commission: What the broker charged in all (``None`` when a filled order's
            commission was not reported).
        drift_after: Half the sum of |current weight - target weight| over the account's
            symbols once the run ended (the share of the account that is off target);
            ``drift_after_max`` the largest single-symbol drift; ``None`` without a final
            snapshot.
        pending_close: Market-on-close orders still waiting for the closing auction.
    """

    orders: list[OrderExecution] = Field(default_factory=list)
    slippage_bps: Decimal | None = Field(default=None, allow_inf_nan=False)
    filled_notional: Money = Decimal(0)
    commission: Money | None = None
    drift_after: Decimal | None = Field(default=None, allow_inf_nan=False)
    drift_after_max: Decimal | None = Field(default=None, allow_inf_nan=False)
    pending_close: Annotated[int, Field(ge=0)] = 0

    @classmethod
    def of(
        cls,
        orders: list[OrderExecution],
        *,
        drift_after: Decimal | None = None,
        drift_after_max: Decimal | None = None,
    ) -> ExecutionReport:
        """The report of ``orders``, with the run's figures computed from them."""
        weighted = [o for o in orders if o.slippage_bps is not None and o.filled_notional]
        notional = sum((o.filled_notional for o in weighted), Decimal(0))
        slippage = None
        if notional:
            total = sum(
                (
                    o.slippage_bps * o.filled_notional
                    for o in weighted
                    if o.slippage_bps is not None
                ),
                Decimal(0),
            )
            slippage = (total / notional).quantize(BPS, rounding=ROUND_HALF_EVEN)
        filled = [o for o in orders if o.filled_quantity]
        commission = None
        if all(o.commission is not None for o in filled):
            commission = sum((o.commission or Decimal(0) for o in orders), Decimal(0))
        pending = sum(1 for o in orders if o.order_type == "MOC" and not o.status.is_final)
        return cls(
            orders=orders,
            slippage_bps=slippage,
            filled_notional=notional,
            commission=commission,
            drift_after=drift_after,
            drift_after_max=drift_after_max,
            pending_close=pending,
        )
