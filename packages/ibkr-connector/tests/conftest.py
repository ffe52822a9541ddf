"""Fixtures: the IB Gateway simulator, connected IBKRClients, a local allocations API (from
``rebalance_engine.pytest_plugin``), and a guard that fails any test in which ib_async logged an
unexpected error (decoder errors above all)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ib_gateway_sim import GatewaySimulator
from ib_gateway_sim.pytest_plugin import (  # noqa: F401  (fixtures, registered by import)
    allowed_ib_errors,
    fail_on_ib_async_errors,
    scenario,
    sim,
)
from ibkr_connector import IBKRClient, IBKRConnectionConfig
from ibkr_connector.testing import MakeClient
from rebalance_engine.pytest_plugin import allocations_api  # noqa: F401  (fixture)


@pytest.fixture
async def make_client(sim: GatewaySimulator, tmp_path: Path) -> AsyncIterator[MakeClient]:
    """Connected clients against ``sim`` (disconnected at teardown)."""
    clients: list[IBKRClient] = []

    async def make(client_id: int = 11, connect: bool = True, **config: Any) -> IBKRClient:
        settings: dict[str, Any] = {
            "client_id": client_id,
            "port": sim.port,
            "connect_timeout_secs": 2.0,
            "request_timeout_secs": 5.0,
            "connect_retries": 0,
            "connect_backoff_secs": 0.05,
            "data_dir": tmp_path / "data",
        }
        settings.update(config)
        client = IBKRClient(IBKRConnectionConfig(**settings))
        clients.append(client)
        if connect:
            await client.connect()
        return client

    yield make
    for client in clients:
        await client.disconnect()


@pytest.fixture
async def client(make_client: MakeClient) -> IBKRClient:
    """One connected client."""
    return await make_client()
