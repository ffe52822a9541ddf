"""Deposits and withdrawals: the change in cash between two snapshots that fills do not explain.

For two consecutive snapshots ``P`` and ``C`` of one account (``P`` taken before ``C``):

* the **fills** are the journalled orders of the account's ``rebalance`` runs that started
  after ``P`` was taken and no later than ``C`` (runs and snapshots of an account hold its
  lock, so no run straddles a snapshot; a run's own final snapshot comes after its fills);
* ``fills_cash = Σ −filled_quantity × avg_fill_price`` (a buy takes cash, a sell brings it);
* ``commissions = Σ estimated_commission`` of those orders where the plan priced one (the
  journal has no actual commission: the broker's is not recorded);
* ``residual = (C.cash − P.cash) − fills_cash + commissions``;
* the residual is a **cash flow** (deposit if positive, withdrawal if negative), dated on
  ``C``'s New York day, when ``|residual| ≥ max($1.00, 0.1 % of P's total value)``; below
  that it is noise: the difference between estimated and charged commissions, a fill price
  journalled to fewer decimals than the broker booked.

Limits, all of which read as flows (or are missed) because only the daemon's own fills are
known: dividends, interest, fees and any cash the broker books by itself look like deposits
or withdrawals; trades placed outside the daemon (by hand, by another tool) look like
withdrawals (a buy) or deposits (a sell), so their value change is not a return; transfers of
shares in or out (in kind) change no cash and are read as gains or losses; flows smaller than
the threshold count as returns; a run that died mid-way (``abandoned``) may have fills the
journal never heard of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from broker_connector_base.types import to_cents

__all__ = ["FLOW_MIN_AMOUNT", "FLOW_MIN_FRACTION", "CashReconciliation", "Fill", "reconcile"]

FLOW_MIN_AMOUNT = Decimal("1.00")
"""Residuals smaller than this are never flows."""

FLOW_MIN_FRACTION = Decimal("0.001")
"""Nor residuals smaller than this fraction of the earlier snapshot's total value."""


@dataclass(frozen=True)
class Fill:
    """A journalled fill: signed shares (negative sold), average price, estimated commission."""

    quantity: int
    price: Decimal
    commission: Decimal | None = None


@dataclass(frozen=True)
class CashReconciliation:
    """How the cash moved between two snapshots, and what of it the fills explain."""

    cash_change: Decimal
    fills_cash: Decimal
    commissions: Decimal
    fills: int
    threshold: Decimal

    @property
    def residual(self) -> Decimal:
        """The cash change the fills and their commissions do not explain, to the cent."""
        return to_cents(self.cash_change - self.fills_cash + self.commissions)

    @property
    def flow(self) -> Decimal | None:
        """The residual when it is a deposit (+) or withdrawal (−), else ``None`` (noise)."""
        residual = self.residual
        return residual if abs(residual) >= self.threshold else None


def reconcile(
    *,
    previous_cash: Decimal,
    previous_value: Decimal,
    current_cash: Decimal,
    fills: Sequence[Fill],
) -> CashReconciliation:
    """Compare the cash change between two snapshots with the fills between them."""
    fills_cash = sum((-f.quantity * f.price for f in fills), Decimal(0))
    commissions = sum((f.commission for f in fills if f.commission is not None), Decimal(0))
    threshold = max(FLOW_MIN_AMOUNT, to_cents(abs(previous_value) * FLOW_MIN_FRACTION))
    return CashReconciliation(
        cash_change=current_cash - previous_cash,
        fills_cash=fills_cash,
        commissions=commissions,
        fills=len(fills),
        threshold=threshold,
    )
