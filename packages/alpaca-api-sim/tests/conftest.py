"""Shared fixtures: a running stand-in and real alpaca-py clients pointed at it.

Every SDK call goes through ``alpaca_api_sim.testing.in_thread`` (the stand-in runs on the
test's loop). A pydantic ``ValidationError`` from the SDK's models propagates and fails the
test: the stand-in sent something the real SDK cannot read.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.pytest_plugin import (  # noqa: F401  (fixtures, registered by import)
    EXAMPLE_ACCOUNT,
    alpaca_scenario,
    alpaca_sim,
)


@pytest.fixture
def make_trading(alpaca_sim: AlpacaApiSimulator) -> Callable[..., TradingClient]:
    """Factory of real ``TradingClient``s on the stand-in (the example cash account's keys)."""

    def make(account: str = EXAMPLE_ACCOUNT, *, raw_data: bool = False) -> TradingClient:
        key, secret = alpaca_sim.credentials(account)
        return TradingClient(
            key, secret, paper=True, raw_data=raw_data, url_override=alpaca_sim.base_url
        )

    return make


@pytest.fixture
def trading(make_trading: Callable[..., TradingClient]) -> TradingClient:
    """A ``TradingClient`` of the example cash account."""
    return make_trading()


@pytest.fixture
def data(alpaca_sim: AlpacaApiSimulator) -> StockHistoricalDataClient:
    """A ``StockHistoricalDataClient`` on the stand-in."""
    key, secret = alpaca_sim.credentials(EXAMPLE_ACCOUNT)
    return StockHistoricalDataClient(key, secret, url_override=alpaca_sim.base_url)
