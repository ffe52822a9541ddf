"""Order engine: validation, resting, fills at ask (buy) / bid (sell), cash and positions."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from decimal import ROUND_DOWN, Decimal

from ib_gateway_sim.clock import MarketClock
from ib_gateway_sim.ledger import OrderRefused, apply_fill, commission
from ib_gateway_sim.orders import EngineListener, OrderRequest
from ib_gateway_sim.scenario import FaultSpec, FillSpec, SymbolSpec
from ib_gateway_sim.state import ZERO, AccountState, SimFill, SimOrder

_SUPPORTED_TYPES = frozenset({"MKT", "LMT"})
_SUPPORTED_TIFS = frozenset({"DAY", "GTC", "IOC"})


class Engine:
    """Owns accounts, symbols and orders and applies every state change."""

    def __init__(
        self,
        *,
        accounts: dict[str, AccountState],
        symbols: dict[str, SymbolSpec],
        clock: MarketClock,
        fills: FillSpec,
        faults: FaultSpec,
        listener: EngineListener,
    ) -> None:
        self.accounts = accounts
        self.symbols = symbols
        self.clock = clock
        self.fill_spec = fills
        self.faults = faults
        self.listener = listener
        self.orders: dict[tuple[int, int], SimOrder] = {}
        self.orders_placed = 0
        self._perm_seq = 1_000_000_000 + (int(time.time()) % 100_000) * 10_000
        self._exec_seq = 0
        self._scheduled: set[int] = set()

    # -- lookups -------------------------------------------------------------------------

    def symbol_for(self, con_id: int, symbol: str) -> SymbolSpec | None:
        """Find a symbol by conId (when non-zero) or by ticker."""
        if con_id:
            for spec in self.symbols.values():
                if spec.con_id == con_id:
                    return spec
            return None
        return self.symbols.get(symbol)

    def symbol_name(self, spec: SymbolSpec) -> str:
        """The scenario key of a symbol spec."""
        for name, candidate in self.symbols.items():
            if candidate.con_id == spec.con_id:
                return name
        raise KeyError(spec.con_id)

    def next_order_id(self, client_id: int) -> int:
        """nextValidId for a client: past every order id it has used."""
        used = [oid for (cid, oid) in self.orders if cid == client_id]
        return max(used, default=0) + 1

    def reserved_cash(self, account: str, exclude: SimOrder | None = None) -> Decimal:
        """Cash promised to working buy orders of ``account``."""
        total = ZERO
        for order in self.orders.values():
            if order is exclude or not order.is_working or not order.is_buy:
                continue
            if order.account == account:
                total += order.remaining * self._reference_price(order)
        return total

    def pending_sells(self, account: str, symbol: str, exclude: SimOrder | None = None) -> Decimal:
        """Shares promised to working sell orders."""
        return sum(
            (
                o.remaining
                for o in self.orders.values()
                if o is not exclude
                and o.is_working
                and not o.is_buy
                and o.account == account
                and o.symbol == symbol
            ),
            ZERO,
        )

    def commission(self, quantity: Decimal, price: Decimal) -> Decimal:
        """Commission of one execution under the scenario's fill settings."""
        return commission(self.fill_spec, quantity, price)

    # -- placement -----------------------------------------------------------------------

    def place(self, request: OrderRequest) -> SimOrder | None:
        """Handle a placeOrder: new order, modification, or refusal."""
        existing = self.orders.get((request.client_id, request.order_id))
        if existing is not None:
            return self._modify(existing, request)
        try:
            order = self._new_order(request)
        except OrderRefused as refused:
            self.listener.order_refused(
                request.client_id, request.order_id, refused.code, refused.text
            )
            return None
        finally:
            self.orders_placed += 1
        self.orders[(order.client_id, order.order_id)] = order
        self.work(order)
        return order

    def _new_order(self, request: OrderRequest) -> SimOrder:
        spec = self.symbol_for(request.con_id, request.symbol)
        if spec is None:
            raise OrderRefused(200, "No security definition has been found for the request")
        name = self.symbol_name(spec)
        account = request.account or next(iter(self.accounts))
        order = SimOrder(
            order_id=request.order_id,
            perm_id=self._next_perm(),
            client_id=request.client_id,
            account=account,
            symbol=name,
            con_id=spec.con_id,
            exchange=request.exchange or spec.exchange,
            action=request.action,
            quantity=request.quantity,
            order_type=request.order_type,
            limit_price=request.limit_price,
            tif=request.tif or "DAY",
            order_ref=request.order_ref,
            created_at=self.clock.now(),
        )
        self._validate(order)
        return order

    def _validate(self, order: SimOrder) -> None:
        if order.account not in self.accounts:
            raise OrderRefused(201, f"Order rejected - reason:Unknown account {order.account}")
        if order.symbol in self.faults.reject_symbols:
            raise OrderRefused(201, f"Order rejected - reason:{order.symbol} is not tradable")
        if order.action not in ("BUY", "SELL"):
            raise OrderRefused(201, f"Order rejected - reason:Unsupported action {order.action}")
        if order.quantity <= 0:
            raise OrderRefused(201, "Order rejected - reason:Order quantity must be positive")
        if order.order_type not in _SUPPORTED_TYPES:
            raise OrderRefused(
                201, f"Order rejected - reason:Unsupported order type {order.order_type}"
            )
        if order.order_type == "LMT" and (order.limit_price is None or order.limit_price <= 0):
            raise OrderRefused(201, "Order rejected - reason:A limit order needs a limit price")
        if order.tif not in _SUPPORTED_TIFS:
            raise OrderRefused(
                201, f"Order rejected - reason:Unsupported time in force {order.tif}"
            )
        self._check_funds(order, order.quantity)

    def _check_funds(self, order: SimOrder, quantity: Decimal) -> None:
        account = self.accounts[order.account]
        if not order.is_buy:
            held = account.positions.get(order.symbol)
            available = (held.quantity if held else ZERO) - self.pending_sells(
                order.account, order.symbol, exclude=order
            )
            if quantity > available:
                raise OrderRefused(
                    201,
                    f"Order rejected - reason:Selling {quantity} {order.symbol} but only "
                    f"{available} held and not already being sold (short sales not allowed)",
                )
            return
        price = self._reference_price(order)
        cost = quantity * price + self.commission(quantity, price)
        available_cash = self.available_funds(account, exclude=order)
        if cost > available_cash:
            raise OrderRefused(
                201,
                f"Order rejected - reason:Insufficient funds: order value {cost:.2f} exceeds "
                f"available funds {available_cash:.2f} in cash account {account.name}",
            )

    def available_funds(self, account: AccountState, exclude: SimOrder | None = None) -> Decimal:
        """Cash usable for new buys (cash accounts never go negative)."""
        reserved = self.reserved_cash(account.name, exclude=exclude)
        if account.account_type == "margin":
            # Reg T style approximation: twice the equity not already tied up in positions.
            equity = account.cash + account.position_value(self.symbols)
            return 2 * equity - account.gross_position_value(self.symbols) - reserved
        return account.cash - reserved

    def _reference_price(self, order: SimOrder) -> Decimal:
        if order.order_type == "LMT" and order.limit_price is not None:
            return order.limit_price
        spec = self.symbols[order.symbol]
        for price in (spec.ask if order.is_buy else spec.bid, spec.last, spec.close):
            if price is not None and price > 0:
                return price
        return ZERO

    def _modify(self, order: SimOrder, request: OrderRequest) -> SimOrder | None:
        if not order.is_working:
            self.listener.order_refused(
                request.client_id, request.order_id, 103, "Duplicate order id"
            )
            return None
        previous = (order.quantity, order.limit_price, order.order_type)
        order.quantity = request.quantity
        order.limit_price = request.limit_price
        order.order_type = request.order_type
        try:
            if order.quantity < order.filled:
                raise OrderRefused(201, "Order rejected - reason:Quantity below filled quantity")
            self._validate(order)
        except OrderRefused as refused:
            order.quantity, order.limit_price, order.order_type = previous
            self.listener.order_refused(order.client_id, order.order_id, refused.code, refused.text)
            return order
        self.work(order)
        return order

    def _next_perm(self) -> int:
        self._perm_seq += 1
        return self._perm_seq

    # -- working and filling -------------------------------------------------------------

    def _marketable_price(self, order: SimOrder) -> Decimal | None:
        spec = self.symbols[order.symbol]
        price = spec.ask if order.is_buy else spec.bid
        if price is None or price <= 0:
            price = spec.last
        if price is None or price <= 0:
            return None
        if order.order_type == "LMT" and order.limit_price is not None:
            if order.is_buy and price > order.limit_price:
                return None
            if not order.is_buy and price < order.limit_price:
                return None
        return price

    def work(self, order: SimOrder) -> None:
        """Announce the order's current state and fill it if the market allows."""
        liquid = self.clock.is_liquid()
        if liquid:
            order.session_seen = True
        price = self._marketable_price(order) if liquid else None
        if price is None and order.tif == "IOC" and liquid:
            self._set_status(order, "Submitted", with_open_order=True)
            self.cancel(order, code=None, text="IOC order not marketable")
            return
        self._set_status(order, "Submitted" if liquid else "PreSubmitted", with_open_order=True)
        if not liquid and self.fill_spec.outside_hours_warning:
            opens = self.clock.next_liquid_open()
            when = f" until {opens:%Y%m%d %H:%M:%S} UTC" if opens else ""
            self.listener.order_warning(
                order,
                399,
                f"Order Message: Warning: your order will not be placed at the exchange{when}.",
            )
        if price is None:
            return
        delay = self.faults.fill_delay_secs
        if delay > 0:
            self._schedule(delay, order, 0)
        else:
            self._fill_steps(order, 0)

    def _schedule(self, delay: float, order: SimOrder, step: int) -> None:
        # While a step is scheduled, price and clock changes must not fill the order early.
        self._scheduled.add(order.perm_id)
        asyncio.get_running_loop().call_later(delay, self._scheduled_step, order, step)

    def _scheduled_step(self, order: SimOrder, step: int) -> None:
        self._scheduled.discard(order.perm_id)
        if self.orders.get((order.client_id, order.order_id)) is order:  # not reset since
            self._fill_steps(order, step)

    def _set_status(self, order: SimOrder, status: str, *, with_open_order: bool) -> None:
        order.status = status
        order.updated_at = self.clock.now()
        self.listener.order_status(order, with_open_order=with_open_order)

    def _part_quantity(self, order: SimOrder, step: int) -> Decimal:
        parts = self.faults.partial_fill_parts
        if parts <= 1 or step >= parts - 1:
            return order.remaining
        share = (order.quantity / parts).to_integral_value(rounding=ROUND_DOWN)
        return min(max(share, Decimal(1)), order.remaining)

    def _fill_steps(self, order: SimOrder, step: int) -> None:
        """Fill part ``step``; schedule or run the next part until done or stopped."""
        while order.is_working and order.remaining > 0:
            stop_after = self.faults.partial_fill_stop_after
            if stop_after is not None and step >= stop_after:
                return
            if not self.clock.is_liquid():
                return
            price = self._marketable_price(order)
            if price is None:
                return
            self._fill(order, self._part_quantity(order, step), price)
            step += 1
            interval = self.faults.partial_fill_interval_secs
            if interval > 0 and order.is_working:
                self._schedule(interval, order, step)
                return

    def _fill(self, order: SimOrder, quantity: Decimal, price: Decimal) -> None:
        commission = self.commission(quantity, price)
        try:
            realized = apply_fill(self.accounts[order.account], order, quantity, price, commission)
        except OrderRefused as refused:
            self.cancel(order, code=refused.code, text=refused.text)
            return
        now = self.clock.now()
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
            commission=commission,
            realized_pnl=realized,
            cum_qty=cum,
            avg_price=order.avg_fill_price,
        )
        order.fills.append(fill)
        order.status = "Filled" if order.remaining == 0 else "Submitted"
        order.updated_at = now
        if order.status == "Filled":
            order.completed_at = now
        self.listener.order_filled(order, fill)
        self.listener.account_changed(order.account, order.symbol)

    def cancel(self, order: SimOrder, *, code: int | None, text: str) -> None:
        """Cancel a working order (code 202 for a client cancel, None for expiry)."""
        if not order.is_working:
            return
        now = self.clock.now()
        order.status = "Cancelled"
        order.reason = text
        order.updated_at = now
        order.completed_at = now
        self.listener.order_cancelled(order, code, text)
        self.listener.account_changed(order.account, None)

    # -- time and prices -----------------------------------------------------------------

    def on_market_change(self) -> None:
        """Re-examine working orders after a price or clock change."""
        liquid = self.clock.is_liquid()
        for order in list(self.orders.values()):
            if not order.is_working:
                continue
            if not liquid:
                if order.session_seen and order.tif == "DAY":
                    self.cancel(order, code=None, text="DAY order expired at the close")
                continue
            if not order.session_seen:
                order.session_seen = True
                self._set_status(order, "Submitted", with_open_order=False)
            scheduled = order.perm_id in self._scheduled
            if not scheduled and self._marketable_price(order) is not None:
                self._fill_steps(order, len(order.fills))

    def timestamp(self) -> dt.datetime:
        """Simulated now."""
        return self.clock.now()
