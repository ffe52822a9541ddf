"""Mutable broker state: accounts, positions, orders and their fills (all money is Decimal)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ib_gateway_sim.scenario import AccountSpec, SymbolSpec

__all__ = ["AccountState", "PositionState", "SimFill", "SimOrder", "mark_price"]

ZERO = Decimal("0")
CENT = Decimal("0.01")

WORKING_STATUSES = frozenset({"PreSubmitted", "Submitted", "PendingSubmit"})


@dataclass
class SimFill:
    """One execution of an order."""

    exec_id: str
    time: dt.datetime
    quantity: Decimal
    price: Decimal
    commission: Decimal
    realized_pnl: Decimal | None
    cum_qty: Decimal
    avg_price: Decimal

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (decimals as strings, time ISO 8601 UTC)."""
        return {
            "exec_id": self.exec_id,
            "time": self.time.isoformat(),
            "quantity": str(self.quantity),
            "price": str(self.price),
            "commission": str(self.commission),
            "realized_pnl": None if self.realized_pnl is None else str(self.realized_pnl),
            "cum_qty": str(self.cum_qty),
            "avg_price": str(self.avg_price),
        }


@dataclass
class SimOrder:
    """An order as the simulated gateway knows it."""

    order_id: int
    perm_id: int
    client_id: int
    account: str
    symbol: str
    con_id: int
    exchange: str
    action: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    tif: str
    order_ref: str
    created_at: dt.datetime
    algo_strategy: str = ""
    algo_params: tuple[tuple[str, str], ...] = ()
    ticker: str = ""  # the wire symbol when it differs from ``symbol`` (the scenario key)
    status: str = "PendingSubmit"
    filled: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    last_fill_price: Decimal = ZERO
    updated_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    reason: str = ""
    session_seen: bool = False
    fills: list[SimFill] = field(default_factory=list)
    # After a gateway restart: whether reqCompletedOrders / reqExecutions still list it.
    listed_completed: bool = True
    listed_executions: bool = True

    @property
    def wire_symbol(self) -> str:
        """The ticker IB reports for the order's contract."""
        return self.ticker or self.symbol

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.quantity - self.filled

    @property
    def is_working(self) -> bool:
        """True while the order can still fill or be cancelled."""
        return self.status in WORKING_STATUSES

    @property
    def is_buy(self) -> bool:
        """True for BUY orders."""
        return self.action == "BUY"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (decimals as strings, times ISO 8601 UTC)."""
        return {
            "order_id": self.order_id,
            "perm_id": self.perm_id,
            "client_id": self.client_id,
            "account": self.account,
            "symbol": self.symbol,
            "con_id": self.con_id,
            "action": self.action,
            "quantity": str(self.quantity),
            "order_type": self.order_type,
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "tif": self.tif,
            "algo_strategy": self.algo_strategy,
            "algo_params": dict(self.algo_params),
            "order_ref": self.order_ref,
            "status": self.status,
            "filled": str(self.filled),
            "remaining": str(self.remaining),
            "avg_fill_price": str(self.avg_fill_price),
            "created_at": self.created_at.isoformat(),
            "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
            "completed_at": None if self.completed_at is None else self.completed_at.isoformat(),
            "reason": self.reason,
            "fills": [f.to_dict() for f in self.fills],
        }


@dataclass
class PositionState:
    """A holding: quantity, average cost per share (commission included, as IB does)."""

    quantity: Decimal
    avg_cost: Decimal
    realized_pnl: Decimal = ZERO


@dataclass
class AccountState:
    """An account's cash and positions."""

    name: str
    cash: Decimal
    settled_cash: Decimal
    account_type: str
    currency: str
    positions: dict[str, PositionState] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, name: str, spec: AccountSpec) -> AccountState:
        """Build the starting state of an account."""
        settled = spec.cash if spec.settled_cash is None else spec.settled_cash
        return cls(
            name=name,
            cash=spec.cash,
            settled_cash=settled,
            account_type=spec.account_type,
            currency=spec.currency,
            positions={
                sym: PositionState(p.quantity, p.avg_cost)
                for sym, p in spec.positions.items()
                if p.quantity != 0
            },
        )

    def position_value(self, symbols: dict[str, SymbolSpec]) -> Decimal:
        """Sum of quantity x mark price over every position."""
        return sum((p.quantity * mark_price(symbols[s]) for s, p in self.positions.items()), ZERO)

    def gross_position_value(self, symbols: dict[str, SymbolSpec]) -> Decimal:
        """Sum of |quantity| x mark price."""
        return sum(
            (abs(p.quantity) * mark_price(symbols[s]) for s, p in self.positions.items()), ZERO
        )

    def to_dict(self, symbols: dict[str, SymbolSpec]) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "account": self.name,
            "account_type": self.account_type,
            "currency": self.currency,
            "cash": str(self.cash),
            "settled_cash": str(self.settled_cash),
            "net_liquidation": str(self.cash + self.position_value(symbols)),
            "positions": {
                s: {
                    "quantity": str(p.quantity),
                    "avg_cost": str(p.avg_cost),
                    "realized_pnl": str(p.realized_pnl),
                    "market_price": str(mark_price(symbols[s])),
                }
                for s, p in sorted(self.positions.items())
            },
        }


def mark_price(symbol: SymbolSpec) -> Decimal:
    """IB's marketPrice(): last inside the spread, else the midpoint, else last or close."""
    bid, ask, last = symbol.bid, symbol.ask, symbol.last
    if bid is not None and ask is not None and bid > 0 and ask > 0:
        if last is not None and bid <= last <= ask:
            return last
        return (bid + ask) / 2
    if last is not None:
        return last
    return symbol.close if symbol.close is not None else ZERO
