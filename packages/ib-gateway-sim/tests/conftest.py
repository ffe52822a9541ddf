"""Shared fixtures: a running simulator, connected real ib_async clients, decoder-error guard."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from ib_async import IB, Trade
from ib_gateway_sim import GatewaySimulator, Scenario

Connect = Callable[..., Awaitable[IB]]

# Server-sent error messages are logged by ib_async's wrapper as "Error <code>, reqId ...";
# tests trigger those on purpose. Anything else at ERROR (decoder exceptions, unknown reqIds,
# "No order found", request timeouts) means the simulator sent something wrong.
_SERVER_ERROR = re.compile(r"^(Error|Warning) -?\d+, reqId -?\d+")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def allowed_ib_errors() -> list[str]:
    """Regexes of ib_async ERROR log lines a test expects (e.g. "Peer closed connection")."""
    return []


@pytest.fixture(autouse=True)
def fail_on_ib_async_errors(allowed_ib_errors: list[str]) -> Iterator[None]:
    """Fail the test if ib_async logged an ERROR its decoder or client should never log."""
    collector = _Collector()
    root = logging.getLogger("ib_async")
    root.addHandler(collector)
    try:
        yield
    finally:
        root.removeHandler(collector)
    unexpected = []
    for record in collector.records:
        message = record.getMessage()
        if record.name != "ib_async.Decoder" and _SERVER_ERROR.match(message):
            continue
        if any(re.search(pattern, message) for pattern in allowed_ib_errors):
            continue
        unexpected.append(f"{record.name}: {message}")
    if unexpected:
        pytest.fail("ib_async logged errors:\n" + "\n".join(unexpected))


@pytest.fixture
def scenario() -> Scenario:
    """The built-in example scenario (two cash accounts, fifteen ETFs, always open)."""
    return Scenario.builtin("example")


@pytest.fixture
async def sim(scenario: Scenario) -> AsyncIterator[GatewaySimulator]:
    """A running simulator on an ephemeral loopback port."""
    async with GatewaySimulator(scenario) as simulator:
        yield simulator


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
