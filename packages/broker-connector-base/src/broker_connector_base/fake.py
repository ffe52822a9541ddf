"""An in-memory ``BrokerClient`` for testing the layers above a connector.

``InMemoryBroker`` keeps cash accounts, quotes and orders in memory with exact ``Decimal``
arithmetic and passes the conformance suite. Market buys fill at the ask and sells at the bid;
a limit order fills when marketable (at the ask or bid) and rests otherwise; resting orders are
matched again when a quote changes or the market opens. Cash-account rules: a buy that would
take cash below zero, or a sell of more shares than held, is rejected (``OrderExecutionError``
carrying the order id, and status ``REJECTED``). Sells credit cash but not settled cash
(``settle()`` settles everything, like the next business day).

Example::

    broker = InMemoryBroker(
        accounts={"DU1": FakeAccount(cash=Decimal("10000"), positions={"SPY": 10})},
        quotes=[ContractPrice(symbol="SPY", bid=Decimal("99.99"), ask=Decimal("100.01"))],
    )
    await broker.connect()
    broker.set_partial_fill("SPY", 3)             # orders in SPY fill 3 shares, then rest
    broker.reject_symbol("QQQ", "not permitted")  # orders in QQQ are rejected
    broker.fail_next("get_account_snapshot", BrokerConnectionError("socket closed"))
    ...
    assert [o.order_ref for o in broker.order_log] == ["run-1"]
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from broker_connector_base import _fake_matching as matching
from broker_connector_base._fake_state import (
    AccountState,
    FakeAccount,
    FakeOrderRecord,
    OrderState,
    check_order_args,
    mark_price,
    normalise_symbol,
    parse_order_id,
)
from broker_connector_base.base_client import BrokerClient
from broker_connector_base.exceptions import (
    BrokerAPIError,
    BrokerConnectionError,
    InvalidInputError,
    MarketClosedError,
    OrderExecutionError,
)
from broker_connector_base.models import (
    AccountPosition,
    AccountSnapshot,
    ContractPrice,
    OpenOrder,
    OrderFill,
    OrderResult,
    OrderStatus,
    OrderType,
    TradingHoursStatus,
)

__all__ = ["FakeAccount", "FakeOrderRecord", "InMemoryBroker"]

_INJECTABLE = frozenset(
    {
        "connect",
        "get_account_snapshot",
        "get_multiple_market_prices",
        "place_order",
        "get_open_orders",
        "cancel_order",
        "get_order_status",
        "wait_for_order",
        "cancel_all_orders",
        "get_trading_hours_status",
    }
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class InMemoryBroker(BrokerClient):
    """A fake broker with cash accounts, quotes, order matching and failure injection.

    Args:
        accounts: Account id to initial state.
        quotes: Initial quotes; a symbol without a quote is unknown to the broker.
        market_open: Whether the market is open.
        next_open: When it opens next (reported while closed).
        commission_per_order: Charged once per order, with its first fill.
        require_settled_cash: Buys may only spend settled cash (stricter than cash >= 0).
        reject_orders_when_closed: Raise ``MarketClosedError`` instead of letting orders
            rest while the market is closed.
        latency_secs: Delay of every call (0 still yields to the event loop once).
        clock: Source of timestamps (order log, trading-hours checks).
    """

    def __init__(
        self,
        *,
        accounts: Mapping[str, FakeAccount] | None = None,
        quotes: Iterable[ContractPrice] = (),
        market_open: bool = True,
        next_open: datetime | None = None,
        commission_per_order: Decimal = Decimal(0),
        require_settled_cash: bool = False,
        reject_orders_when_closed: bool = False,
        latency_secs: float = 0.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.commission_per_order = Decimal(commission_per_order)
        self.require_settled_cash = require_settled_cash
        self.reject_orders_when_closed = reject_orders_when_closed
        self.latency_secs = latency_secs
        self.clock = clock
        self.calls: Counter[str] = Counter()
        """How often each ``BrokerClient`` method was called."""
        self._connected = False
        self._accounts: dict[str, AccountState] = {}
        self._quotes: dict[str, ContractPrice] = {}
        self._orders: dict[str, OrderState] = {}
        self._ids = itertools.count(1)
        self._market_open = market_open
        self._next_open = next_open
        self._closed_symbols: set[str] = set()
        self._rejected_symbols: dict[str, str] = {}
        self._partial_fills: dict[str, int] = {}
        self._auto_fill = True
        self._failures: dict[str, list[BaseException]] = {}
        for quote in quotes:
            self._quotes[quote.symbol] = quote
        for account_id, config in (accounts or {}).items():
            self.add_account(account_id, config)

    # ------------------------------------------------------------------------------------
    # test controls
    # ------------------------------------------------------------------------------------

    def add_account(self, account_id: str, config: FakeAccount) -> None:
        """Add (or replace) an account."""
        self._accounts[account_id] = AccountState.from_config(config)

    def set_quote(
        self,
        symbol: str,
        *,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        last: Decimal | None = None,
        close: Decimal | None = None,
    ) -> None:
        """Set a symbol's quote (all ``None``: known but without market data); match orders."""
        quote = ContractPrice(symbol=symbol, bid=bid, ask=ask, last=last, close=close)
        self._quotes[quote.symbol] = quote
        self._match_resting(quote.symbol)

    def set_market_open(self, is_open: bool, *, next_open: datetime | None = None) -> None:
        """Open or close the whole market; opening matches resting orders."""
        self._market_open = is_open
        self._next_open = None if is_open else next_open
        if is_open:
            self._match_resting()

    def set_symbol_open(self, symbol: str, is_open: bool) -> None:
        """Halt or resume one symbol while the market is open."""
        symbol = normalise_symbol(symbol)
        if is_open:
            self._closed_symbols.discard(symbol)
            self._match_resting(symbol)
        else:
            self._closed_symbols.add(symbol)

    def reject_symbol(self, symbol: str, reason: str | None = "rejected by the fake") -> None:
        """Reject every new order in ``symbol`` (``reason=None`` stops rejecting)."""
        symbol = normalise_symbol(symbol)
        if reason is None:
            self._rejected_symbols.pop(symbol, None)
        else:
            self._rejected_symbols[symbol] = reason

    def set_partial_fill(self, symbol: str, max_shares: int | None) -> None:
        """Fill at most ``max_shares`` of each order in ``symbol``; the rest keeps working."""
        symbol = normalise_symbol(symbol)
        if max_shares is None:
            self._partial_fills.pop(symbol, None)
        else:
            self._partial_fills[symbol] = max_shares

    def set_auto_fill(self, enabled: bool) -> None:
        """Stop (or resume) filling marketable orders; held orders rest until resumed."""
        self._auto_fill = enabled
        if enabled:
            self._match_resting()

    def fail_next(self, method: str, error: BaseException, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error``."""
        if method not in _INJECTABLE:
            raise ValueError(f"{method!r} is not a BrokerClient method that can fail")
        self._failures.setdefault(method, []).extend([error] * times)

    def drop_connection(self) -> None:
        """Lose the connection: later calls raise ``BrokerConnectionError`` until reconnect."""
        self._connected = False
        for order in self._orders.values():
            for waiter in order.waiters:
                if not waiter.done():
                    waiter.set_exception(BrokerConnectionError("connection to the broker lost"))
            order.waiters.clear()

    def fill_order(
        self, order_id: str, *, quantity: int | None = None, price: Decimal | None = None
    ) -> None:
        """Fill a working order now (all remaining shares by default), bypassing cash checks."""
        order = self._orders[parse_order_id(order_id)]
        if order.status.is_final:
            raise ValueError(f"order {order_id} is already {order.status}")
        shares = abs(order.remaining) if quantity is None else quantity
        quote = self._quotes[order.symbol]
        at = price if price is not None else matching.market_side(quote, order.quantity)
        if at is None:
            raise ValueError(f"no price to fill order {order_id} at")
        account = self._accounts[order.account_id]
        matching.execute(account, order, shares, at, commission=self.commission_per_order)

    def expire_open_orders(self) -> list[str]:
        """End of day: every working (day) order expires. Returns their ids."""
        expired = [o for o in self._orders.values() if not o.status.is_final]
        for order in expired:
            order.finish(OrderStatus.EXPIRED)
        return [o.order_id for o in expired]

    def settle(self) -> None:
        """Settle all cash (as the next business day would)."""
        for account in self._accounts.values():
            account.settled_cash = account.cash

    @property
    def order_log(self) -> list[FakeOrderRecord]:
        """Every order placed (including rejected ones), in placement order."""
        return [order.record() for order in self._orders.values()]

    # ------------------------------------------------------------------------------------
    # BrokerClient
    # ------------------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect (instantly, unless a failure was injected)."""
        await self._enter("connect", needs_connection=False)
        self._connected = True
        return True

    async def disconnect(self) -> None:
        """Disconnect; orders stay at the broker. Safe when not connected."""
        self.calls["disconnect"] += 1
        self.drop_connection()

    def is_connected(self) -> bool:
        """Whether connected now."""
        return self._connected

    async def get_account_snapshot(
        self, account_id: str, *, use_cached_prices: bool = False
    ) -> AccountSnapshot:
        """Balances and positions valued at the mark price (last, else mid, else close)."""
        await self._enter("get_account_snapshot")
        account = self._account(account_id)
        positions = []
        for symbol, quantity in sorted(account.positions.items()):
            quote = self._quotes.get(symbol) or ContractPrice(symbol=symbol)
            price = mark_price(quote)
            positions.append(
                AccountPosition(
                    symbol=symbol,
                    quantity=quantity,
                    market_price=price,
                    market_value=quantity * price,
                    avg_cost=account.avg_costs.get(symbol),
                )
            )
        return AccountSnapshot(
            account_id=account_id,
            total_value=account.cash + sum((p.market_value for p in positions), Decimal(0)),
            cash_balance=account.cash,
            settled_cash=account.settled_cash,
            positions=positions,
        )

    async def get_multiple_market_prices(
        self, symbols: Sequence[str], *, use_cache: bool = False
    ) -> list[ContractPrice]:
        """The current quotes, in the order asked."""
        await self._enter("get_multiple_market_prices")
        prices = []
        for symbol in symbols:
            quote = self._quote(symbol)
            if not any((quote.bid, quote.ask, quote.last, quote.close)):
                raise BrokerAPIError(f"no usable price for {quote.symbol}")
            prices.append(quote)
        return prices

    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order_type: OrderType = "MARKET",
        price: Decimal | None = None,
        order_ref: str | None = None,
    ) -> OrderResult:
        """Place a day order: fills at once when marketable, else rests."""
        await self._enter("place_order")
        check_order_args(quantity, order_type, price)
        self._account(account_id)
        symbol = normalise_symbol(symbol)
        if symbol not in self._quotes:
            raise OrderExecutionError(f"cannot place an order in {symbol}: unknown symbol")
        if self.reject_orders_when_closed and not self._is_open(symbol):
            raise MarketClosedError(
                f"market for {symbol} is closed",
                next_open=self._next_open.isoformat() if self._next_open else None,
            )
        quote = self._quotes[symbol]
        order = OrderState(
            order_id=str(next(self._ids)),
            account_id=account_id,
            symbol=symbol,
            quantity=quantity,
            order_type=order_type,
            limit_price=price,
            order_ref=order_ref,
            placed_at=self.clock(),
            status=OrderStatus.WORKING if self._is_open(symbol) else OrderStatus.PENDING,
            reserve_price=price if price is not None else matching.market_side(quote, quantity),
        )
        self._orders[order.order_id] = order
        reason = self._rejected_symbols.get(symbol) or matching.cash_rule_violation(
            self._accounts[account_id],
            order,
            self._orders.values(),
            commission=self.commission_per_order,
            settled_only=self.require_settled_cash,
        )
        if reason is not None:
            order.finish(OrderStatus.REJECTED, reason)
        else:
            self._match(order)
        if order.status == OrderStatus.REJECTED:
            raise OrderExecutionError(
                f"order {order.order_id} ({quantity} {symbol}) rejected: {order.reason}",
                order_id=order.order_id,
            )
        return OrderResult(
            order_id=order.order_id,
            symbol=symbol,
            quantity=quantity,
            status=order.status,
            order_ref=order_ref,
        )

    async def get_open_orders(self, account_id: str) -> list[OpenOrder]:
        """Working orders of ``account_id``."""
        await self._enter("get_open_orders")
        self._account(account_id)
        return [
            OpenOrder(
                order_id=o.order_id,
                symbol=o.symbol,
                quantity=o.quantity,
                status=o.status,
                order_type=o.order_type,
                account_id=o.account_id,
                limit_price=o.limit_price,
                order_ref=o.order_ref,
            )
            for o in self._orders.values()
            if o.account_id == account_id and not o.status.is_final
        ]

    async def cancel_order(self, order_id: str) -> None:
        """Cancel at once; cancelling a cancelled order is a no-op."""
        await self._enter("cancel_order")
        order = self._order(order_id)
        if order.status == OrderStatus.CANCELLED:
            return
        if order.status.is_final:
            raise OrderExecutionError(
                f"order {order_id} is {order.status} and cannot be cancelled", order_id=order_id
            )
        order.finish(OrderStatus.CANCELLED)

    async def get_order_status(self, order_id: str) -> OrderStatus:
        """Status of ``order_id``, ``NOT_FOUND`` when unknown."""
        await self._enter("get_order_status")
        order = self._orders.get(parse_order_id(order_id))
        return OrderStatus.NOT_FOUND if order is None else order.status

    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        """Wait (on an event, not polling) until final or ``timeout_secs`` passes."""
        await self._enter("wait_for_order")
        order = self._order(order_id)
        if not order.status.is_final and timeout_secs > 0:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            order.waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout_secs)
            except TimeoutError:
                pass
            finally:
                if waiter in order.waiters:
                    order.waiters.remove(waiter)
        return order.fill_report()

    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        """Cancel every working order of ``account_id``."""
        await self._enter("cancel_all_orders")
        self._account(account_id)
        cancelled = []
        for order in self._orders.values():
            if order.account_id == account_id and not order.status.is_final:
                order.finish(OrderStatus.CANCELLED)
                cancelled.append(order.order_id)
        return cancelled

    async def get_trading_hours_status(self, symbols: Sequence[str]) -> TradingHoursStatus:
        """Open unless the market is closed or a symbol is halted."""
        await self._enter("get_trading_hours_status")
        closed: list[str] = []
        for symbol in symbols:
            name = self._quote(symbol).symbol
            if not self._is_open(name) and name not in closed:
                closed.append(name)
        return TradingHoursStatus(
            is_open=not closed,
            checked_at=self.clock(),
            closed_symbols=closed,
            next_open=self._next_open if closed else None,
        )

    # ------------------------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------------------------

    async def _enter(self, method: str, *, needs_connection: bool = True) -> None:
        self.calls[method] += 1
        # Yield once even without latency, so callers meet the interleavings a real
        # connector's awaits produce.
        await asyncio.sleep(self.latency_secs)
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)
        if needs_connection and not self._connected:
            raise BrokerConnectionError(f"{method}: not connected to the broker")

    def _account(self, account_id: str) -> AccountState:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise InvalidInputError(
                f"account {account_id!r} is not an account of this broker"
            ) from None

    def _quote(self, symbol: str) -> ContractPrice:
        name = normalise_symbol(symbol)
        try:
            return self._quotes[name]
        except KeyError:
            raise BrokerAPIError(f"unknown symbol {name!r}: no security definition") from None

    def _order(self, order_id: str) -> OrderState:
        try:
            return self._orders[parse_order_id(order_id)]
        except KeyError:
            raise OrderExecutionError(f"no order with id {order_id}", order_id=order_id) from None

    def _is_open(self, symbol: str) -> bool:
        return self._market_open and symbol not in self._closed_symbols

    def _match(self, order: OrderState) -> None:
        """Fill ``order`` as far as the quote, the knobs and the cash rules allow."""
        if order.status.is_final or not (self._auto_fill and self._is_open(order.symbol)):
            return
        price = matching.fill_price(self._quotes[order.symbol], order)
        shares = abs(order.remaining)
        cap = self._partial_fills.get(order.symbol)
        if cap is not None:
            shares = min(shares, max(cap - abs(order.filled), 0))
        if price is None or shares == 0:
            return
        account = self._accounts[order.account_id]
        commission = self.commission_per_order
        reason = matching.fill_violation(
            account,
            order,
            shares,
            price,
            commission=commission,
            settled_only=self.require_settled_cash,
        )
        if reason is not None:
            order.finish(OrderStatus.REJECTED, reason)
            return
        matching.execute(account, order, shares, price, commission=commission)

    def _match_resting(self, symbol: str | None = None) -> None:
        for order in list(self._orders.values()):
            if order.status.is_final or symbol not in (None, order.symbol):
                continue
            if order.status == OrderStatus.PENDING and self._is_open(order.symbol):
                order.status = OrderStatus.WORKING
            self._match(order)
