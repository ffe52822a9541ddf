"""Latest quotes and trades through the real alpaca-py ``StockHistoricalDataClient``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.testing import in_thread


async def test_latest_quotes_of_many_symbols_come_back_exact_and_unknown_ones_are_left_out(
    data: StockHistoricalDataClient,
) -> None:
    request = StockLatestQuoteRequest(symbol_or_symbols=["SPY", "QQQ", "ZZZZQX", "GLD"])
    quotes = await in_thread(data.get_stock_latest_quote, request)
    assert isinstance(quotes, dict)
    assert sorted(quotes) == ["GLD", "QQQ", "SPY"]
    spy = quotes["SPY"]
    # Prices travel as JSON numbers; their shortest repr is the scenario's decimal text.
    assert Decimal(repr(spy.bid_price)) == Decimal("589.10")
    assert Decimal(repr(spy.ask_price)) == Decimal("589.12")
    assert spy.bid_size == 100
    assert spy.timestamp.tzinfo is not None
    assert Decimal(repr(quotes["GLD"].ask_price)) == Decimal("245.83")


async def test_no_quote_fault_sends_zero_bid_and_ask(
    alpaca_sim: AlpacaApiSimulator, data: StockHistoricalDataClient
) -> None:
    alpaca_sim.set_faults(no_quote_symbols=["SPY"])
    quotes = await in_thread(
        data.get_stock_latest_quote, StockLatestQuoteRequest(symbol_or_symbols="SPY")
    )
    assert isinstance(quotes, dict)
    assert (quotes["SPY"].bid_price, quotes["SPY"].ask_price) == (0, 0)


async def test_latest_trades_carry_the_last_price(
    alpaca_sim: AlpacaApiSimulator, data: StockHistoricalDataClient
) -> None:
    alpaca_sim.set_price("QQQ", last="510.01")
    trades = await in_thread(
        data.get_stock_latest_trade, StockLatestTradeRequest(symbol_or_symbols=["SPY", "QQQ"])
    )
    assert isinstance(trades, dict)
    assert Decimal(repr(trades["SPY"].price)) == Decimal("589.11")
    assert Decimal(repr(trades["QQQ"].price)) == Decimal("510.01")
    assert trades["SPY"].id != trades["QQQ"].id


async def test_malformed_symbol_answers_400(data: StockHistoricalDataClient) -> None:
    with pytest.raises(APIError) as caught:
        await in_thread(
            data.get_stock_latest_quote, StockLatestQuoteRequest(symbol_or_symbols="sp y")
        )
    assert caught.value.status_code == 400
    assert caught.value.message == "invalid symbol: sp y"
