"""Order engine: acceptance, funds, modification, cancels, restarts; fills in ``matching``."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from decimal import Decimal

from ib_gateway_sim.clock import MarketClock
from ib_gateway_sim.ledger import OrderRefused, commission
from ib_gateway_sim.matching import Matcher
from ib_gateway_sim.orders import EngineListener, OrderRequest
from ib_gateway_sim.pricing import reference_price
from ib_gateway_sim.rules import check_order
from ib_gateway_sim.scenario import FaultSpec, FillSpec, SymbolSpec
from ib_gateway_sim.state import ZERO, AccountState, SimOrder

_CANCELLED = "Order Canceled - reason:"


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
        self.archive: list[SimOrder] = []
        self.orders_placed = 0
        self._perm_seq = 1_000_000_000 + (int(time.time()) % 100_000) * 10_000
        self._id_floor: dict[int, int] = {}
        self._racing: set[int] = set()  # perm ids whose race-winning fill is still to come
        self.matcher = Matcher(self)

    # -- lookups -------------------------------------------------------------------------

    def matching(
        self, con_id: int, symbol: str, *, primary_exchange: str = "", isin: str = ""
    ) -> list[SymbolSpec]:
        """The symbols a contract description matches, as IB resolves one: by conId when
        non-zero, else by ISIN when given, else by ticker (narrowed by the primary exchange
        when given). Several matches mean the description is ambiguous."""
        specs = list(self.symbols.items())
        if con_id:
            return [spec for _, spec in specs if spec.con_id == con_id]
        if isin:
            return [spec for _, spec in specs if spec.isin == isin]
        found = [spec for name, spec in specs if (spec.symbol or name) == symbol]
        if primary_exchange:
            found = [spec for spec in found if spec.primary_exchange == primary_exchange]
        return found

    def symbol_for(
        self, con_id: int, symbol: str, *, primary_exchange: str = ""
    ) -> SymbolSpec | None:
        """The one symbol a contract description names (``None``: unknown or ambiguous)."""
        found = self.matching(con_id, symbol, primary_exchange=primary_exchange)
        return found[0] if len(found) == 1 else None

    def ticker(self, name: str) -> str:
        """The ticker of the scenario symbol ``name`` (what goes on the wire)."""
        return self.symbols[name].symbol or name

    def symbol_name(self, spec: SymbolSpec) -> str:
        """The scenario key of a symbol spec."""
        for name, candidate in self.symbols.items():
            if candidate.con_id == spec.con_id:
                return name
        raise KeyError(spec.con_id)

    def all_orders(self) -> list[SimOrder]:
        """Every order of the session, from before restarts too, in placement order."""
        if not self.archive:
            return list(self.orders.values())
        return sorted([*self.archive, *self.orders.values()], key=lambda o: o.perm_id)

    def next_order_id(self, client_id: int) -> int:
        """nextValidId for a client: past every order id it holds (and, unless a restart
        reset the sequence, every id it used before)."""
        used = [oid for (cid, oid) in self.orders if cid == client_id]
        return max(*used, self._id_floor.get(client_id, 0), 0) + 1

    def reserved_cash(self, account: str, exclude: SimOrder | None = None) -> Decimal:
        """Cash promised to working buy orders of ``account``."""
        total = ZERO
        for order in self.orders.values():
            if order is exclude or not order.is_working or not order.is_buy:
                continue
            if order.account == account:
                total += order.remaining * reference_price(order, self.symbols[order.symbol])
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
        self.matcher.work(order)
        return order

    def _new_order(self, request: OrderRequest) -> SimOrder:
        spec = self.symbol_for(request.con_id, request.symbol)
        if spec is None:
            raise OrderRefused(200, "No security definition has been found for the request")
        self._perm_seq += 1
        order = SimOrder(
            order_id=request.order_id,
            perm_id=self._perm_seq,
            client_id=request.client_id,
            account=request.account or next(iter(self.accounts)),
            symbol=self.symbol_name(spec),
            ticker=spec.symbol or "",
            con_id=spec.con_id,
            exchange=request.exchange or spec.exchange,
            action=request.action,
            quantity=request.quantity,
            order_type=request.order_type,
            limit_price=request.limit_price,
            tif=request.tif or "DAY",
            order_ref=request.order_ref,
            created_at=self.clock.now(),
            algo_strategy=request.algo_strategy,
            algo_params=request.algo_params,
        )
        self._validate(order)
        return order

    def _validate(self, order: SimOrder) -> None:
        if order.account not in self.accounts:
            raise OrderRefused(201, f"Order rejected - reason:Unknown account {order.account}")
        check_order(order, faults=self.faults, fills=self.fill_spec, clock=self.clock)
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
        price = reference_price(order, self.symbols[order.symbol])
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

    def _modify(self, order: SimOrder, request: OrderRequest) -> SimOrder | None:
        if not order.is_working:
            self.listener.order_refused(
                request.client_id, request.order_id, 103, "Duplicate order id"
            )
            return None
        fields = ("quantity", "limit_price", "order_type", "algo_strategy", "algo_params")
        previous = {name: getattr(order, name) for name in fields}
        for name in fields:
            setattr(order, name, getattr(request, name))
        try:
            if order.quantity < order.filled:
                raise OrderRefused(201, "Order rejected - reason:Quantity below filled quantity")
            self._validate(order)
        except OrderRefused as refused:
            for name, value in previous.items():
                setattr(order, name, value)
            self.listener.order_refused(order.client_id, order.order_id, refused.code, refused.text)
            return order
        self.matcher.work(order)
        return order

    # -- cancels -------------------------------------------------------------------------

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

    def client_cancel(self, client_id: int, order_id: int) -> None:
        """A cancelOrder from ``client_id``: 202, or 10147/10148, or a fill that wins the race."""
        order = self.orders.get((client_id, order_id))
        if order is None:
            text = f"OrderId {order_id} that needs to be cancelled is not found."
            self.listener.cancel_refused(client_id, order_id, 10147, text)
        elif not order.is_working:
            self._cannot_cancel(order)
        elif self._fill_wins_race(order):
            return
        else:
            self.cancel(order, code=202, text=_CANCELLED)

    def _cannot_cancel(self, order: SimOrder, state: str | None = None) -> None:
        text = (
            f"OrderId {order.order_id} that needs to be cancelled cannot be cancelled, "
            f"state: {state or order.status}."
        )
        self.listener.cancel_refused(order.client_id, order.order_id, 10148, text)

    def _fill_wins_race(self, order: SimOrder) -> bool:
        # The cancel-races-fill fault: the exchange filled the order while the cancel was on
        # its way, so the cancel is refused with 10148 (before or after the fill reports).
        # With ``error_first`` and ``fill_delay_secs`` the fill reports follow the error after
        # that delay (the ib_async trap stays visible that long).
        race = self.faults.cancel_races_fill
        if order.perm_id in self._racing:
            self._cannot_cancel(order, state="Filled")
            return True
        if race is None or order.order_type == "MOC" or not self.clock.is_liquid():
            return False
        price = self.matcher.race_price(order)
        if price is None:
            return False
        delay = self.faults.fill_delay_secs if race == "error_first" else 0
        if race == "error_first":
            self._cannot_cancel(order, state="Filled")
        if delay > 0:
            self._racing.add(order.perm_id)
            asyncio.get_running_loop().call_later(delay, self._race_fill, order, price)
            return True
        self.matcher.fill(order, order.remaining, price)
        if race == "fill_first":
            self._cannot_cancel(order)
        return True

    def _race_fill(self, order: SimOrder, price: Decimal) -> None:
        self._racing.discard(order.perm_id)
        if order.is_working:
            self.matcher.fill(order, order.remaining, price)

    # -- market events, restarts -----------------------------------------------------------

    def on_market_change(self) -> None:
        """Re-examine working orders after a price or clock change."""
        self.matcher.on_market_change()

    def close_auction(self, at: dt.datetime | None = None) -> list[SimOrder]:
        """Fill every working MOC order at its symbol's closing price; returns them."""
        return self.matcher.close_auction(at)

    def restart(self) -> None:
        """What a gateway restart does to the order book (see the ``restart_*`` faults).

        Working orders stay (they live at IB's servers). Done orders leave the id table, so a
        reset id sequence may hand their order ids out again, while permIds never repeat.
        """
        faults = self.faults
        if faults.restart_resets_order_ids:
            self._id_floor.clear()
        else:
            for cid, oid in self.orders:
                self._id_floor[cid] = max(self._id_floor.get(cid, 0), oid)
        for key, order in list(self.orders.items()):
            if order.is_working:
                continue
            del self.orders[key]
            order.listed_completed = faults.restart_keeps_completed_orders
            order.listed_executions = faults.restart_keeps_executions
            self.archive.append(order)

    def clear_orders(self) -> None:
        """Forget every order (``reset``)."""
        self.orders.clear()
        self.archive.clear()
        self._id_floor.clear()
        self.orders_placed = 0

    def timestamp(self) -> dt.datetime:
        """Simulated now."""
        return self.clock.now()
