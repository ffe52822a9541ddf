"""Opt-in pytest fixtures: ``pytest_plugins = ["fake_ably_server.pytest_plugin"]``.

Nothing is registered globally; a conftest that wants these names lists the plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fake_ably_server.client_options import ensure_loopback_bypasses_proxy
from fake_ably_server.server import FakeAblyServer

__all__ = ["TEST_API_KEY", "fake_ably"]

TEST_API_KEY = "fakeapp.fakekey:not-a-real-secret"


@pytest.fixture
async def fake_ably() -> AsyncIterator[FakeAblyServer]:
    """A started fake on an ephemeral port that accepts only :data:`TEST_API_KEY`."""
    ensure_loopback_bypasses_proxy()
    server = FakeAblyServer(api_key=TEST_API_KEY)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
