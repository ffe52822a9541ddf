"""Shared fixtures: a running simulator, connected real ib_async clients, decoder-error guard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from ib_async import IB, Trade
from ib_gateway_sim import GatewaySimulator
from ib_gateway_sim.pytest_plugin import (  # noqa: F401  (fixtures, registered by import)
    allowed_ib_errors,
    fail_on_ib_async_errors,
    scenario,
    sim,
)

Connect = Callable[..., Awaitable[IB]]


@pytest.fixture
async def connect(sim: GatewaySimulator) -> AsyncIterator[Connect]:
    """Factory: connect a real ib_async.IB to the simulator; disconnects at teardown."""
    clients: list[IB] = []

    async def _connect(client_id: int = 1, **kwargs: Any) -> IB:
        ib = IB()
        clients.append(ib)
        kwargs.setdefault("timeout", 5)
        await ib.connectAsync("127.0.0.1", sim.port, clientId=client_id, **kwargs)
        return ib

    yield _connect
    for ib in clients:
        ib.disconnect()


@pytest.fixture
def ib_errors() -> Callable[[IB], list[tuple[int, int, str]]]:
    """Attach an errorEvent recorder to a client: returns the live list of (reqId, code, text)."""

    def _attach(ib: IB) -> list[tuple[int, int, str]]:
        seen: list[tuple[int, int, str]] = []

        def _on_error(req_id: int, code: int, text: str, contract: Any) -> None:
            seen.append((req_id, code, text))

        ib.errorEvent += _on_error
        return seen

    return _attach


TradeUntil = Callable[..., Awaitable[None]]


async def _trade_until(
    trade: Trade, predicate: Callable[[Trade], bool], timeout_secs: float = 5.0
) -> None:
    if predicate(trade):
        return
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _on_status(changed: Trade) -> None:
        if predicate(changed) and not future.done():
            future.set_result(None)

    trade.statusEvent += _on_status
    try:
        await asyncio.wait_for(future, timeout_secs)
    finally:
        trade.statusEvent -= _on_status


@pytest.fixture
def trade_until() -> TradeUntil:
    """``await trade_until(trade, predicate)``: wait on the trade's status events."""
    return _trade_until
