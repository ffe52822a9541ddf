"""Fixtures: the Alpaca stand-in and connected ``AlpacaClient``s on the real alpaca-py SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.pytest_plugin import (  # noqa: F401  (fixtures, registered by import)
    EXAMPLE_ACCOUNT,
    alpaca_scenario,
    alpaca_sim,
)
from alpaca_connector import AlpacaClient
from alpaca_connector.testing import MakeClient, stand_in_config


@pytest.fixture
async def make_client(alpaca_sim: AlpacaApiSimulator) -> AsyncIterator[MakeClient]:
    """Clients on the stand-in, connected unless ``connect=False`` (disconnected at teardown)."""
    clients: list[AlpacaClient] = []

    async def make(
        account: str = EXAMPLE_ACCOUNT, *, connect: bool = True, **overrides: Any
    ) -> AlpacaClient:
        config = stand_in_config(alpaca_sim.base_url, alpaca_sim.credentials(account), **overrides)
        client = AlpacaClient(config)
        clients.append(client)
        if connect:
            await client.connect()
        return client

    yield make
    for client in clients:
        await client.disconnect()


@pytest.fixture
async def client(make_client: MakeClient) -> AlpacaClient:
    """A connected client of the example cash account."""
    return await make_client()
