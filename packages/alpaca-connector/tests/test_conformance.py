"""The base package's conformance suite: AlpacaClient over real alpaca-py against the stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alpaca_api_sim import AlpacaApiSimulator, Scenario
from alpaca_api_sim.pytest_plugin import EXAMPLE_ACCOUNT, EXAMPLE_MARGIN_ACCOUNT
from alpaca_connector import AlpacaClient
from alpaca_connector.testing import stand_in_config
from broker_connector_base.conformance import BrokerClientConformance, BrokerFaults, ConformanceEnv


def _faults(sim: AlpacaApiSimulator) -> BrokerFaults:
    def unreachable() -> AlpacaClient:
        # A closed port: the stand-in's own, after a drop that refuses connections.
        return AlpacaClient(stand_in_config("http://127.0.0.1:9", sim.credentials(EXAMPLE_ACCOUNT)))

    return BrokerFaults(
        reject_orders=lambda symbol: sim.set_faults(reject_symbols=[symbol]),
        fill_partially=lambda symbol: sim.set_faults(
            partial_fill_parts=2, partial_fill_stop_after=1
        ),
        # The broker goes away for longer than any wait: the API refuses connections.
        drop_connection=lambda: sim.drop_connections(refuse_secs=60),
        unreachable_client=unreachable,
    )


async def _env(*, market_open: bool) -> AsyncIterator[ConformanceEnv]:
    async with AlpacaApiSimulator(Scenario.builtin("example")) as sim:
        if not market_open:
            sim.set_market(False)
        client = AlpacaClient(stand_in_config(sim.base_url, sim.credentials(EXAMPLE_ACCOUNT)))
        await client.connect()
        try:
            yield ConformanceEnv(
                client=client,
                account_id=EXAMPLE_ACCOUNT,
                buy_symbol="SPY",
                unknown_symbol="ZZZZQX",
                unknown_account_id=EXAMPLE_MARGIN_ACCOUNT,
                market_open=market_open,
                invalid_order_id="abc",
                unknown_order_id="00000000-0000-4000-8000-000000000000",
                extra_symbols=("QQQ", "AGG", "GLD"),
                faults=_faults(sim),
                close_auction=sim.close_auction,
            )
        finally:
            await client.disconnect()


@pytest.mark.timeout(60)
class TestAlpacaConformanceMarketOpen(BrokerClientConformance):
    """Every guarantee, with fills (the stand-in's market is always open)."""

    timeout_secs = 10.0

    @pytest.fixture
    async def env(self) -> AsyncIterator[ConformanceEnv]:
        async for env in _env(market_open=True):
            yield env


@pytest.mark.timeout(60)
class TestAlpacaConformanceMarketClosed(BrokerClientConformance):
    """The guarantees that hold while the market is closed (orders rest, the clock says closed)."""

    timeout_secs = 10.0

    @pytest.fixture
    async def env(self) -> AsyncIterator[ConformanceEnv]:
        async for env in _env(market_open=False):
            yield env
