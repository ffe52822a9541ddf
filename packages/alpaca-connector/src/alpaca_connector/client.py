"""``AlpacaClient``: the ``BrokerClient`` contract on the official alpaca-py SDK.

One API key pair is one Alpaca account: ``account_id`` is that account's number
(``account_number``, e.g. ``PA1234567890``), learnt at ``connect``. alpaca-py is synchronous;
every call runs in a worker thread and is bounded by ``request_timeout_secs``
(``_sdk.SdkSession``). Orders are whole-share DAY orders whose ``client_order_id`` carries the
run id (``translation.new_client_order_id``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from alpaca.data.enums import DataFeed
from alpaca.data.requests import StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.trading.models import Clock, Position, TradeAccount
from broker_connector_base import (
    AccountSnapshot,
    BrokerAPIError,
    BrokerClient,
    BrokerConnectionError,
    BrokerError,
    ContractPrice,
    InvalidInputError,
    OpenOrder,
    OrderFill,
    OrderRecord,
    OrderResult,
    OrderSpec,
    OrderStatus,
    OrderType,
    TradingHoursStatus,
)
from broker_connector_base.order_spec import MARKET
from broker_connector_base.types import trading_day

from alpaca_connector._orders import OrderDesk
from alpaca_connector._sdk import SdkSession
from alpaca_connector.config import AlpacaConnectionConfig
from alpaca_connector.translation import exact, normalise_symbol, position_of, price_of

__all__ = ["AlpacaClient"]

logger = logging.getLogger(__name__)


def _normalise(symbols: Sequence[str]) -> list[str]:
    return [normalise_symbol(s, source="symbols") for s in symbols]


def _fill_sides(quote: ContractPrice, last: Decimal | None) -> tuple[ContractPrice, str | None]:
    """A quote with a missing side filled from the last trade (or the other side), and why."""
    if quote.bid is not None and quote.ask is not None:
        return quote, None
    fallback, source = (last, "last trade") if last is not None else (None, "")
    if fallback is None:
        fallback = quote.bid if quote.bid is not None else quote.ask
        source = "the only quoted side"
    if fallback is None:
        return quote, None
    missing = "/".join(n for n, v in (("bid", quote.bid), ("ask", quote.ask)) if v is None)
    warning = f"{quote.symbol}: no {missing} quote, using {source} {fallback} instead"
    update = {"bid": quote.bid or fallback, "ask": quote.ask or fallback, "last": last}
    return quote.model_copy(update=update), warning


class AlpacaClient(BrokerClient):
    """Broker client for one Alpaca account (paper or live) over alpaca-py.

    It sends MARKET, LIMIT and MOC (``cls``) orders; Alpaca has no midpoint peg or
    adaptive algo, so MIDPRICE and ADAPTIVE are not declared.

    Args:
        config: Key pair, trading mode, URLs and timeouts.
    """

    supported_order_types: ClassVar[frozenset[OrderType]] = frozenset({"MARKET", "LIMIT", "MOC"})

    def __init__(self, config: AlpacaConnectionConfig) -> None:
        self.config = config
        self.account_number: str | None = None
        self.price_warnings: list[str] = []
        self._sdk: SdkSession | None = None
        self._orders = OrderDesk(self._session, config.order_poll_max_secs)

    def __repr__(self) -> str:
        return (
            f"AlpacaClient(mode={self.config.trading_mode}, url={self.config.trading_url}, "
            f"account={self.account_number}, connected={self.is_connected()})"
        )

    # ------------------------------------------------------------------------------------
    # connection
    # ------------------------------------------------------------------------------------

    def _session(self) -> SdkSession:
        if self._sdk is None:
            raise BrokerConnectionError("not connected to Alpaca (call connect first)")
        return self._sdk

    async def connect(self) -> bool:
        """Check the key pair by reading the account, and learn its account number.

        Raises:
            AuthenticationError: Alpaca refused the key pair.
            BrokerConnectionError: Alpaca could not be reached or answered with an error.
        """
        if self._sdk is not None:
            return True
        session = SdkSession(self.config)
        try:
            account = await session.call("connecting to Alpaca", session.trading.get_account)
        except BrokerError as exc:
            session.close()
            if isinstance(exc, BrokerConnectionError):
                raise
            raise BrokerConnectionError(f"connecting to Alpaca: {exc}") from exc
        assert isinstance(account, TradeAccount)
        self._sdk = session
        self.account_number = account.account_number
        if account.trading_blocked or account.account_blocked:
            logger.warning("Alpaca account %s is blocked from trading", account.account_number)
        logger.info(
            "Connected to Alpaca %s at %s: account %s (%s)",
            self.config.trading_mode,
            self.config.trading_url,
            account.account_number,
            account.status.value,
        )
        return True

    async def disconnect(self) -> None:
        """Close the SDK sessions. Safe to call when not connected."""
        session, self._sdk = self._sdk, None
        if session is not None:
            session.close()
            logger.info("Disconnected from Alpaca account %s", self.account_number)

    def is_connected(self) -> bool:
        """Whether ``connect`` succeeded and ``disconnect`` was not called since."""
        return self._sdk is not None

    def _check_account(self, account_id: str) -> None:
        self._session()
        if account_id != self.account_number:
            raise InvalidInputError(
                f"account {account_id!r} is not the account of this Alpaca key pair "
                f"({self.account_number})",
                source="account_id",
            )

    def take_warnings(self) -> list[str]:
        """Price warnings collected since the last call, oldest first."""
        warnings, self.price_warnings = self.price_warnings, []
        return warnings

    # ------------------------------------------------------------------------------------
    # account and market data
    # ------------------------------------------------------------------------------------

    async def get_account_snapshot(
        self, account_id: str, *, use_cached_prices: bool = False
    ) -> AccountSnapshot:
        """Equity, cash and positions valued at Alpaca's current prices.

        Alpaca values positions itself, so ``use_cached_prices`` changes nothing. Alpaca's
        trading API reports no settled-cash figure: ``settled_cash`` is its ``cash``.
        """
        self._check_account(account_id)
        session = self._session()
        account, positions = await asyncio.gather(
            session.call(f"reading account {account_id}", session.trading.get_account),
            session.call(f"reading positions of {account_id}", session.trading.get_all_positions),
        )
        assert isinstance(account, TradeAccount)
        assert isinstance(positions, list)
        cash = exact(account.cash) or Decimal(0)
        equity = exact(account.equity)
        if equity is None:
            raise BrokerAPIError(f"reading account {account_id}: Alpaca sent no equity")
        return AccountSnapshot(
            account_id=account_id,
            total_value=equity,
            cash_balance=cash,
            settled_cash=cash,
            positions=[position_of(p) for p in positions if isinstance(p, Position)],
        )

    async def get_multiple_market_prices(
        self, symbols: Sequence[str], *, use_cache: bool = False
    ) -> list[ContractPrice]:
        """Latest quotes, all symbols in one request (``use_cache`` changes nothing).

        A quote without bid or ask gets the last trade (or its other side) in its place, with
        a warning in ``price_warnings``.

        Raises:
            BrokerAPIError: A symbol is unknown to Alpaca or has no usable price.
        """
        wanted = list(dict.fromkeys(_normalise(symbols)))
        if not wanted:
            return []
        session = self._session()
        request = StockLatestQuoteRequest(
            symbol_or_symbols=wanted, feed=DataFeed(self.config.data_feed)
        )
        what = f"requesting quotes of {', '.join(wanted)}"
        quotes = await session.call(what, session.data.get_stock_latest_quote, request)
        assert isinstance(quotes, dict)
        unknown = [s for s in wanted if s not in quotes]
        if unknown:
            raise BrokerAPIError(f"Alpaca has no quote for {', '.join(unknown)} (unknown symbol?)")
        found = {
            s: ContractPrice(symbol=s, bid=price_of(q.bid_price), ask=price_of(q.ask_price))
            for s, q in quotes.items()
            if s in wanted
        }
        one_sided = [s for s, p in found.items() if p.bid is None or p.ask is None]
        lasts = await self._last_trades(one_sided) if one_sided else {}
        result = {}
        for symbol, quote in found.items():
            price, warning = _fill_sides(quote, lasts.get(symbol))
            if price.bid is None or price.ask is None:
                raise BrokerAPIError(f"Alpaca has no usable price for {symbol}")
            if warning:
                logger.warning(warning)
                self.price_warnings.append(warning)
            result[symbol] = price
        return [result[s] for s in _normalise(symbols)]

    async def _last_trades(self, symbols: list[str]) -> dict[str, Decimal]:
        session = self._session()
        request = StockLatestTradeRequest(
            symbol_or_symbols=symbols, feed=DataFeed(self.config.data_feed)
        )
        trades = await session.call(
            f"requesting last trades of {', '.join(symbols)}",
            session.data.get_stock_latest_trade,
            request,
        )
        assert isinstance(trades, dict)
        prices = {s: price_of(t.price) for s, t in trades.items()}
        return {s: p for s, p in prices.items() if p is not None}

    async def _clock(self) -> Clock:
        session = self._session()
        clock = await session.call("reading Alpaca's market clock", session.trading.get_clock)
        assert isinstance(clock, Clock)
        return clock

    async def get_trading_hours_status(self, symbols: Sequence[str]) -> TradingHoursStatus:
        """Open or closed by Alpaca's market clock (US equities share one session).

        Closed: every symbol is listed, and ``next_open`` is the clock's next open.
        """
        wanted = _normalise(symbols)
        clock = await self._clock()
        if clock.is_open:
            return TradingHoursStatus(
                is_open=True, checked_at=clock.timestamp, closes_at=clock.next_close
            )
        return TradingHoursStatus(
            is_open=False,
            checked_at=clock.timestamp,
            closed_symbols=wanted,
            next_open=clock.next_open,
        )

    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        """Symbols with a buy fill this New York day, by Alpaca's clock."""
        self._check_account(account_id)
        clock = await self._clock()
        return await self._orders.bought_on(trading_day(clock.timestamp))

    # ------------------------------------------------------------------------------------
    # orders
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
        """Place a whole-share order, tagged with ``order_ref`` in its ``client_order_id``.

        MARKET and LIMIT go out as ``day`` orders, MOC as a market order with time in force
        ``cls`` (the closing auction; Alpaca refuses those from 3:50 pm New York).

        When the answer is lost (timeout, dropped connection) the order is looked up by its
        ``client_order_id``; it is never sent twice.

        Raises:
            InvalidInputError: Zero quantity, an order type Alpaca lacks (MIDPRICE,
                ADAPTIVE), an ``order_ref`` longer than 100 characters, another account.
            OrderExecutionError: Alpaca refused the order (the message has its reason:
                insufficient buying power, unknown asset, PDT protection ...) or it could not
                be confirmed.
        """
        self.check_order_spec(order)
        self._check_account(account_id)
        return await self._orders.place(account_id, symbol, quantity, order, order_ref)

    async def get_open_orders(self, account_id: str) -> list[OpenOrder]:
        """Open orders of the account, with the ``order_ref`` each was placed with."""
        self._check_account(account_id)
        return await self._orders.open_orders(account_id)

    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: datetime | None = None
    ) -> list[OrderRecord]:
        """Orders whose ``client_order_id`` carries ``order_ref``, oldest first.

        Alpaca lists orders by submission time, not by ``client_order_id`` prefix: the orders
        since ``since`` (default: the last seven days) are read and matched exactly.
        """
        self._check_account(account_id)
        if not order_ref:
            raise InvalidInputError("order_ref must not be empty", source="get_orders_by_ref")
        records = await self._orders.by_ref(order_ref, since)
        return [r.model_copy(update={"account_id": account_id}) for r in records]

    async def cancel_order(self, order_id: str) -> None:
        """Request cancellation of ``order_id`` (Alpaca cancels asynchronously)."""
        await self._orders.cancel(order_id)

    async def get_order_status(self, order_id: str) -> OrderStatus:
        """Normalised status of ``order_id``; ``NOT_FOUND`` when Alpaca knows no such order."""
        return await self._orders.status(order_id)

    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        """Poll ``order_id`` (backing off to ``order_poll_max_secs``) until it is final."""
        return await self._orders.wait(order_id, timeout_secs)

    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        """Cancel every open order of the account and wait until none is working."""
        self._check_account(account_id)
        return await self._orders.cancel_all(account_id, timeout_secs)
