"""``BrokerClient`` for Interactive Brokers through IB Gateway (or TWS) with ib_async.

Every call is bounded in time (see ``_gateway.bounded``), order ids cross the interface as
strings and are converted to IB's integers here, and IB errors become the base exceptions by
their numeric code (``errors.IB_ERRORS``). Runs inside the caller's asyncio loop: nothing
here starts or nests an event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import broker_connector_base
from broker_connector_base import (
    AccountSnapshot,
    BrokerClient,
    BrokerConnectionError,
    ContractPrice,
    DailyBar,
    InstrumentRef,
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
from ib_async import IB, Position

from ibkr_connector import _account, _connection, _gateway, _market, _orders
from ibkr_connector._bars import DailyBars, HistoryPacing
from ibkr_connector._pacing import Pacing
from ibkr_connector._shared import SharedRequests
from ibkr_connector._shared_pacing import PacedSender, SharedPacing
from ibkr_connector.bar_cache import BarCache
from ibkr_connector.config import IBKRConnectionConfig
from ibkr_connector.gateway_pacing import GatewayRateLimiter
from ibkr_connector.order_types import SUPPORTED_ORDER_TYPES
from ibkr_connector.price_cache import PriceCache
from ibkr_connector.translation import usable_price

__all__ = ["IBKRClient"]

_LOG = logging.getLogger(__name__)


class IBKRClient(BrokerClient):
    """Interactive Brokers implementation of ``BrokerClient``.

    It sends every order type of the contract (``order_types`` maps them to IB's).

    Args:
        config: Connection settings; ``None`` means paper trading on 127.0.0.1 with
            ``client_id``.
        client_id: The API client id (required without ``config``; must match it with one).
        logger: Logger for this client's messages.
        pacing: What to do on IB's pacing error 100 (default: slow down, back off, retry;
            with ``config.pacing_file``, the gateway-wide rate is lowered for every process).
        history_pacing: How historical requests keep IB's pacing (default: IB's limits).
    """

    supported_order_types: ClassVar[frozenset[OrderType]] = SUPPORTED_ORDER_TYPES

    def __init__(
        self,
        config: IBKRConnectionConfig | None = None,
        *,
        client_id: int | None = None,
        logger: logging.Logger | None = None,
        pacing: Pacing | None = None,
        history_pacing: HistoryPacing | None = None,
    ) -> None:
        if config is None:
            if client_id is None:
                raise InvalidInputError("IBKRClient needs a config or a client_id")
            config = IBKRConnectionConfig(client_id=client_id)
        elif client_id is not None and client_id != config.client_id:
            raise InvalidInputError(
                f"client_id {client_id} differs from config.client_id {config.client_id}"
            )
        self.config = config
        self.logger = logger or _LOG
        self.ib = IB()
        self.ib.RaiseRequestErrors = True  # a failed request raises instead of returning []
        self.ib.RequestTimeout = config.request_timeout_secs
        cache_path = config.data_dir / "price_cache.sqlite3" if config.data_dir else None
        self.price_cache = PriceCache(cache_path, config.price_cache_ttl_secs)
        self.price_warnings: list[str] = []
        self._connect_errors: list[tuple[int, str]] = []
        self._refused = asyncio.Event()
        self._summary_lock = asyncio.Lock()
        self._positions_lock = asyncio.Lock()
        self._positions_streaming = False
        self._quotes = SharedRequests(self._fetch_and_cache)
        self.ib.errorEvent += self._on_error
        self.limiter: GatewayRateLimiter | None = None
        if config.pacing_file is not None:
            self.limiter = GatewayRateLimiter(config.pacing_file, config.gateway_messages_per_sec)
            PacedSender(self.ib, self.limiter)
        self.pacing = pacing or SharedPacing(limiter=self.limiter)
        self.history_pacing = history_pacing or HistoryPacing()
        self._daily_bars: DailyBars | None = None
        self.market = _market.MarketData(self.ib, config, self.logger, self.pacing)
        self.orders = _orders.OrderBook(
            self.ib, config, self.logger, self.market.contract_for, self.pacing
        )
        from ibkr_connector import __version__

        self.logger.info(
            "Initializing IBKRClient v%s with broker-connector-base v%s (client id %d, %s:%d, %s)",
            __version__,
            broker_connector_base.__version__,
            config.client_id,
            config.host,
            config.effective_port,
            config.trading_mode,
        )

    # ------------------------------------------------------------------------------------
    # connection
    # ------------------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect with bounded retries and exponential backoff.

        Raises:
            BrokerConnectionError: Gateway down, restarting, or the client id stays in use.
        """
        if self.ib.isConnected():
            return True
        cfg = self.config
        attempts = cfg.connect_retries + 1
        last = ""
        for attempt in range(1, attempts + 1):
            self._connect_errors.clear()
            self._positions_streaming = False
            self._refused = asyncio.Event()
            self._summary_lock = asyncio.Lock()
            self._positions_lock = asyncio.Lock()
            try:
                await _connection.attempt(self.ib, cfg, self._refused)
            except (TimeoutError, ConnectionError, OSError) as exc:
                self.ib.disconnect()
                last = _connection.describe_failure(exc, self._connect_errors, cfg.client_id)
            else:
                self._positions_streaming = True
                self.ib.reqMarketDataType(cfg.market_data_type)
                self.logger.info(
                    "Connected to IB gateway %s:%d as client %d; accounts %s",
                    cfg.host,
                    cfg.effective_port,
                    cfg.client_id,
                    ", ".join(self.ib.managedAccounts()) or "none",
                )
                return True
            if attempt < attempts:
                delay = cfg.connect_backoff_secs * 2 ** (attempt - 1)
                self.logger.warning(
                    "Connection attempt %d of %d failed (%s); retrying in %.1f s",
                    attempt,
                    attempts,
                    last,
                    delay,
                )
                await asyncio.sleep(delay)
        raise BrokerConnectionError(
            f"cannot connect to IB gateway at {cfg.host}:{cfg.effective_port} as client "
            f"{cfg.client_id} after {attempts} attempts: {last}"
        )

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if code == 326 or not self.ib.isConnected():
            self._connect_errors.append((code, message))
        if code == 326:
            self._refused.set()
        if code == 100 and req_id == -1:
            _gateway.fail_named_requests(self.ib, code, message)

    async def disconnect(self) -> None:
        """Close the connection. Safe to call when not connected."""
        if self.ib.isConnected() or self.ib.client.connState != 0:
            self.ib.disconnect()

    def is_connected(self) -> bool:
        """Whether the API connection is up now."""
        return self.ib.isConnected()

    # ------------------------------------------------------------------------------------
    # account
    # ------------------------------------------------------------------------------------

    def _check_account(self, account_id: str) -> None:
        _gateway.require_connected(self.ib, f"account {account_id}")
        accounts = self.ib.managedAccounts()
        if account_id not in accounts:
            raise InvalidInputError(
                f"account {account_id!r} is not managed by this gateway login "
                f"(managed: {', '.join(accounts) or 'none'})"
            )

    async def get_account_snapshot(
        self, account_id: str, *, use_cached_prices: bool = False
    ) -> AccountSnapshot:
        """Balances and positions of ``account_id``, positions valued at market price."""
        self._check_account(account_id)
        balances, positions = await asyncio.gather(
            self._balances(account_id),
            self._positions(account_id),
        )
        held, others = _account.stock_positions(positions, account_id)
        if others:
            self.logger.warning(
                "Account %s: positions %s are not stocks; they are left out of the snapshot "
                "(and of its total value) and never traded",
                account_id,
                ", ".join(others),
            )
        for symbol, position in held.items():
            self.market.check_held(account_id, symbol, position.contract)
            self.market.remember_contract(symbol, position.contract)
        prices = await self.get_multiple_market_prices(list(held), use_cache=use_cached_prices)
        return _account.build_snapshot(account_id, balances, held, prices)

    async def _balances(self, account_id: str) -> dict[str, Decimal]:
        # One summary request at a time: IB allows two open ones per client (error 322).
        async with self._summary_lock:
            return await self.pacing.run(
                self.ib,
                f"requesting balances of {account_id}",
                lambda: _gateway.account_summary(
                    self.ib, account_id, self.config.request_timeout_secs
                ),
            )

    async def _positions(self, account_id: str) -> list[Position]:
        if self._positions_streaming:
            # connect() subscribed to positions (ib_async always does) and IB pushes every
            # change since: the streamed state is as fresh as a new request would be.
            _gateway.require_connected(self.ib, f"positions of {account_id}")
            return list(self.ib.positions(account_id))
        # ib_async keys a positions request by name, not id: two at once would lose one.
        async with self._positions_lock:
            return await self.pacing.run(
                self.ib,
                f"requesting positions of {account_id}",
                lambda: _gateway.sent_bounded(
                    self.ib,
                    self.ib.reqPositionsAsync,
                    self.config.request_timeout_secs,
                    f"positions of {account_id}",
                ),
            )

    async def wait_for_positions(
        self, account_id: str, expected: Mapping[str, Decimal], *, timeout_secs: float
    ) -> dict[str, Decimal]:
        """Wait (bounded) until IB's position updates show ``expected`` share counts.

        IB reports fills before it updates positions; this waits for the pushed updates
        instead of polling (see ``BrokerClient.wait_for_positions``). Returns what was last
        seen for the expected symbols.

        Raises:
            BrokerConnectionError: The connection was lost before or during the wait.
        """
        self._check_account(account_id)
        seen = await _gateway.wait_for_positions(self.ib, account_id, expected, timeout_secs)
        _gateway.require_connected(self.ib, f"waiting for the positions of {account_id}")
        return seen

    def take_warnings(self) -> list[str]:
        """The quote fallbacks warned about since the last call (``price_warnings``), drained."""
        taken = list(self.price_warnings)
        self.price_warnings.clear()
        return taken

    # ------------------------------------------------------------------------------------
    # market data
    # ------------------------------------------------------------------------------------

    async def get_multiple_market_prices(
        self, symbols: Sequence[str], *, use_cache: bool = False
    ) -> list[ContractPrice]:
        """Quotes for ``symbols``, requested together; fresh cached quotes when ``use_cache``.

        A symbol without bid or ask gets last (or close) in their place, with a warning that
        ``take_warnings`` hands over (once).

        Raises:
            BrokerAPIError: A symbol is unknown or has no usable price; the message names it.
        """
        wanted = list(dict.fromkeys(" ".join(s.split()).upper() for s in symbols))
        _gateway.require_connected(self.ib, "requesting quotes")
        now = dt.datetime.now(dt.UTC)
        found: dict[str, ContractPrice] = {}
        if use_cache:
            for symbol, cached in self.price_cache.get_fresh(wanted, now).items():
                self.logger.info(
                    "Using cached price for %s (%.1f s old)", symbol, cached.age_secs(now)
                )
                found[symbol] = cached.price
        missing = [s for s in wanted if s not in found]
        if missing:
            found.update(await self._quotes.get(missing))
        result = []
        for symbol in wanted:
            price, warning = usable_price(found[symbol])
            if warning:
                self.logger.warning(warning)
                self.price_warnings.append(warning)
            result.append(price)
        by_symbol = {p.symbol: p for p in result}
        return [by_symbol[" ".join(s.split()).upper()] for s in symbols]

    async def _fetch_and_cache(self, symbols: list[str]) -> dict[str, ContractPrice]:
        fresh = await self.pacing.run(
            self.ib, "requesting quotes", lambda: self.market.fetch_quotes(symbols)
        )
        self.price_cache.put(fresh.values(), dt.datetime.now(dt.UTC))
        return fresh

    async def get_daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> list[DailyBar]:
        """Daily bars of ``symbol`` from ``start`` to ``end`` (both included), by date.

        Not part of ``BrokerClient`` (a rebalance never needs history): backtests use it.
        IB's ``ADJUSTED_LAST`` bars (split- and dividend-adjusted), cached under ``data_dir``
        (``daily_bars.sqlite3``; complete days only, checked once a New York day); requests
        keep IB's historical pacing (``_bars`` says how).

        Raises:
            InvalidInputError: ``start`` after ``end``, or after today.
            BrokerAPIError: An unknown symbol, or IB has no bars (IB error 162 names why).
            BrokerConnectionError: Not connected, or no answer in time.
        """
        _gateway.require_connected(self.ib, f"daily bars of {symbol}")
        if self._daily_bars is None:
            path = self.config.data_dir / "daily_bars.sqlite3" if self.config.data_dir else None
            self._daily_bars = DailyBars(
                self.ib,
                self.market.contract_for,
                self.market.gateway_time,
                BarCache(path),
                self.history_pacing,
                self.config.request_timeout_secs,
            )
        return await self._daily_bars.get(" ".join(symbol.split()).upper(), start, end)

    # ------------------------------------------------------------------------------------
    # orders (see _orders.OrderBook)
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
        """Place a DAY order tagged with ``order_ref`` (IB ``orderRef``); see ``BrokerClient``
        and ``order_types`` for how each type is sent."""
        if quantity == 0:
            raise InvalidInputError("order quantity must not be 0")
        self.check_order_spec(order)
        self._check_account(account_id)
        return await self.orders.place_order(
            account_id, symbol, quantity, spec=order, order_ref=order_ref
        )

    async def get_open_orders(self, account_id: str) -> list[OpenOrder]:
        """Working orders of ``account_id``."""
        self._check_account(account_id)
        return await self.orders.get_open_orders(account_id)

    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: dt.datetime | None = None
    ) -> list[OrderRecord]:
        """Open and completed orders and executions tagged ``order_ref``, merged by perm id.

        IB lists the current day's completed orders and executions, so ``since`` is not
        needed. See ``BrokerClient.get_orders_by_ref``.
        """
        self._check_account(account_id)
        if not order_ref:
            raise InvalidInputError("order_ref must not be empty", source="get_orders_by_ref")
        return await self.orders.history.orders_by_ref(account_id, order_ref)

    async def cancel_order(self, order_id: str) -> None:
        """Request cancellation; ``InvalidInputError`` for a non-numeric id."""
        await self.orders.cancel_order(order_id)

    async def get_order_status(self, order_id: str) -> OrderStatus:
        """Normalised status of ``order_id``."""
        return await self.orders.get_order_status(order_id)

    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        """Wait for a final status or the timeout."""
        return await self.orders.wait_for_order(order_id, timeout_secs=timeout_secs)

    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        """Cancel every working order of ``account_id`` and wait until none is left."""
        self._check_account(account_id)
        return await self.orders.cancel_all_orders(account_id, timeout_secs=timeout_secs)

    # ------------------------------------------------------------------------------------
    # trading hours
    # ------------------------------------------------------------------------------------

    async def get_trading_hours_status(self, symbols: Sequence[str]) -> TradingHoursStatus:
        """Whether every symbol is in its liquid hours now, by the gateway's clock.

        The gateway's time is used, not the local clock: it is what the exchange session is
        judged by (and what a simulator's market clock sets).
        """
        return await self.market.trading_hours(symbols)

    async def resolve_instruments(self, instruments: Sequence[InstrumentRef]) -> None:
        """Pin symbols to IB contracts by conId, ISIN or primary exchange (``contracts``);
        see ``BrokerClient.resolve_instruments``.

        Raises:
            BrokerAPIError: A reference matches no contract, several, or another security.
        """
        _gateway.require_connected(self.ib, "looking up pinned symbols")
        await self.market.resolve(instruments)

    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        """Symbols ``account_id`` bought this New York day, by the gateway's clock."""
        self._check_account(account_id)
        now = await self.market.gateway_time()
        return await self.orders.history.symbols_bought_on(account_id, trading_day(now))
