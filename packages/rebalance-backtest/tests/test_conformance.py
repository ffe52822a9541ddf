"""The backtest broker passes the client conformance suite, market open and closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from broker_connector_base.conformance import BrokerClientConformance, BrokerFaults, ConformanceEnv
from rebalance_backtest.broker import BacktestBroker
from rebalance_backtest.testing import quoted_broker

_QUOTES = {
    "SPY": (Decimal("449.98"), Decimal("450.02")),
    "VTI": (Decimal("230.10"), Decimal("230.13")),
    "BND": (Decimal("72.34"), Decimal("72.35")),
}


def _faults(broker: BacktestBroker) -> BrokerFaults:
    def unreachable() -> BacktestBroker:
        client = quoted_broker(_QUOTES, cash=Decimal(0))
        client.refuse_connections("nothing listens")
        return client

    return BrokerFaults(
        reject_orders=lambda symbol: broker.reject_symbol(symbol, "not permitted"),
        fill_partially=lambda symbol: broker.set_partial_fill(symbol, 1),
        drop_connection=broker.drop_connection,
        unreachable_client=unreachable,
    )


async def _env(*, market_open: bool) -> AsyncIterator[ConformanceEnv]:
    broker = quoted_broker(
        _QUOTES, cash=Decimal("100000"), positions={"VTI": 7}, market_open=market_open
    )
    await broker.connect()
    try:
        yield ConformanceEnv(
            client=broker,
            account_id="BT100001",
            buy_symbol="SPY" if market_open else "spy",
            unknown_symbol="ZZZZQX",
            unknown_account_id="BT999999",
            market_open=market_open,
            extra_symbols=("VTI", "BND"),
            faults=_faults(broker),
            close_auction=broker.close_session,
        )
    finally:
        await broker.disconnect()


class TestBacktestBrokerConformance(BrokerClientConformance):
    timeout_secs = 2.0

    @pytest.fixture
    async def env(self) -> AsyncIterator[ConformanceEnv]:
        async for env in _env(market_open=True):
            yield env


class TestBacktestBrokerClosedMarketConformance(BrokerClientConformance):
    timeout_secs = 2.0

    @pytest.fixture
    async def env(self) -> AsyncIterator[ConformanceEnv]:
        async for env in _env(market_open=False):
            yield env
