"""Shared fixtures: a running stand-in and real alpaca-py clients pointed at it.

alpaca-py is synchronous (requests) and the stand-in runs on the test's event loop, so every
SDK call goes through ``call`` (a worker thread); calling the SDK on the loop would deadlock.
A pydantic ``ValidationError`` from the SDK's models propagates and fails the test: the
stand-in sent something the real SDK cannot read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.pytest_plugin import (  # noqa: F401  (fixtures, registered by import)
    EXAMPLE_ACCOUNT,
    alpaca_scenario,
    alpaca_sim,
)
from pydantic import BaseModel

_T = TypeVar("_T")

MakeTrading = Callable[..., TradingClient]


async def call(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run one synchronous SDK call in a worker thread, bounded at 10 s."""
    return await asyncio.wait_for(asyncio.to_thread(function, *args, **kwargs), 10)


@pytest.fixture
def make_trading(alpaca_sim: AlpacaApiSimulator) -> MakeTrading:
    """Factory of real ``TradingClient``s on the stand-in (the example cash account's keys)."""

    def make(account: str = EXAMPLE_ACCOUNT, *, raw_data: bool = False) -> TradingClient:
        key, secret = alpaca_sim.credentials(account)
        return TradingClient(
            key, secret, paper=True, raw_data=raw_data, url_override=alpaca_sim.base_url
        )

    return make


@pytest.fixture
def trading(make_trading: MakeTrading) -> TradingClient:
    """A ``TradingClient`` of the example cash account."""
    return make_trading()


@pytest.fixture
def data(alpaca_sim: AlpacaApiSimulator) -> StockHistoricalDataClient:
    """A ``StockHistoricalDataClient`` on the stand-in."""
    key, secret = alpaca_sim.credentials(EXAMPLE_ACCOUNT)
    return StockHistoricalDataClient(key, secret, url_override=alpaca_sim.base_url)


def assert_only_sdk_fields(model: type[BaseModel], raw: dict[str, Any]) -> None:
    """Fail when ``raw`` has a key ``model`` does not declare.

    The SDK's models ignore unknown keys, so a misspelt field would silently read as ``None``;
    this catches it.
    """
    known = set()
    for name, info in model.model_fields.items():
        known.add(info.alias or name)
    extra = set(raw) - known
    assert not extra, f"{model.__name__} does not declare {sorted(extra)}"
