"""A local fake Ably realtime server that the real ``ably`` SDK connects to."""

from fake_ably_server.client_options import (
    TEST_TIMEOUTS_MS,
    ensure_loopback_bypasses_proxy,
    realtime_options,
    rest_options,
)
from fake_ably_server.protocol import Action
from fake_ably_server.server import FakeAblyServer, InboundFrame

__version__ = "1.0.0"

__all__ = [
    "TEST_TIMEOUTS_MS",
    "Action",
    "FakeAblyServer",
    "InboundFrame",
    "__version__",
    "ensure_loopback_bypasses_proxy",
    "realtime_options",
    "rest_options",
]
