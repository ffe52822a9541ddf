"""Order book and matching: placing, filling, cancelling and expiring orders.

A buy fills at the ask and a sell at the bid (a limit order when its limit reaches that
side), only while the market is open. Orders placed while it is closed are ``accepted`` and
work from the next open; ``day`` orders still open at the close expire. A cash account never
goes below zero cash: a buy is refused (403) when it exceeds the buying power, and re-checked
at fill time. Fills happen after the answer to the request that made them marketable (as at
Alpaca, whose order answers are ``new`` or ``accepted``, never ``filled``). ``cls`` orders
(market or limit on close) trade only in the closing auction (``closing``): when the clock
passes the close, or when ``close_auction`` is called.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal

from alpaca_api_sim.clock import NEW_YORK, MarketClock
from alpaca_api_sim.closing import check_cls_entry, closing_price
from alpaca_api_sim.order_input import NewOrder
from alpaca_api_sim.scenario import FaultSpec, SymbolSpec
from alpaca_api_sim.state import AccountState, ApiError, PositionState, SimFill, SimOrder
from alpaca_api_sim.valuation import (
    PDT_EQUITY_MINIMUM,
    buying_power,
    equity,
    estimate_price,
    held_for_sells,
    quote_side,
)

__all__ = ["Engine", "Scheduler"]

logger = logging.getLogger(__name__)

Scheduler = Callable[[float, Callable[[], None]], None]
"""Runs a callback after a delay in seconds (the simulator's event loop)."""

FORBIDDEN = 40310000
NOT_FOUND = 40410000
UNPROCESSABLE = 42210000
DUPLICATE_CLIENT_ORDER_ID = 40010001


def _within(order: SimOrder, price: Decimal) -> bool:
    limit = order.limit_price
    if limit is None:
        return True
    return price <= limit if order.side == "buy" else price >= limit


class Engine:
    """Accounts, quotes and orders, and the rules that change them.

    Args:
        accounts: Account state by account number.
        symbols: Quotes by symbol.
        clock: The market clock.
        faults: Fill and request faults in force.
        schedule: Runs fill attempts later on the simulator's loop.
        on_change: Called after every state change (wakes waiters).
    """

    def __init__(
        self,
        accounts: dict[str, AccountState],
        symbols: dict[str, SymbolSpec],
        clock: MarketClock,
        faults: FaultSpec,
        schedule: Scheduler,
        on_change: Callable[[], None],
    ) -> None:
        self.accounts = accounts
        self.symbols = symbols
        self.clock = clock
        self.faults = faults
        self.orders: dict[str, SimOrder] = {}
        self._schedule = schedule
        self._on_change = on_change
        self._was_open = clock.is_open()

    # -- placing ---------------------------------------------------------------------------

    def place(self, account: AccountState, request: NewOrder) -> SimOrder:
        """Accept an order or refuse it with Alpaca's error answer.

        Raises:
            ApiError: 403 for buying power, shares or PDT; 422 for an unknown asset or a
                ``client_order_id`` already used.
        """
        self.sync_market()
        symbol = request.symbol.upper()
        spec = self.symbols.get(symbol)
        if spec is None:
            raise ApiError(422, UNPROCESSABLE, f'asset "{request.symbol}" not found')
        if account.trading_blocked:
            raise ApiError(403, FORBIDDEN, "trading is blocked for this account")
        if request.time_in_force == "cls":
            check_cls_entry(self.clock)
        client_order_id = request.client_order_id or str(uuid.uuid4())
        if any(
            o.account == account.number and o.client_order_id == client_order_id
            for o in self.orders.values()
        ):
            raise ApiError(422, DUPLICATE_CLIENT_ORDER_ID, "client_order_id must be unique")
        if request.side == "buy":
            self._check_buying_power(account, spec, request)
        else:
            self._check_sell(account, symbol, request.qty)
        now = self.clock.now()
        order = SimOrder(
            id=str(uuid.uuid4()),
            client_order_id=client_order_id,
            account=account.number,
            symbol=symbol,
            side=request.side,
            qty=request.qty,
            type=request.type,
            time_in_force=request.time_in_force,
            limit_price=request.limit_price,
            status="new" if self.clock.is_open() else "accepted",
            created_at=now,
            updated_at=now,
            extended_hours=request.extended_hours,
        )
        self.orders[order.id] = order
        logger.info(
            "order %s %s %s %s for %s: %s",
            order.id,
            order.side,
            order.qty,
            symbol,
            account.number,
            order.status,
        )
        self._arm(order)
        self._on_change()
        return order

    def _check_buying_power(self, account: AccountState, spec: SymbolSpec, req: NewOrder) -> None:
        cost = req.qty * estimate_price(spec, req.limit_price)
        if cost > buying_power(account, self.orders.values(), self.symbols):
            raise ApiError(403, FORBIDDEN, "insufficient buying power")

    def _check_sell(self, account: AccountState, symbol: str, qty: int) -> None:
        available = account.held(symbol) - held_for_sells(account, self.orders.values(), symbol)
        if qty > available:
            raise ApiError(
                403,
                FORBIDDEN,
                f"insufficient qty available for order (requested: {qty}, available: "
                f"{max(available, 0)})",
            )
        if (
            self._bought_today(account, symbol)
            and account.daytrade_count >= 3
            and equity(account, self.symbols) < PDT_EQUITY_MINIMUM
        ):
            raise ApiError(403, FORBIDDEN, "trade denied due to pattern day trading protection")

    def _bought_today(self, account: AccountState, symbol: str) -> bool:
        today = self.clock.today()
        return any(
            o.account == account.number
            and o.symbol == symbol
            and o.side == "buy"
            and any(f.time.astimezone(NEW_YORK).date() == today for f in o.fills)
            for o in self.orders.values()
        )

    # -- cancelling ------------------------------------------------------------------------

    def order_of(self, account: AccountState, order_id: str) -> SimOrder:
        """The account's order ``order_id``.

        Raises:
            ApiError: 404 when the account has no such order.
        """
        order = self.orders.get(order_id)
        if order is None or order.account != account.number:
            raise ApiError(404, NOT_FOUND, "order not found")
        return order

    def cancel(self, account: AccountState, order_id: str) -> SimOrder:
        """Request cancellation: ``pending_cancel`` now, ``canceled`` right after.

        Raises:
            ApiError: 404 for an unknown order, 422 for one that is already final.
        """
        order = self.order_of(account, order_id)
        if not order.is_open:
            raise ApiError(422, UNPROCESSABLE, f'order is already in "{order.status}" state')
        if order.status != "pending_cancel":
            order.touch(self.clock.now(), "pending_cancel")
            self._schedule(0.0, lambda: self._finish_cancel(order))
            self._on_change()
        return order

    def _finish_cancel(self, order: SimOrder) -> None:
        if order.status != "pending_cancel":
            return
        now = self.clock.now()
        order.canceled_at = now
        order.touch(now, "canceled")
        self._on_change()

    def cancel_all(self, account: AccountState) -> list[SimOrder]:
        """Request cancellation of every open order of ``account``."""
        return [
            self.cancel(account, o.id)
            for o in list(self.orders.values())
            if o.account == account.number and o.is_open
        ]

    # -- market state ----------------------------------------------------------------------

    def sync_market(self) -> None:
        """Apply an open or a close that happened since the last look."""
        is_open = self.clock.is_open()
        if is_open == self._was_open:
            return
        self._was_open = is_open
        now = self.clock.now()
        if not is_open:
            self.close_auction(now)
        for order in self.orders.values():
            if not order.is_open or order.status == "pending_cancel":
                continue
            if is_open:
                if order.status == "accepted":
                    order.touch(now, "new")
                self._arm(order)
            elif order.time_in_force in ("day", "cls") and order.status != "accepted":
                order.expired_at = now
                order.touch(now, "expired")
        self._on_change()

    def close_auction(self, at: dt.datetime | None = None) -> list[SimOrder]:
        """The closing auction: every working ``cls`` order fills at its closing price (a
        limit on close only within its limit), at ``at`` (default now). Returns them."""
        now = at or self.clock.now()
        auctioned: list[SimOrder] = []
        for order in list(self.orders.values()):
            working = order.is_open and order.status not in ("accepted", "pending_cancel")
            if order.time_in_force != "cls" or not working:
                continue
            price = closing_price(self.symbols[order.symbol])
            if price is None or not _within(order, price):
                continue  # not crossed in the auction: it expires with the session
            self._execute(order, self.accounts[order.account], order.remaining, price, now)
            auctioned.append(order)
        if auctioned:
            self._on_change()
        return auctioned

    def quotes_changed(self) -> None:
        """Work every open order again after a price change."""
        for order in self.orders.values():
            if order.is_open:
                self._arm(order)

    # -- filling ---------------------------------------------------------------------------

    def _arm(self, order: SimOrder) -> None:
        if order.armed or order.fills_stopped:
            return
        order.armed = True
        delay = (
            self.faults.fill_delay_secs
            if order.parts_done == 0
            else self.faults.partial_fill_interval_secs
        )
        self._schedule(delay, lambda: self._try_fill(order))

    def _fill_price(self, order: SimOrder) -> Decimal | None:
        if order.time_in_force == "cls":
            return None  # the closing auction only
        spec = self.symbols[order.symbol]
        if order.side == "buy":
            ask = quote_side(spec.ask)
            ok = ask is not None and (order.limit_price is None or order.limit_price >= ask)
            return ask if ok else None
        bid = quote_side(spec.bid)
        ok = bid is not None and (order.limit_price is None or order.limit_price <= bid)
        return bid if ok else None

    def _try_fill(self, order: SimOrder) -> None:
        order.armed = False
        self.sync_market()
        if not order.is_open or order.status == "pending_cancel" or order.fills_stopped:
            return
        now = self.clock.now()
        if order.symbol in self.faults.reject_symbols and not order.fills:
            self._end(order, now, "rejected", "rejected by the simulator's reject_symbols fault")
            return
        price = self._fill_price(order) if self.clock.is_open() else None
        if price is None:
            return
        quantity = self._part_quantity(order)
        account = self.accounts[order.account]
        if order.side == "buy" and account.is_cash_account and quantity * price > account.cash:
            final = "rejected" if not order.fills else "canceled"
            self._end(order, now, final, "insufficient cash at fill time")
            return
        self._execute(order, account, quantity, price, now)
        if order.remaining > 0:
            stop = self.faults.partial_fill_stop_after
            order.fills_stopped = stop is not None and order.parts_done >= stop
            self._arm(order)
        self._on_change()

    def _part_quantity(self, order: SimOrder) -> int:
        parts = self.faults.partial_fill_parts
        if parts <= 1 or order.parts_done >= parts - 1:
            return order.remaining
        return min(max(order.qty // parts, 1), order.remaining)

    def _end(self, order: SimOrder, now: dt.datetime, status: str, reason: str) -> None:
        order.reason = reason
        if status == "rejected":
            order.failed_at = now
        else:
            order.canceled_at = now
        order.touch(now, status)
        logger.info("order %s %s: %s", order.id, status, reason)
        self._on_change()

    def _execute(
        self,
        order: SimOrder,
        account: AccountState,
        quantity: int,
        price: Decimal,
        now: dt.datetime,
    ) -> None:
        if order.side == "sell" and not order.fills and self._bought_today(account, order.symbol):
            account.daytrade_count += 1
            account.pattern_day_trader = account.pattern_day_trader or account.daytrade_count >= 4
        order.fills.append(SimFill(time=now, quantity=quantity, price=price))
        order.parts_done += 1
        amount = quantity * price
        position = account.positions.get(order.symbol)
        if order.side == "buy":
            account.cash -= amount
            if position is None:
                account.positions[order.symbol] = PositionState(quantity, price)
            else:
                total = position.quantity + quantity
                cost = position.avg_entry_price * position.quantity + amount
                position.avg_entry_price = cost / total
                position.quantity = total
        else:
            account.cash += amount
            assert position is not None, "sells are checked against the position"
            position.quantity -= quantity
            if position.quantity == 0:
                del account.positions[order.symbol]
        if order.remaining == 0:
            order.filled_at = now
            order.touch(now, "filled")
        else:
            order.touch(now, "partially_filled")
