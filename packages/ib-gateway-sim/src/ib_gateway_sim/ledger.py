"""Money rules of a fill: commission, cash and position changes, cash-account limits."""

from __future__ import annotations

from decimal import Decimal

from ib_gateway_sim.scenario import FillSpec
from ib_gateway_sim.state import ZERO, AccountState, PositionState, SimOrder

CENT = Decimal("0.01")


class OrderRefused(Exception):
    """An order (or what is left of it) is refused with TWS error ``code`` and ``text``."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


def commission(spec: FillSpec, quantity: Decimal, price: Decimal) -> Decimal:
    """IB fixed-style commission: per share, with a minimum and a percentage cap, in cents."""
    raw = max(quantity * spec.commission_per_share, spec.commission_min)
    cap = quantity * price * spec.commission_max_pct / 100
    return min(raw, cap).quantize(CENT)


def apply_fill(
    account: AccountState, order: SimOrder, quantity: Decimal, price: Decimal, fee: Decimal
) -> Decimal | None:
    """Move cash and shares for one execution; returns realized P&L (None for a buy).

    Raises:
        OrderRefused: a cash account cannot pay, or the shares are no longer held.
    """
    position = account.positions.get(order.symbol)
    if order.is_buy:
        cost = quantity * price + fee
        if account.account_type == "cash" and cost > account.cash:
            raise OrderRefused(
                201,
                f"Order rejected - reason:Insufficient cash at fill: {cost:.2f} needed, "
                f"{account.cash:.2f} held",
            )
        account.cash -= cost
        # Buys consume settled cash first; sale proceeds stay unsettled (T+1).
        account.settled_cash = max(account.settled_cash - cost, ZERO)
        if position is None:
            account.positions[order.symbol] = PositionState(quantity, cost / quantity)
        else:
            total = position.quantity * position.avg_cost + cost
            position.quantity += quantity
            position.avg_cost = total / position.quantity
        return None
    if position is None or position.quantity < quantity:
        raise OrderRefused(201, "Order rejected - reason:Position no longer held")
    proceeds = quantity * price - fee
    account.cash += proceeds
    realized = proceeds - quantity * position.avg_cost
    position.realized_pnl += realized
    position.quantity -= quantity
    if position.quantity == 0:
        del account.positions[order.symbol]
    return realized
