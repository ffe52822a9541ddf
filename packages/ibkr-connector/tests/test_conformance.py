"""The base package's conformance suite: IBKRClient over real ib_async against the simulator."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from broker_connector_base.conformance import BrokerClientConformance, BrokerFaults, ConformanceEnv
from ib_gateway_sim import GatewaySimulator, Scenario
from ibkr_connector import IBKRClient, IBKRConnectionConfig
from ibkr_connector.testing import ACCOUNT

# What ib_async logs at ERROR when the suite provokes it: the simulator dropping the
# connection, and a connect to a port nothing listens on. Anything else still fails a test.
PROVOKED = [r"^Peer closed connection\.$", r"^API connection failed", r"^Make sure API port"]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _faults(sim: GatewaySimulator, tmp_path: Path) -> BrokerFaults:
    def unreachable() -> IBKRClient:
        return IBKRClient(
            IBKRConnectionConfig(
                client_id=22,
                port=_closed_port(),
                connect_timeout_secs=1,
                connect_retries=1,
                connect_backoff_secs=0.05,
                data_dir=tmp_path,
            )
        )

    return BrokerFaults(
        reject_orders=lambda symbol: sim.set_faults(reject_symbols=[symbol]),
        # The simulator splits every fill in two and stops after the first part (for every
        # symbol, which the suite allows).
        fill_partially=lambda symbol: sim.set_faults(
            partial_fill_parts=2, partial_fill_stop_after=1
        ),
        drop_connection=sim.drop_connections,
        unreachable_client=unreachable,
    )


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
                faults=_faults(sim, tmp_path),
                close_auction=sim.close_auction,
            )
        finally:
            await client.disconnect()


@pytest.mark.timeout(60)
class TestIBKRConformanceMarketOpen(BrokerClientConformance):
    """Every guarantee, with fills (the simulator's market is always open)."""

    timeout_secs = 10.0

    @pytest.fixture
    def allowed_ib_errors(self) -> list[str]:
        return PROVOKED

    @pytest.fixture
    async def env(self, tmp_path: Path) -> AsyncIterator[ConformanceEnv]:
        async for env in _env(tmp_path, market_open=True):
            yield env


@pytest.mark.timeout(60)
class TestIBKRConformanceMarketClosed(BrokerClientConformance):
    """The guarantees that hold while the market is closed (orders rest, hours say closed)."""

    timeout_secs = 10.0

    @pytest.fixture
    def allowed_ib_errors(self) -> list[str]:
        return PROVOKED

    @pytest.fixture
    async def env(self, tmp_path: Path) -> AsyncIterator[ConformanceEnv]:
        async for env in _env(tmp_path, market_open=False):
            yield env
