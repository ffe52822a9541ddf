"""Fixtures for the fake's own tests: the package's opt-in plugin fixture and the SDK helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from ably import AblyRealtime, AblyRest
from fake_ably_server import FakeAblyServer, realtime_options, rest_options
from fake_ably_server.pytest_plugin import TEST_API_KEY, fake_ably

__all__ = ["Sdk", "fake_ably", "sdk"]


class Sdk:
    """The real ably SDK's clients on a fake, and waits on what they receive."""

    @staticmethod
    @asynccontextmanager
    async def realtime(
        server: FakeAblyServer, *, key: str = TEST_API_KEY, binary: bool = False, **extra: Any
    ) -> AsyncIterator[Any]:
        """An ``AblyRealtime`` client on ``server`` (short timeouts), closed afterwards."""
        options = {**realtime_options(server.endpoint, binary=binary), **extra}
        client = AblyRealtime(key, **options)
        try:
            yield client
        finally:
            await client.close()

    @staticmethod
    @asynccontextmanager
    async def rest(
        server: FakeAblyServer, *, key: str = TEST_API_KEY, binary: bool = False
    ) -> AsyncIterator[Any]:
        """An ``AblyRest`` client on ``server`` with the key (token auth), closed afterwards."""
        client = AblyRest(**rest_options(server.endpoint, key=key, binary=binary))
        try:
            yield client
        finally:
            await client.close()

    @staticmethod
    async def subscribe_queue(client: Any, channel: str, **options: Any) -> asyncio.Queue[Any]:
        """Subscribe to ``channel`` (``options``: ``ChannelOptions`` keywords); messages queued."""
        received: asyncio.Queue[Any] = asyncio.Queue()
        await client.channels.get(channel, **options).subscribe(received.put_nowait)
        return received

    @staticmethod
    def next_event(emitter: Any, event: str) -> asyncio.Future[Any]:
        """A future for the emitter's next ``event`` (the SDK rejects builtins as listeners)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        emitter.once(event, lambda change: None if future.done() else future.set_result(change))
        return future

    @staticmethod
    async def next_message(queue: asyncio.Queue[Any]) -> Any:
        """The next queued message, failing after 5 s."""
        return await asyncio.wait_for(queue.get(), 5)


@pytest.fixture
def sdk() -> Sdk:
    """The SDK helpers (test modules cannot import conftest under importlib mode)."""
    return Sdk()
