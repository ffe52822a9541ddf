"""Mutable state: accounts, positions, orders and their fills.

Money and prices are ``Decimal``; share counts are ``int`` (the simulator trades whole shares).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from alpaca_api_sim.scenario import AccountSpec

__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "AccountState",
    "ApiError",
    "PositionState",
    "SimFill",
    "SimOrder",
    "asset_id",
]

ZERO = Decimal(0)

OPEN_STATUSES = frozenset(
    {"new", "accepted", "pending_new", "partially_filled", "pending_cancel", "held"}
)
"""Alpaca statuses of an order that can still fill (what ``status=open`` lists)."""

FINAL_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced"})

_ASSET_NAMESPACE = uuid.UUID("5b1f0c2e-7a39-4f58-9a55-3c1b2d4e6f70")


def asset_id(symbol: str) -> str:
    """A stable asset UUID for ``symbol`` (the same in every run, like Alpaca's)."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, symbol))


class ApiError(Exception):
    """An Alpaca error answer: HTTP status and the ``{"code", "message"}`` body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body Alpaca sends with the error."""
        return {"code": self.code, "message": self.message}


@dataclass
class PositionState:
    """A long position: whole shares and average entry price."""

    quantity: int
    avg_entry_price: Decimal


@dataclass
class SimFill:
    """One execution of an order."""

    time: dt.datetime
    quantity: int
    price: Decimal


@dataclass
class SimOrder:
    """One order, its status and its fills (Alpaca's field names)."""

    id: str
    client_order_id: str
    account: str
    symbol: str
    side: Literal["buy", "sell"]
    qty: int
    type: Literal["market", "limit"]
    time_in_force: Literal["day", "gtc", "cls"]
    limit_price: Decimal | None
    status: str
    created_at: dt.datetime
    extended_hours: bool = False
    updated_at: dt.datetime | None = None
    filled_at: dt.datetime | None = None
    canceled_at: dt.datetime | None = None
    expired_at: dt.datetime | None = None
    failed_at: dt.datetime | None = None
    fills: list[SimFill] = field(default_factory=list)
    reason: str | None = None
    parts_done: int = 0
    armed: bool = False  # a fill attempt is scheduled
    fills_stopped: bool = False  # the partial-fill fault stopped it: it rests unfilled

    @property
    def filled_qty(self) -> int:
        """Shares filled so far."""
        return sum(f.quantity for f in self.fills)

    @property
    def remaining(self) -> int:
        """Shares still to fill."""
        return self.qty - self.filled_qty

    @property
    def filled_avg_price(self) -> Decimal | None:
        """Volume-weighted fill price, ``None`` before the first fill."""
        filled = self.filled_qty
        if filled == 0:
            return None
        return sum((f.price * f.quantity for f in self.fills), ZERO) / filled

    @property
    def is_open(self) -> bool:
        """Whether the order can still fill."""
        return self.status in OPEN_STATUSES

    def touch(self, now: dt.datetime, status: str | None = None) -> None:
        """Record a change at ``now`` (and a new status)."""
        if status is not None:
            self.status = status
        self.updated_at = now

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view for the control endpoint (decimals as strings)."""
        avg = self.filled_avg_price
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "qty": self.qty,
            "type": self.type,
            "time_in_force": self.time_in_force,
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "status": self.status,
            "filled_qty": self.filled_qty,
            "filled_avg_price": None if avg is None else str(avg),
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "fills": [
                {"time": f.time.isoformat(), "quantity": f.quantity, "price": str(f.price)}
                for f in self.fills
            ],
        }


@dataclass
class AccountState:
    """One account: identity, cash, positions and PDT counters."""

    number: str
    id: str
    key_id: str
    secret_key: str
    cash: Decimal
    multiplier: int
    status: str
    pattern_day_trader: bool
    daytrade_count: int
    trading_blocked: bool
    created_at: dt.datetime
    positions: dict[str, PositionState] = field(default_factory=dict)
    last_equity: Decimal = ZERO

    @classmethod
    def from_spec(cls, number: str, spec: AccountSpec, now: dt.datetime) -> AccountState:
        """The starting state of the account ``number``."""
        return cls(
            number=number,
            id=str(uuid.uuid5(_ASSET_NAMESPACE, f"account:{number}")),
            key_id=spec.key_id,
            secret_key=spec.secret_key,
            cash=spec.cash,
            multiplier=1 if spec.account_type == "cash" else 2,
            status=spec.status,
            pattern_day_trader=spec.pattern_day_trader,
            daytrade_count=spec.daytrade_count,
            trading_blocked=spec.trading_blocked,
            created_at=now,
            positions={
                s: PositionState(p.quantity, p.avg_entry_price) for s, p in spec.positions.items()
            },
        )

    @property
    def is_cash_account(self) -> bool:
        """A cash account (multiplier 1): cash never goes negative."""
        return self.multiplier == 1

    def held(self, symbol: str) -> int:
        """Shares of ``symbol`` held (0 when none)."""
        position = self.positions.get(symbol)
        return position.quantity if position is not None else 0
