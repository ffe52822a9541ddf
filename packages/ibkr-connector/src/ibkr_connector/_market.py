"""Contract lookups, snapshot quotes and trading hours for ``IBKRClient`` (composition)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence

from broker_connector_base import (
    BrokerAPIError,
    BrokerError,
    ContractPrice,
    InstrumentRef,
    RateLimitError,
    TradingHoursStatus,
)
from ib_async import IB, Contract, ContractDetails

from ibkr_connector import _gateway, contracts
from ibkr_connector._gateway_lock import gateway_file
from ibkr_connector._pacing import Pacing
from ibkr_connector._shared import SharedRequests
from ibkr_connector.config import IBKRConnectionConfig
from ibkr_connector.contract_cache import ContractCache
from ibkr_connector.shared_quotes import Quote, SharedQuotes, shared_quote_paths
from ibkr_connector.translation import (
    has_any_price,
    ib_price,
    next_open,
    parse_liquid_hours,
    session_end,
)

__all__ = ["MarketData"]


class MarketData:
    """Market data requests on one ib_async connection; contract details cached per symbol.

    Symbols pinned by ``resolve`` (a conId, ISIN or primary exchange from the allocations)
    are looked up by that reference, kept for this connection only and never written to the
    shared contract cache: another strategy may mean another security by the same ticker.
    """

    def __init__(
        self, ib: IB, config: IBKRConnectionConfig, logger: logging.Logger, pacing: Pacing
    ) -> None:
        self.ib = ib
        self.config = config
        self.logger = logger
        self.pacing = pacing
        self.details: dict[str, ContractDetails] = {}
        self.pinned: dict[str, ContractDetails] = {}
        self._time_request: asyncio.Future[dt.datetime] | None = None
        self.cache = _contract_cache(config)
        self.shared = _shared_quotes(config)
        # Shared: a plan's quotes and the hours check look up the same symbols at once.
        self._lookups = SharedRequests(self._look_up)

    async def fetch_quotes(self, symbols: list[str]) -> dict[str, ContractPrice]:
        """Fresh snapshot quotes of ``symbols``, requested together (or, with sharing on, a
        sibling process's newer quotes of the last ``shared_quote_max_age_secs``).

        Raises:
            BrokerAPIError: A symbol is unknown or has no usable price; the message names it.
        """
        contracts = await self.contracts(symbols)
        started = time.monotonic()
        if self.shared is None:
            quotes = await self._request_quotes(contracts)
        else:
            quotes = await self.shared.fetch(contracts, self._request_quotes)
        delayed = [s for s, q in quotes.items() if q.data_type in (3, 4)]
        if delayed:
            # IB sends delayed quotes only where the login has no live subscription.
            self.logger.info("Delayed (not live) quotes for %s", ", ".join(delayed))
        self.logger.debug("Quoted %d symbols in %.3f s", len(quotes), time.monotonic() - started)
        return {symbol: quote.price for symbol, quote in quotes.items()}

    async def _request_quotes(self, contracts: dict[str, Contract]) -> dict[str, Quote]:
        tickers = await _gateway.snapshots(self.ib, contracts, self.config.request_timeout_secs)
        quotes: dict[str, Quote] = {}
        for symbol, ticker in tickers.items():
            if isinstance(ticker, RateLimitError):
                raise ticker  # the caller paces and asks again
            if isinstance(ticker, Exception):
                raise BrokerAPIError(
                    f"no quote for {symbol}: {ticker}", api_code=getattr(ticker, "api_code", None)
                )
            price = ContractPrice(
                symbol=symbol,
                bid=ib_price(ticker.bid),
                ask=ib_price(ticker.ask),
                last=ib_price(ticker.last),
                close=ib_price(ticker.close),
            )
            if not has_any_price(price):
                raise BrokerAPIError(f"no usable price for {symbol} (no bid, ask, last or close)")
            quotes[symbol] = Quote(price, ticker.marketDataType)
        return quotes

    async def resolve(self, refs: Sequence[InstrumentRef]) -> None:
        """Look each pinned symbol up by its reference; the ones that follow use it.

        Raises:
            BrokerAPIError: A reference matches no contract, several, or one with another
                ticker, exchange or ISIN.
        """
        wanted = {r.symbol: r for r in refs}
        if not wanted:
            return
        lookups = {s: contracts.for_instrument(r) for s, r in wanted.items()}
        labels = {s: r.describe() for s, r in wanted.items()}
        found = await self.pacing.run(
            self.ib,
            f"looking up {', '.join(labels.values())}",
            lambda: _gateway.contract_details(
                self.ib, lookups, self.config.request_timeout_secs, labels
            ),
        )
        for symbol, ref in wanted.items():
            details = contracts.single_match(symbol, found[symbol], ref)
            self.pinned[symbol] = self.details[symbol] = details
            assert details.contract is not None
            self.logger.info("%s is IB contract %d", ref.describe(), details.contract.conId)

    async def contracts(self, symbols: Sequence[str]) -> dict[str, Contract]:
        """Contracts of ``symbols``; unknown ones are looked up together."""
        unknown = [s for s in symbols if s not in self.details]
        if unknown:
            now = dt.datetime.now(dt.UTC)
            for symbol, entry in self.cache.get(unknown).items():
                if entry.younger_than(self.cache.ttl_secs, now):
                    self.details[symbol] = entry.details
            unknown = [s for s in unknown if s not in self.details]
        if unknown:
            self.details.update(await self._lookups.get(unknown))
        out: dict[str, Contract] = {}
        for symbol in symbols:
            contract = self.details[symbol].contract
            assert contract is not None  # contract_details only keeps details with one
            out[symbol] = contract
        return out

    async def _look_up(
        self, symbols: list[str], now: dt.datetime | None = None
    ) -> dict[str, ContractDetails]:
        """Details of un-pinned ``symbols``, looked up once across the gateway's processes.

        ``now`` is the gateway's clock (asked for when not given): entries are stamped with it
        and judged by it, so details a sibling stored today serve whatever this process's
        clock says (a simulator's clock may be days off the local one).
        """
        if now is None:
            now = await self._gateway_time_or_local()
        return await self.cache.look_up(symbols, now, self._request_details)

    async def _request_details(self, symbols: list[str]) -> dict[str, ContractDetails]:
        lookups = {s: contracts.stock(s) for s in symbols}
        found = await self.pacing.run(
            self.ib,
            f"looking up {', '.join(symbols)}",
            lambda: _gateway.contract_details(self.ib, lookups, self.config.request_timeout_secs),
        )
        return {s: contracts.single_match(s, found[s]) for s in symbols}

    async def _gateway_time_or_local(self) -> dt.datetime:
        try:
            return await self.gateway_time()
        except BrokerError as exc:
            # Only the stamp of cached details depends on it: a wrong day costs a lookup.
            self.logger.warning("Gateway time unknown (%s): contract lookup by local time", exc)
            return dt.datetime.now(dt.UTC)

    def check_held(self, account_id: str, symbol: str, contract: Contract) -> None:
        """Refuse a position whose ticker is pinned to another security.

        Raises:
            BrokerAPIError: ``account_id`` holds ``symbol`` as another contract than the
                pinned one: selling or valuing it as the pinned one would trade the wrong
                security.
        """
        pinned = self.pinned.get(symbol)
        if pinned is None or pinned.contract is None or not contract.conId:
            return
        if contract.conId != pinned.contract.conId:
            raise BrokerAPIError(
                f"account {account_id} holds {symbol} as conid {contract.conId}, but the "
                f"allocations pin {symbol} to conid {pinned.contract.conId}: two securities "
                "under one ticker; settle that position by hand first"
            )

    def remember_contract(self, symbol: str, contract: Contract) -> None:
        """Keep a position's contract for later quotes and orders."""
        if symbol not in self.details and symbol not in self.pinned and contract.conId:
            # Positions carry a full contract: reuse it instead of another details request.
            self.details[symbol] = ContractDetails(contract=_smart(contract))

    async def contract_for(self, symbol: str) -> Contract:
        """The contract of one symbol (looked up once per connection)."""
        return (await self.contracts([symbol]))[symbol]

    async def gateway_time(self) -> dt.datetime:
        """The gateway's clock (aware): what exchange sessions and days are judged by.

        Callers that ask while a request is under way share its answer: ib_async keys the
        request by name (two at once would lose one), and a run's hours check and its
        today's-buys check ask at the same moment; one message less against IB's rate.
        """
        pending = self._time_request
        if pending is None:
            pending = self._time_request = asyncio.ensure_future(self._read_gateway_time())
            pending.add_done_callback(self._time_answered)
        # Shielded: one caller cancelled (its run stopped) does not cancel the others' answer.
        return await asyncio.shield(pending)

    def _time_answered(self, request: asyncio.Future[dt.datetime]) -> None:
        if self._time_request is request:
            self._time_request = None  # the next caller asks again: a clock is not cached
        if not request.cancelled():
            request.exception()  # retrieved here too: every caller may have been cancelled

    async def _read_gateway_time(self) -> dt.datetime:
        now: dt.datetime = await self.pacing.run(
            self.ib,
            "reading the gateway time",
            lambda: _gateway.sent_bounded(
                self.ib,
                self.ib.reqCurrentTimeAsync,
                self.config.request_timeout_secs,
                "reading the gateway time",
            ),
        )
        return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)

    async def trading_hours(self, symbols: Sequence[str]) -> TradingHoursStatus:
        """Liquid-hours status of ``symbols`` at the gateway's current time."""
        wanted = list(dict.fromkeys(" ".join(s.split()).upper() for s in symbols))
        now = await self.gateway_time()
        # Liquid hours are announced per exchange day: details fetched today (by the
        # gateway's clock) still hold them; anything older is looked up again.
        details = {s: self.pinned[s] for s in wanted if s in self.pinned}
        details.update(
            (symbol, entry.details)
            for symbol, entry in self.cache.get([s for s in wanted if s not in details]).items()
            if entry.same_exchange_day(now)
        )
        missing = [s for s in wanted if s not in details]
        if missing:
            # A lookup under way (quotes of the same run) serves too: whoever started it, its
            # details are same-day ones by the gateway's clock.
            details.update(
                await self._lookups.get(missing, lambda symbols: self._look_up(symbols, now))
            )
        self.details.update(details)
        closed: list[str] = []
        opens: list[dt.datetime] = []
        closes: list[dt.datetime] = []
        for symbol in wanted:
            d = details[symbol]
            sessions = parse_liquid_hours(d.liquidHours, d.timeZoneId)
            is_open, opens_at = next_open(sessions, now)
            if not is_open:
                closed.append(symbol)
                if opens_at is not None:
                    opens.append(opens_at)
            elif (ends := session_end(sessions, now)) is not None:
                closes.append(ends)
        return TradingHoursStatus(
            is_open=not closed,
            checked_at=now,
            closed_symbols=closed,
            next_open=max(opens).astimezone(dt.UTC) if closed and opens else None,
            closes_at=min(closes).astimezone(dt.UTC) if closes and not closed else None,
        )


def _contract_cache(config: IBKRConnectionConfig) -> ContractCache:
    """The contract cache of ``data_dir``; lookups for missing details take turns on the
    gateway (one lock per host and port, bounded by the request timeout)."""
    if config.data_dir is None:
        return ContractCache(None, config.contract_cache_ttl_secs)
    lock_path = gateway_file(
        config.data_dir, "contracts", config.host, config.effective_port, ".lock"
    )
    return ContractCache(
        config.data_dir / "contract_cache.sqlite3",
        config.contract_cache_ttl_secs,
        lock_path=lock_path,
        lock_timeout_secs=config.request_timeout_secs,
    )


def _shared_quotes(config: IBKRConnectionConfig) -> SharedQuotes | None:
    """The gateway's shared quotes, unless there is no data directory or sharing is off."""
    if config.data_dir is None or config.shared_quote_max_age_secs <= 0:
        return None
    path, lock_path = shared_quote_paths(config.data_dir, config.host, config.effective_port)
    return SharedQuotes(
        path,
        lock_path,
        max_age_secs=config.shared_quote_max_age_secs,
        data_type=config.market_data_type,
        lock_timeout_secs=config.request_timeout_secs,
    )


def _smart(contract: Contract) -> Contract:
    """A position's contract routed through SMART (positions report the primary exchange)."""
    return Contract(
        secType=contract.secType,
        conId=contract.conId,
        symbol=contract.symbol,
        exchange="SMART",
        primaryExchange=contract.primaryExchange or contract.exchange,
        currency=contract.currency,
        localSymbol=contract.localSymbol,
        tradingClass=contract.tradingClass,
    )
