"""Contract details, qualification and market data (snapshot, streaming, delayed, 354)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Awaitable, Callable

from ib_async import IB, Stock, Ticker
from ib_gateway_sim import GatewaySimulator

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]


async def test_qualify_fills_conid_primary_exchange_and_trading_class(connect: Connect) -> None:
    ib = await connect()
    contract = Stock("TLT", "SMART", "USD")

    [qualified] = await ib.qualifyContractsAsync(contract)

    assert qualified is contract
    assert contract.conId == 15547841
    assert contract.primaryExchange == "NASDAQ"
    assert contract.exchange == "SMART"
    assert contract.localSymbol == "TLT"
    assert contract.tradingClass == "TLT"


async def test_qualify_unknown_symbol_gives_200_and_none(
    connect: Connect, ib_errors: Errors
) -> None:
    ib = await connect()
    errors = ib_errors(ib)

    result = await ib.qualifyContractsAsync(Stock("ZZZZ", "SMART", "USD"))

    assert result == [None]
    assert [code for _, code, _ in errors] == [200]


async def test_contract_details_carry_ib_format_hours_from_a_closed_clock(
    connect: Connect, sim: GatewaySimulator
) -> None:
    sim.set_always_open(False)
    sim.set_clock(dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC))  # a Friday
    ib = await connect()

    [details] = await ib.reqContractDetailsAsync(Stock("SPY", "SMART", "USD"))

    assert details.timeZoneId == "US/Eastern"
    assert details.liquidHours.split(";")[:4] == [
        "20261127:0930-20261127:1600",
        "20261128:CLOSED",
        "20261129:CLOSED",
        "20261130:0930-20261130:1600",
    ]
    assert details.tradingHours.startswith("20261127:0400-20261127:2000;")
    assert details.longName == "SPDR S&P 500 ETF TRUST"
    assert details.minTick == 0.01


async def test_snapshot_ticker_has_bid_ask_last_close(connect: Connect) -> None:
    ib = await connect()
    spy = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(spy)

    [ticker] = await ib.reqTickersAsync(spy)

    assert (ticker.bid, ticker.ask, ticker.last, ticker.close) == (589.10, 589.12, 589.11, 587.40)
    assert ticker.bidSize == 100
    assert ticker.marketPrice() == 589.11
    assert ticker.marketDataType == 1


async def test_streaming_ticker_updates_when_price_changes(
    connect: Connect, sim: GatewaySimulator
) -> None:
    ib = await connect()
    gld = Stock("GLD", "SMART", "USD")
    await ib.qualifyContractsAsync(gld)
    ticker = ib.reqMktData(gld)
    updated: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _on_update(changed: Ticker) -> None:
        if changed.bid == 250.0 and not updated.done():
            updated.set_result(None)

    ticker.updateEvent += _on_update
    await sim.wait_for(lambda: any(s.subs.market_data for s in sim.sessions))

    sim.set_price("GLD", bid="250.00", ask="250.04", last="250.02")

    await asyncio.wait_for(updated, 5)
    assert (ticker.bid, ticker.ask, ticker.last) == (250.0, 250.04, 250.02)
    ib.cancelMktData(gld)
    await sim.wait_for(lambda: not any(s.subs.market_data for s in sim.sessions))


async def test_delayed_market_data_type_gets_delayed_ticks(connect: Connect) -> None:
    ib = await connect()
    ib.reqMarketDataType(3)
    qqq = Stock("QQQ", "SMART", "USD")
    await ib.qualifyContractsAsync(qqq)

    [ticker] = await ib.reqTickersAsync(qqq)

    assert ticker.marketDataType == 3
    assert (ticker.bid, ticker.ask, ticker.last) == (509.45, 509.48, 509.46)


async def test_symbol_without_prices_gives_354_and_nan_snapshot(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors
) -> None:
    sim.set_faults(no_market_data_symbols=["BIL"])
    ib = await connect()
    errors = ib_errors(ib)
    bil = Stock("BIL", "SMART", "USD")
    await ib.qualifyContractsAsync(bil)

    [ticker] = await ib.reqTickersAsync(bil)

    assert math.isnan(ticker.bid)
    assert math.isnan(ticker.last)
    assert [code for _, code, _ in errors] == [354]


async def test_delayed_only_fault_sends_10167_then_delayed_data(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors
) -> None:
    sim.set_faults(delayed_market_data_only=True)
    ib = await connect()
    errors = ib_errors(ib)
    eem = Stock("EEM", "SMART", "USD")
    await ib.qualifyContractsAsync(eem)

    [ticker] = await ib.reqTickersAsync(eem)

    assert ticker.marketDataType == 3
    assert ticker.ask == 44.19
    assert [code for _, code, _ in errors] == [10167]


async def test_cleared_quote_sides_are_absent_and_all_cleared_gives_354(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    dbc = Stock("DBC", "SMART", "USD")
    await ib.qualifyContractsAsync(dbc)

    sim.set_price("DBC", clear=["bid", "ask"])
    [one_sided] = await ib.reqTickersAsync(dbc)
    assert math.isnan(one_sided.bid)
    assert one_sided.last == 22.64
    sim.set_price("DBC", clear=["last", "close"])
    await ib.reqTickersAsync(dbc)  # ib_async reuses the Ticker object; the error is the signal

    assert [code for _, code, _ in errors] == [354]
