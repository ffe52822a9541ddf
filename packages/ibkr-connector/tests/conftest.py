"""Fixtures: the IB Gateway simulator, connected IBKRClients, a local allocations API, and a
guard that fails any test in which ib_async logged an unexpected error (decoder errors above
all)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from ib_gateway_sim import GatewaySimulator
from ib_gateway_sim.pytest_plugin import (  # noqa: F401  (fixtures, registered by import)
    allowed_ib_errors,
    fail_on_ib_async_errors,
    scenario,
    sim,
)
from ibkr_connector import IBKRClient, IBKRConnectionConfig
from ibkr_connector.testing import API_KEY, AllocationsAPI, MakeClient, dumps_document


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


@pytest.fixture
async def allocations_api() -> AsyncIterator[AllocationsAPI]:
    """A real aiohttp server on 127.0.0.1 serving ``GET /{strategy}/allocations``."""
    api = AllocationsAPI()

    async def handler(request: web.Request) -> web.Response:
        api.requests.append(dict(request.headers))
        if api.hang:
            await api.release.wait()
        if api.statuses:
            status = api.statuses.pop(0)
            if status != 200:
                return web.Response(status=status, text=f"status {status}")
        if request.headers.get("x-api-key") != API_KEY:
            return web.Response(status=401, text='{"error": "bad key"}')
        document = api.documents.get(request.match_info["strategy"])
        if document is None:
            return web.Response(status=404, text='{"error": "unknown strategy"}')
        text = document if isinstance(document, str) else dumps_document(document)
        return web.Response(text=text, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/{strategy}/allocations", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield api
    finally:
        api.release.set()
        await runner.cleanup()
