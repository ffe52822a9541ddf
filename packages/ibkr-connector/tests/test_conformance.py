"""The base package's conformance suite: IBKRClient over real ib_async against the simulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from broker_connector_base.conformance import BrokerClientConformance, ConformanceEnv
from ib_gateway_sim import GatewaySimulator, Scenario
from ibkr_connector import IBKRClient, IBKRConnectionConfig
from ibkr_connector.testing import ACCOUNT


async def _env(tmp_path: Path, *, market_open: bool) -> AsyncIterator[ConformanceEnv]:
    scenario = Scenario.builtin("example")
    async with GatewaySimulator(scenario) as sim:
        if not market_open:
            # Saturday noon in New York: outside liquid hours whatever the real time is.
            sim.set_always_open(False)
            sim.set_clock(
                dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
            )
        client = IBKRClient(
            IBKRConnectionConfig(
                client_id=21,
                port=sim.port,
                connect_timeout_secs=2,
                request_timeout_secs=5,
                connect_retries=0,
                data_dir=tmp_path,
            )
        )
        await client.connect()
        try:
            yield ConformanceEnv(
                client=client,
                account_id=ACCOUNT,
                buy_symbol="SPY",
                unknown_symbol="ZZZZQX",
                unknown_account_id="DU999999",
                market_open=market_open,
                invalid_order_id="abc",
                extra_symbols=("QQQ", "AGG", "GLD"),
            )
        finally:
            await client.disconnect()


@pytest.mark.timeout(60)
class TestIBKRConformanceMarketOpen(BrokerClientConformance):
    """Every guarantee, with fills (the simulator's market is always open)."""

    timeout_secs = 10.0

    @pytest.fixture
    async def env(self, tmp_path: Path) -> AsyncIterator[ConformanceEnv]:
        async for env in _env(tmp_path, market_open=True):
            yield env


@pytest.mark.timeout(60)
class TestIBKRConformanceMarketClosed(BrokerClientConformance):
    """The guarantees that hold while the market is closed (orders rest, hours say closed)."""

    timeout_secs = 10.0

    @pytest.fixture
    async def env(self, tmp_path: Path) -> AsyncIterator[ConformanceEnv]:
        async for env in _env(tmp_path, market_open=False):
            yield env
