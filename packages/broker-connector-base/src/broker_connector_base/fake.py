"""An in-memory broker for testing the layers above a connector.

``FakeExchange`` is the broker side: cash accounts, quotes and an order book with exact
``Decimal`` arithmetic, plus controls for tests (quotes, market hours, partial fills, rejects,
settlement, an order log). ``InMemoryBroker`` is a ``BrokerClient`` connected to one exchange,
with connection-level controls (injected failures, dropped connections, latency, call counts).
It passes ``broker_connector_base.conformance``.

Example::

    exchange = FakeExchange(
        accounts={"DU1": FakeAccount(cash=Decimal("10000"), positions={"SPY": 10})},
        quotes=[ContractPrice(symbol="SPY", bid=Decimal("99.99"), ask=Decimal("100.01"))],
    )
    broker = InMemoryBroker(exchange)
    await broker.connect()
    exchange.set_partial_fill("SPY", 3)             # SPY orders fill 3 shares, then rest
    exchange.reject_symbol("QQQ", "not permitted")  # QQQ orders are rejected
    broker.fail_next("get_account_snapshot", BrokerConnectionError("socket closed"))
    broker.drop_connection_after_orders(2)          # the 2nd order arrives, then the link drops
    ...  # run the code under test with `broker`
    assert [o.order_ref for o in exchange.order_log] == ["run-1"]

Fill rules: market buys fill at the ask and sells at the bid; a limit order fills when
marketable and rests otherwise; a MIDPRICE order fills at the midpoint of a two-sided quote
(within its cap); a market-on-close order rests until ``exchange.close_auction()`` fills it at
the close; orders placed while the market is closed rest as ``PENDING``
until it opens (or are refused with ``MarketClosedError`` when the exchange is built with
``reject_orders_when_closed=True``). A cash account cannot borrow or short: a buy beyond the
available cash, or a sell beyond the shares held, raises ``OrderExecutionError`` (with the order
id) and the order is logged ``REJECTED``. Sale proceeds are cash at once but settled cash only
after ``exchange.settle()``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from broker_connector_base._fake_exchange import FakeExchange
from broker_connector_base._fake_state import (
    FakeAccount,
    FakeOrderRecord,
    OrderState,
    check_order_args,
    mark_price,
    parse_order_id,
)
from broker_connector_base.base_client import BrokerClient
from broker_connector_base.exceptions import (
    BrokerAPIError,
    BrokerConnectionError,
    InvalidInputError,
    OrderExecutionError,
)
from broker_connector_base.models import (
    AccountPosition,
    AccountSnapshot,
    ContractPrice,
    OpenOrder,
    OrderFill,
    OrderRecord,
    OrderResult,
    OrderStatus,
    TradingHoursStatus,
)
from broker_connector_base.order_spec import MARKET, OrderSpec, OrderType
from broker_connector_base.types import trading_day

__all__ = ["FakeAccount", "FakeExchange", "FakeOrderRecord", "InMemoryBroker"]

_INJECTABLE = frozenset(
    {
        "connect",
        "get_account_snapshot",
        "get_multiple_market_prices",
        "place_order",
        "get_open_orders",
        "get_orders_by_ref",
        "cancel_order",
        "get_order_status",
        "wait_for_order",
        "cancel_all_orders",
        "get_trading_hours_status",
    }
)


def _open_order(order: OrderState) -> OpenOrder:
    return OpenOrder(
        order_id=order.order_id,
        symbol=order.symbol,
        quantity=order.quantity,
        status=order.status,
        order_type=order.order_type,
        account_id=order.account_id,
        limit_price=order.limit_price,
        order_ref=order.order_ref,
    )


class InMemoryBroker(BrokerClient):
    """A ``BrokerClient`` on a ``FakeExchange``; starts disconnected.

    It sends MARKET, LIMIT, MIDPRICE and MOC orders; ADAPTIVE (a broker's own algo) it does
    not have, and says so (``supported_order_types``).

    Args:
        exchange: The exchange to trade on; a new, empty one when omitted.
        latency_secs: Delay of every call (0 still yields to the event loop once).

    Attributes:
        exchange: The exchange (for test controls and the order log).
        calls: How often each ``BrokerClient`` method was called.
    """

    supported_order_types: ClassVar[frozenset[OrderType]] = frozenset(
        {"MARKET", "LIMIT", "MIDPRICE", "MOC"}
    )

    def __init__(self, exchange: FakeExchange | None = None, *, latency_secs: float = 0.0) -> None:
        self.exchange = exchange if exchange is not None else FakeExchange()
        self.latency_secs = latency_secs
        self.calls: Counter[str] = Counter()
        self._connected = False
        self._failures: dict[str, list[BaseException]] = {}
        self._waiting: set[asyncio.Future[None]] = set()
        self._drop_after_orders: int | None = None
        self._warnings: list[str] = []

    # ------------------------------------------------------------------------------------
    # connection-level test controls
    # ------------------------------------------------------------------------------------

    def fail_next(self, method: str, error: BaseException, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` (after the latency)."""
        if method not in _INJECTABLE:
            raise ValueError(f"{method!r} is not a BrokerClient method that can fail")
        self._failures.setdefault(method, []).extend([error] * times)

    def drop_connection_after_orders(self, count: int | None) -> None:
        """Lose the connection right after the ``count``-th next order reached the exchange.

        That order is placed (it stays at the exchange, as at a real broker) but its
        ``place_order`` call raises ``BrokerConnectionError``: the caller cannot know whether
        it arrived. ``None`` turns this off.
        """
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self._drop_after_orders = count

    def drop_connection(self) -> None:
        """Lose the connection: pending waits and later calls raise ``BrokerConnectionError``.

        Orders stay at the exchange, as they do at a real broker.
        """
        self._connected = False
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(BrokerConnectionError("connection to the broker lost"))
        self._waiting.clear()

    # ------------------------------------------------------------------------------------
    # BrokerClient
    # ------------------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect (at once, unless a failure was injected)."""
        await self._enter("connect", needs_connection=False)
        self._connected = True
        return True

    async def disconnect(self) -> None:
        """Disconnect; orders stay at the exchange. Safe when not connected."""
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
        account = self.exchange.account(account_id)
        positions = []
        for symbol, quantity in sorted(account.positions.items()):
            price = mark_price(self.exchange.quotes.get(symbol) or ContractPrice(symbol=symbol))
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
            quote = self.exchange.quote(symbol)
            if not any((quote.bid, quote.ask, quote.last, quote.close)):
                raise BrokerAPIError(f"no usable price for {quote.symbol}")
            if not (quote.bid and quote.ask):
                # As a real connector does: the caller plans with what there is, and says so.
                self._warnings.append(
                    f"{quote.symbol}: no bid/ask quote (last {quote.last}, close {quote.close})"
                )
            prices.append(quote)
        return prices

    def take_warnings(self) -> list[str]:
        """Warnings since the last call: quotes without bid or ask, one per quote given."""
        taken, self._warnings = self._warnings, []
        return taken

    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        """Place a day order: fills at once when marketable, else rests."""
        await self._enter("place_order")
        check_order_args(quantity)
        self.check_order_spec(order)
        placed = self.exchange.place(account_id, symbol, quantity, order, order_ref)
        if self._drop_after_orders is not None:
            self._drop_after_orders -= 1
            if self._drop_after_orders == 0:
                self._drop_after_orders = None
                self.drop_connection()
                raise BrokerConnectionError(
                    f"connection to the broker lost while placing order {placed.order_id}"
                )
        if placed.status == OrderStatus.REJECTED:
            raise OrderExecutionError(
                f"order {placed.order_id} ({quantity} {placed.symbol}) rejected: {placed.reason}",
                order_id=placed.order_id,
            )
        return OrderResult(
            order_id=placed.order_id,
            symbol=placed.symbol,
            quantity=quantity,
            status=placed.status,
            order_ref=order_ref,
            perm_id=placed.perm_id,
        )

    async def get_open_orders(self, account_id: str) -> list[OpenOrder]:
        """Working orders of ``account_id``."""
        await self._enter("get_open_orders")
        self.exchange.account(account_id)
        return [_open_order(o) for o in self.exchange.working_orders(account_id)]

    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: datetime | None = None
    ) -> list[OrderRecord]:
        """Every order of ``account_id`` placed with ``order_ref`` (``since`` is not needed)."""
        await self._enter("get_orders_by_ref")
        self.exchange.account(account_id)
        if not order_ref:
            raise InvalidInputError("order_ref must not be empty", source="get_orders_by_ref")
        return [o.broker_record() for o in self.exchange.orders_by_ref(account_id, order_ref)]

    async def cancel_order(self, order_id: str) -> None:
        """Cancel at once; cancelling a cancelled order is a no-op."""
        await self._enter("cancel_order")
        self.exchange.cancel(self.exchange.order(order_id))

    async def get_order_status(self, order_id: str) -> OrderStatus:
        """Status of ``order_id``, ``NOT_FOUND`` when unknown."""
        await self._enter("get_order_status")
        order = self.exchange.orders.get(parse_order_id(order_id))
        return OrderStatus.NOT_FOUND if order is None else order.status

    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        """Wait (on an event, not polling) until final or ``timeout_secs`` passes."""
        await self._enter("wait_for_order")
        order = self.exchange.order(order_id)
        if not order.status.is_final and timeout_secs > 0:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            order.waiters.append(waiter)
            self._waiting.add(waiter)
            try:
                await asyncio.wait_for(waiter, timeout_secs)
            except TimeoutError:
                pass
            finally:
                self._waiting.discard(waiter)
                if waiter in order.waiters:
                    order.waiters.remove(waiter)
        return order.fill_report()

    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        """Cancel every working order of ``account_id`` (at once)."""
        await self._enter("cancel_all_orders")
        self.exchange.account(account_id)
        working = self.exchange.working_orders(account_id)
        for order in working:
            self.exchange.cancel(order)
        return [o.order_id for o in working]

    async def get_trading_hours_status(self, symbols: Sequence[str]) -> TradingHoursStatus:
        """Open unless the market is closed or a symbol is halted."""
        await self._enter("get_trading_hours_status")
        closed: list[str] = []
        for symbol in symbols:
            name = self.exchange.quote(symbol).symbol
            if not self.exchange.is_open(name) and name not in closed:
                closed.append(name)
        return TradingHoursStatus(
            is_open=not closed,
            checked_at=self.exchange.clock(),
            closed_symbols=closed,
            next_open=self.exchange.next_open if closed else None,
        )

    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        """Symbols with a buy fill in ``account_id`` on the exchange clock's trading day."""
        await self._enter("get_symbols_bought_today")
        self.exchange.account(account_id)
        return self.exchange.symbols_bought_on(account_id, trading_day(self.exchange.clock()))

    # ------------------------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------------------------

    async def _enter(self, method: str, *, needs_connection: bool = True) -> None:
        self.calls[method] += 1
        # Yield once even without latency, so callers meet the interleavings that a real
        # connector's network round trips produce.
        await asyncio.sleep(self.latency_secs)
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)
        if needs_connection and not self._connected:
            raise BrokerConnectionError(f"{method}: not connected to the broker")
