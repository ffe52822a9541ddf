"""``BacktestBroker``: a ``BrokerClient`` whose market is a price history and whose clock is
simulated.

The runner moves the clock session by session (``open_session``, ``close_session``); in a
session the quotes are the bar's close (``fill_at="close"``) or open (``"next_open"``) plus or
minus the half spread (``Costs``), market orders fill at once (buys at the ask, sells at the
bid) and limit orders when marketable; market-on-close orders fill in ``close_session`` at the
session's close, without the spread (the auction's single print). MIDPRICE and ADAPTIVE are a
live market's (a quote's midpoint moving, a broker's algo): not declared. Nothing waits on the
wall clock: the broker's "now" is the simulated session, and an order that can fill has filled
before ``place_order`` returns, so the engine's waits end at once. Working orders are day
orders: ``close_session`` expires them. Between sessions the market is closed; orders placed
then rest as ``PENDING`` and meet the next session's quotes. It passes both conformance
suites (``tests/``); the fault switches (``reject_symbol``, ``set_partial_fill``,
``drop_connection``, ...) exist for them.

Not modelled: corporate actions (prices are taken as given: use split- and dividend-adjusted
closes, and a split or a dividend is then part of the price), settlement (sale proceeds can be
spent at once, as in a margin account's cash), interest on cash, borrowing, short sales, and
the price impact of an order's size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import ClassVar, Literal

from broker_connector_base import (
    AccountPosition,
    AccountSnapshot,
    BrokerAPIError,
    BrokerClient,
    BrokerConnectionError,
    ContractPrice,
    InvalidInputError,
    OpenOrder,
    OrderExecutionError,
    OrderFill,
    OrderRecord,
    OrderResult,
    OrderSpec,
    OrderStatus,
    OrderType,
    TradingHoursStatus,
)
from broker_connector_base.order_spec import MARKET
from broker_connector_base.trusted import trusted
from broker_connector_base.types import trading_day

from rebalance_backtest.book import Book, BookOrder, Fill, parse_order_id
from rebalance_backtest.calendar import (
    NYSE_CLOSE,
    NYSE_OPEN,
    is_session,
    next_session,
    session_moment,
)
from rebalance_backtest.costs import Costs
from rebalance_backtest.orders import check_order_args, normalise_symbol, open_order
from rebalance_backtest.prices import PriceHistory

__all__ = ["BacktestBroker", "FillAt"]

FillAt = Literal["close", "next_open"]
"""When a session's run trades: at its close, or at its open (the first open after a
document dated the day before)."""

_CLOSE_RUN = (datetime.combine(date(2000, 1, 1), NYSE_CLOSE) - timedelta(minutes=1)).time()


class BacktestBroker(BrokerClient):
    """A ``BrokerClient`` over daily bars, for one cash account; starts disconnected.

    Args:
        prices: The price history the market quotes from.
        cash: Starting cash.
        positions: Starting shares per symbol.
        account_id: The account's id.
        costs: Half spread and commission model.
        fill_at: Quote and fill at each session's ``"close"`` or ``"next_open"`` (its open).

    Raises:
        InvalidInputError: Negative cash, or ``next_open`` with prices that have no opens.
    """

    supported_order_types: ClassVar[frozenset[OrderType]] = frozenset({"MARKET", "LIMIT", "MOC"})

    def __init__(
        self,
        prices: PriceHistory,
        *,
        cash: Decimal,
        positions: Mapping[str, int] | None = None,
        account_id: str = "BACKTEST",
        costs: Costs | None = None,
        fill_at: FillAt = "close",
    ) -> None:
        if fill_at == "next_open" and not prices.has_opens:
            raise InvalidInputError(
                "filling at the open needs opens for every close (a long CSV "
                "date,symbol,open,high,low,close); this file has closes only",
                prices.source,
            )
        self.prices = prices
        self.fill_at: FillAt = fill_at
        self.book = Book(account_id, cash, dict(positions or {}), costs or Costs())
        self.account_id = account_id
        self._connected = False
        self._refusal: str | None = None
        self._day: date | None = None
        self._open = False
        self._now = datetime.combine(date(1970, 1, 1), NYSE_OPEN)
        self._quotes: dict[str, ContractPrice] = {}
        self._snapshot: tuple[int, AccountSnapshot] | None = None
        self._rejected: dict[str, str] = {}
        self._partial: dict[str, int] = {}
        self._drop_after: int | None = None
        self._waiting: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------------------------------
    # the simulated clock
    # ------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The simulated moment (aware)."""
        return self._now

    @property
    def fills(self) -> list[Fill]:
        """Every execution so far, in order."""
        return self.book.fills

    def open_session(self, day: date) -> None:
        """Move to session ``day`` at the time its runs trade; resting orders meet its quotes.

        Raises:
            InvalidInputError: ``day`` is not an NYSE session.
        """
        if not is_session(day):
            raise InvalidInputError(f"{day} is not an NYSE session", source="backtest clock")
        self._day, self._open = day, True
        at = NYSE_OPEN if self.fill_at == "next_open" else _CLOSE_RUN
        self._now = session_moment(day, at)
        self._quotes.clear()
        self._snapshot = None
        for order in self.book.working():
            if order.status is OrderStatus.PENDING:
                order.status = OrderStatus.WORKING
            self._match(order)

    def close_session(self) -> list[str]:
        """End the session: the closing auction fills the working market-on-close orders at
        the session's close, then every other working (day) order expires. Returns the ids
        of the expired ones."""
        if self._day is not None and self._open:
            for order in self.book.working():
                if order.order_type == "MOC" and order.status is OrderStatus.WORKING:
                    close = self.prices.closes.get(order.symbol, {}).get(self._day)
                    if close is not None:
                        cap = self._partial.get(order.symbol)
                        self.book.match(order, close, close, self._day, cap)
        expired = self.book.working()
        for order in expired:
            order.finish(OrderStatus.EXPIRED, "day order expired at the close")
        if self._day is not None:
            self._now = session_moment(self._day, NYSE_CLOSE)
        self._open = False
        return [o.order_id for o in expired]

    def set_clock(self, moment: datetime) -> None:
        """Put the clock at ``moment`` outside any session (a weekend, a night): market closed.

        Quotes stay those of the last session opened (its closes when it fills at the close).
        """
        if moment.tzinfo is None:
            raise InvalidInputError(f"moment {moment.isoformat()} has no time zone")
        self.close_session()
        self._now = moment

    def close_price(self, symbol: str, day: date) -> Decimal:
        """``symbol``'s close on ``day``, else its last close before (a fund no longer quoted).

        Raises:
            BrokerAPIError: ``symbol`` has no close on or before ``day``.
        """
        closes = self.prices.closes.get(symbol, {})
        price = closes.get(day)
        if price is not None:
            return price
        earlier = self.prices.last_day(symbol, day)
        if earlier is None:
            raise BrokerAPIError(f"no close of {symbol} on or before {day} in {self.prices.source}")
        return closes[earlier]

    def equity_at_close(self) -> Decimal:
        """Cash plus every position at the current session's close."""
        day = self._session_day()
        return self.book.cash + sum(
            (q * self.close_price(s, day) for s, q in self.book.positions.items()), Decimal(0)
        )

    # ------------------------------------------------------------------------------------
    # fault switches (the conformance suites provoke failures with them)
    # ------------------------------------------------------------------------------------

    def reject_symbol(self, symbol: str, reason: str | None) -> None:
        """Reject every new order in ``symbol`` with ``reason`` (``None`` stops rejecting)."""
        if reason is None:
            self._rejected.pop(normalise_symbol(symbol), None)
        else:
            self._rejected[normalise_symbol(symbol)] = reason

    def set_partial_fill(self, symbol: str, shares: int | None) -> None:
        """Fill at most ``shares`` of each order in ``symbol``; the rest keeps working."""
        if shares is None:
            self._partial.pop(normalise_symbol(symbol), None)
        else:
            self._partial[normalise_symbol(symbol)] = shares

    def drop_connection(self) -> None:
        """Lose the connection: waits under way and later calls raise ``BrokerConnectionError``."""
        self._connected = False
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(BrokerConnectionError("connection to the broker lost"))
        self._waiting.clear()

    def drop_connection_after_orders(self, count: int | None) -> None:
        """Lose the connection right after the ``count``-th next order reached the book."""
        self._drop_after = count

    def refuse_connections(self, reason: str | None) -> None:
        """Make ``connect`` fail with ``reason`` (``None``: connect again)."""
        self._refusal = reason

    # ------------------------------------------------------------------------------------
    # BrokerClient: connection and account
    # ------------------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect (at once, unless ``refuse_connections`` says otherwise)."""
        if self._refusal is not None:
            raise BrokerConnectionError(f"cannot connect to the backtest broker: {self._refusal}")
        self._connected = True
        return True

    async def disconnect(self) -> None:
        """Disconnect; orders stay in the book. Safe when not connected."""
        self.drop_connection()

    def is_connected(self) -> bool:
        """Whether connected now."""
        return self._connected

    async def get_account_snapshot(
        self, account_id: str, *, use_cached_prices: bool = False
    ) -> AccountSnapshot:
        """Cash and positions valued at the session's price (the mid of the quote)."""
        self._enter(account_id)
        cached = self._snapshot
        if cached is not None and cached[0] == self.book.version:
            return cached[1]
        day = self._session_day()
        positions = []
        for symbol, shares in sorted(self.book.positions.items()):
            price = self._mark(symbol, day)
            # Built from checked values (exact Decimals, whole shares): no validation to redo.
            positions.append(
                trusted(
                    AccountPosition,
                    symbol=symbol,
                    quantity=Decimal(shares),
                    market_price=price,
                    market_value=shares * price,
                    avg_cost=self.book.avg_costs.get(symbol),
                )
            )
        cash = self.book.cash
        snapshot = trusted(
            AccountSnapshot,
            account_id=account_id,
            total_value=cash + sum((p.market_value for p in positions), Decimal(0)),
            cash_balance=cash,
            settled_cash=cash,
            positions=positions,
        )
        self._snapshot = (self.book.version, snapshot)
        return snapshot

    async def get_multiple_market_prices(
        self, symbols: Sequence[str], *, use_cache: bool = False
    ) -> list[ContractPrice]:
        """The session's quotes (price ± half spread), in the order asked."""
        self._enter()
        quotes = self._quotes
        # A symbol quoted already this session is its own normalised name (the cache's key).
        return [quotes.get(s) or self._quote(normalise_symbol(s)) for s in symbols]

    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        """Symbols with a buy fill on the simulated clock's New York day."""
        self._enter(account_id)
        return frozenset(self.book.bought_on.get(trading_day(self._now), ()))

    async def get_trading_hours_status(self, symbols: Sequence[str]) -> TradingHoursStatus:
        """Open inside a session's run; otherwise closed until the next session's open."""
        self._enter()
        names = list(dict.fromkeys(normalise_symbol(s) for s in symbols))
        for name in names:
            self._require_known(name)
        if self._open:
            return TradingHoursStatus(is_open=True, checked_at=self._now)
        return TradingHoursStatus(
            is_open=False,
            checked_at=self._now,
            closed_symbols=names,
            next_open=session_moment(self._next_open_day(), NYSE_OPEN),
        )

    # ------------------------------------------------------------------------------------
    # BrokerClient: orders
    # ------------------------------------------------------------------------------------

    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        """Place a day order: it fills before this returns when marketable, else rests (a
        market-on-close order until ``close_session``)."""
        self._enter(account_id)
        check_order_args(quantity)
        self.check_order_spec(order)
        name = normalise_symbol(symbol)
        if name not in self.prices.closes:
            raise OrderExecutionError(f"cannot place an order in {name}: unknown symbol")
        placed = self.book.add(
            name,
            quantity,
            order.type,
            order.limit_price,
            order_ref,
            trading_day(self._now),
            working=self._open,
        )
        reason = self._rejected.get(name)
        if reason is not None:
            placed.finish(OrderStatus.REJECTED, reason)
        elif self._open:
            self._match(placed)
        self._maybe_drop(placed)
        if placed.status is OrderStatus.REJECTED:
            raise OrderExecutionError(
                f"order {placed.order_id} ({quantity} {name}) rejected: {placed.reason}",
                order_id=placed.order_id,
            )
        return OrderResult(
            order_id=placed.order_id,
            symbol=name,
            quantity=quantity,
            status=placed.status,
            order_ref=order_ref,
            perm_id=placed.order_id,
        )

    async def get_open_orders(self, account_id: str) -> list[OpenOrder]:
        """Working and pending orders of ``account_id``."""
        self._enter(account_id)
        return [open_order(o) for o in self.book.working()]

    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: datetime | None = None
    ) -> list[OrderRecord]:
        """Every order of the account placed with ``order_ref``, in placement order."""
        self._enter(account_id)
        if not order_ref:
            raise InvalidInputError("order_ref must not be empty", source="get_orders_by_ref")
        return [o.record() for o in self.book.orders.values() if o.order_ref == order_ref]

    async def cancel_order(self, order_id: str) -> None:
        """Cancel at once; cancelling a cancelled order is a no-op."""
        self._enter()
        self._cancel(self.book.order(order_id))

    async def get_order_status(self, order_id: str) -> OrderStatus:
        """Status of ``order_id``, ``NOT_FOUND`` when unknown."""
        self._enter()
        order = self.book.orders.get(parse_order_id(order_id))
        return OrderStatus.NOT_FOUND if order is None else order.status

    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        """The order's state; a working one is waited for (until cancelled or the timeout).

        In a backtest run nothing is left working (market orders fill when placed), so this
        returns at once; only an order that cannot fill in the session waits.
        """
        self._enter()
        order = self.book.order(order_id)
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
        return order.report()

    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        """Cancel every working order of ``account_id`` (at once)."""
        self._enter(account_id)
        working = self.book.working()
        for order in working:
            self._cancel(order)
        return [o.order_id for o in working]

    # ------------------------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------------------------

    def _enter(self, account_id: str | None = None) -> None:
        if not self._connected:
            raise BrokerConnectionError("not connected to the backtest broker")
        if account_id is not None and account_id != self.account_id:
            raise InvalidInputError(
                f"account {account_id!r} is not an account of this backtest broker "
                f"(its account is {self.account_id!r})"
            )

    def _session_day(self) -> date:
        if self._day is None:
            raise BrokerAPIError("the backtest clock has not opened a session yet: no prices")
        return self._day

    def _next_open_day(self) -> date:
        today = trading_day(self._now)
        if is_session(today) and self._now < session_moment(today, NYSE_OPEN):
            return today
        return next_session(today)

    def _require_known(self, symbol: str) -> None:
        if symbol not in self.prices.closes:
            raise BrokerAPIError(f"unknown symbol {symbol!r}: not in {self.prices.source}")

    def _price(self, symbol: str) -> Decimal:
        """The session's bar price of ``symbol`` (its open or its close)."""
        self._require_known(symbol)
        day = self._session_day()
        at_open = self.fill_at == "next_open" and self._open
        table = self.prices.opens if at_open else self.prices.closes
        price = table.get(symbol, {}).get(day)
        if price is None:
            raise BrokerAPIError(f"no price of {symbol} on {day} in {self.prices.source}")
        return price

    def _mark(self, symbol: str, day: date) -> Decimal:
        """What a position is valued at: the session's price, else its last close."""
        try:
            return self._price(symbol)
        except BrokerAPIError:
            return self.close_price(symbol, day)

    def _quote(self, symbol: str) -> ContractPrice:
        quote = self._quotes.get(symbol)
        if quote is None:
            price = self._price(symbol)
            half = self.book.costs.half_spread(symbol, price)
            # Checked values: the bar's positive price and a non-negative half spread.
            quote = trusted(
                ContractPrice,
                symbol=symbol,
                bid=price - half,
                ask=price + half,
                last=price,
                close=price,
            )
            self._quotes[symbol] = quote
        return quote

    def _match(self, order: BookOrder) -> None:
        if order.order_type == "MOC":
            return  # the closing auction only (``close_session``)
        try:
            quote = self._quote(order.symbol)
        except BrokerAPIError as exc:
            order.finish(OrderStatus.REJECTED, str(exc))
            return
        assert quote.bid is not None
        assert quote.ask is not None
        day = self._session_day()
        self.book.match(order, quote.bid, quote.ask, day, self._partial.get(order.symbol))

    def _cancel(self, order: BookOrder) -> None:
        if order.status is OrderStatus.CANCELLED:
            return
        if order.status.is_final:
            raise OrderExecutionError(
                f"order {order.order_id} is {order.status} and cannot be cancelled",
                order_id=order.order_id,
            )
        order.finish(OrderStatus.CANCELLED)

    def _maybe_drop(self, order: BookOrder) -> None:
        if self._drop_after is None:
            return
        self._drop_after -= 1
        if self._drop_after == 0:
            self._drop_after = None
            self.drop_connection()
            raise BrokerConnectionError(
                f"connection to the backtest broker lost while placing order {order.order_id}"
            )
