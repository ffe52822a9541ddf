"""Working orders: when they execute, in how many parts, and the closing auction."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from ib_gateway_sim.ledger import OrderRefused, apply_fill
from ib_gateway_sim.pricing import adaptive_priority, closing_price, execution_price
from ib_gateway_sim.state import SimFill, SimOrder

if TYPE_CHECKING:
    from ib_gateway_sim.engine import Engine

_WARNING_TEXTS = {
    399: "Order Message: Warning: your order will not be placed at the exchange until later.",
    404: (
        "Shares for this order are not immediately available for short sale. "
        "The order will be held while we attempt to locate the shares."
    ),
    2109: (
        "Order Event Warning:Attribute 'Outside Regular Trading Hours' is ignored based on "
        "the order type and destination. PlaceOrder is now being processed."
    ),
}


class Matcher:
    """Executes working orders of an ``Engine`` against its quotes and clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._scheduled: set[int] = set()
        self._exec_seq = 0

    def _price(self, order: SimOrder) -> Decimal | None:
        spec = self.engine.symbols[order.symbol]
        return execution_price(order, spec, self.engine.fill_spec.midprice_rounding)

    def work(self, order: SimOrder) -> None:
        """Announce the order's current state and fill it if the market allows."""
        liquid = self.engine.clock.is_liquid()
        if liquid:
            order.session_seen = True
        price = self._price(order) if liquid else None
        if price is None and order.tif == "IOC" and liquid:
            self.set_status(order, "Submitted", with_open_order=True)
            self.engine.cancel(order, code=None, text="IOC order not marketable")
            return
        self.set_status(order, "Submitted" if liquid else "PreSubmitted", with_open_order=True)
        self._warn(order, liquid)
        if price is None:
            return
        delay = max(self.engine.faults.fill_delay_secs, self._patience(order))
        if delay > 0:
            self._schedule(delay, order, 0)
        else:
            self.fill_steps(order, 0)

    def _warn(self, order: SimOrder, liquid: bool) -> None:
        faults, listener = self.engine.faults, self.engine.listener
        if faults.order_warning_code is not None:
            code = faults.order_warning_code
            text = faults.order_warning_text or _WARNING_TEXTS.get(code, "Order Message: Warning")
            listener.order_warning(order, code, text)
        if not liquid and self.engine.fill_spec.outside_hours_warning:
            opens = self.engine.clock.next_liquid_open()
            when = f" until {opens:%Y%m%d %H:%M:%S} UTC" if opens else ""
            listener.order_warning(
                order,
                399,
                f"Order Message: Warning: your order will not be placed at the exchange{when}.",
            )

    def _patience(self, order: SimOrder) -> float:
        if adaptive_priority(order) == "Patient":
            return self.engine.fill_spec.adaptive_patient_delay_secs
        return 0.0

    def _schedule(self, delay: float, order: SimOrder, step: int) -> None:
        # While a step is scheduled, price and clock changes must not fill the order early.
        self._scheduled.add(order.perm_id)
        asyncio.get_running_loop().call_later(delay, self._scheduled_step, order, step)

    def _scheduled_step(self, order: SimOrder, step: int) -> None:
        self._scheduled.discard(order.perm_id)
        if self.engine.orders.get((order.client_id, order.order_id)) is order:  # not reset
            self.fill_steps(order, step)

    def set_status(self, order: SimOrder, status: str, *, with_open_order: bool) -> None:
        """Change the order's status and report it."""
        order.status = status
        order.updated_at = self.engine.clock.now()
        self.engine.listener.order_status(order, with_open_order=with_open_order)

    def _part_quantity(self, order: SimOrder, step: int) -> Decimal:
        parts = self.engine.faults.partial_fill_parts
        if parts <= 1 or step >= parts - 1:
            return order.remaining
        share = (order.quantity / parts).to_integral_value(rounding=ROUND_DOWN)
        return min(max(share, Decimal(1)), order.remaining)

    def fill_steps(self, order: SimOrder, step: int) -> None:
        """Fill part ``step``; schedule or run the next part until done or stopped."""
        while order.is_working and order.remaining > 0:
            stop_after = self.engine.faults.partial_fill_stop_after
            if stop_after is not None and step >= stop_after:
                return
            if not self.engine.clock.is_liquid():
                return
            price = self._price(order)
            if price is None:
                return
            self.fill(order, self._part_quantity(order, step), price)
            step += 1
            interval = self.engine.faults.partial_fill_interval_secs
            if interval > 0 and order.is_working:
                self._schedule(interval, order, step)
                return

    def fill(
        self, order: SimOrder, quantity: Decimal, price: Decimal, at: dt.datetime | None = None
    ) -> None:
        """Execute ``quantity`` at ``price`` (at ``at``, default now): money, the order's
        totals, the fill messages."""
        engine = self.engine
        fee = engine.commission(quantity, price)
        try:
            realized = apply_fill(engine.accounts[order.account], order, quantity, price, fee)
        except OrderRefused as refused:
            engine.cancel(order, code=refused.code, text=refused.text)
            return
        now = at or engine.clock.now()
        cum = order.filled + quantity
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * quantity) / cum
        order.filled = cum
        order.last_fill_price = price
        self._exec_seq += 1
        fill = SimFill(
            exec_id=f"{order.perm_id:08x}.{self._exec_seq:08x}.01.01",
            time=now,
            quantity=quantity,
            price=price,
            commission=fee,
            realized_pnl=realized,
            cum_qty=cum,
            avg_price=order.avg_fill_price,
        )
        order.fills.append(fill)
        order.status = "Filled" if order.remaining == 0 else "Submitted"
        order.updated_at = now
        if order.status == "Filled":
            order.completed_at = now
        engine.listener.order_filled(order, fill)
        engine.listener.account_changed(order.account, order.symbol)

    def race_price(self, order: SimOrder) -> Decimal | None:
        """The price of a fill that beat a cancel: a resting limit order was hit at its
        limit; anything else trades at its usual price (the mark price as a last resort)."""
        price = self._price(order)
        if price is None:
            price = order.limit_price or closing_price(self.engine.symbols[order.symbol])
        return price

    def close_auction(self, at: dt.datetime | None = None) -> list[SimOrder]:
        """Run the closing auction (of the close at ``at``, default now): every working MOC
        order fills at the closing price."""
        auctioned: list[SimOrder] = []
        for order in list(self.engine.orders.values()):
            if not order.is_working or order.order_type != "MOC":
                continue
            price = closing_price(self.engine.symbols[order.symbol])
            if price is None:
                self.engine.cancel(order, code=None, text="MOC order: no closing price")
            else:
                self.fill(order, order.remaining, price, at)
            auctioned.append(order)
        return auctioned

    def on_market_change(self) -> None:
        """Re-examine working orders after a price or clock change."""
        liquid = self.engine.clock.is_liquid()
        for order in list(self.engine.orders.values()):
            if not order.is_working:
                continue
            if not liquid:
                if order.session_seen and order.tif == "DAY":
                    self.engine.cancel(order, code=None, text="DAY order expired at the close")
                continue
            if not order.session_seen:
                order.session_seen = True
                self.set_status(order, "Submitted", with_open_order=False)
            if order.perm_id in self._scheduled or self._price(order) is None:
                continue
            patience = self._patience(order)
            if patience > 0:
                self._schedule(patience, order, len(order.fills))
            else:
                self.fill_steps(order, len(order.fills))
