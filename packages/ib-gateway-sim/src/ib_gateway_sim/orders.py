"""What the order engine receives (``OrderRequest``) and reports (``EngineListener``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ib_gateway_sim.state import SimFill, SimOrder


class EngineListener(Protocol):
    """What the engine reports; the server turns these into wire messages."""

    def order_status(self, order: SimOrder, *, with_open_order: bool) -> None:
        """The order's status changed (or it was accepted/modified)."""

    def order_filled(self, order: SimOrder, fill: SimFill) -> None:
        """A fill happened; cash and positions are already updated."""

    def order_cancelled(self, order: SimOrder, code: int | None, text: str) -> None:
        """A working order was cancelled (code None: expired without an error message)."""

    def order_refused(self, client_id: int, order_id: int, code: int, text: str) -> None:
        """A placement was refused before any order existed (error only)."""

    def cancel_refused(self, client_id: int, order_id: int, code: int, text: str) -> None:
        """A cancelOrder could not be carried out (10147 unknown, 10148 already done)."""

    def order_warning(self, order: SimOrder, code: int, text: str) -> None:
        """A warning about a live order (e.g. 399 outside trading hours); it stays working."""

    def account_changed(self, account: str, symbol: str | None) -> None:
        """Cash or a position changed (``symbol`` None: only cash or reservations)."""


@dataclass(frozen=True)
class OrderRequest:
    """The fields of a placeOrder message that the simulator acts on."""

    client_id: int
    order_id: int
    con_id: int
    symbol: str
    action: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    tif: str
    account: str
    order_ref: str
    exchange: str
    algo_strategy: str = ""
    algo_params: tuple[tuple[str, str], ...] = ()
