"""Options that point the real ``ably`` SDK at a fake (or any non-default) endpoint.

ably-python 3.1.4 builds the websocket URL as ``ws(s)://<endpoint>?...`` and ignores the ``port``
option for realtime, so the port must be inside ``endpoint``. An endpoint containing ``.``,
``::`` or ``localhost`` is used verbatim and gets no fallback hosts (so the SDK never makes its
blocking internet-up check). Use ``127.0.0.1``, not ``localhost``, so it does not try ``::1``.

Proxy caveat: websockets 15 honours ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` for ``ws://``
and the SDK does not turn that off. With a proxy variable set, loopback needs
``NO_PROXY=127.0.0.1,localhost``; :func:`ensure_loopback_bypasses_proxy` adds it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "TEST_TIMEOUTS_MS",
    "ensure_loopback_bypasses_proxy",
    "realtime_options",
    "rest_options",
]

# Millisecond SDK timeouts short enough for tests (defaults: 10000, 15000, 30000, 15000).
TEST_TIMEOUTS_MS: dict[str, int] = {
    "realtime_request_timeout": 2000,
    "disconnected_retry_timeout": 500,
    "suspended_retry_timeout": 500,
    "channel_retry_timeout": 500,
}


def realtime_options(
    endpoint: str, *, binary: bool = False, fast_timeouts: bool = True
) -> dict[str, Any]:
    """Keyword arguments for ``AblyRealtime(key, **options)`` against a plain-ws endpoint.

    Args:
        endpoint: ``host:port`` of the fake, e.g. ``FakeAblyServer.endpoint``.
        binary: ``True`` for msgpack frames (the SDK default), ``False`` for JSON.
        fast_timeouts: Merge :data:`TEST_TIMEOUTS_MS`.

    Returns:
        ``endpoint``, ``tls=False``, ``use_binary_protocol`` and, optionally, the short timeouts.
    """
    options: dict[str, Any] = {"endpoint": endpoint, "tls": False, "use_binary_protocol": binary}
    if fast_timeouts:
        options.update(TEST_TIMEOUTS_MS)
    return options


def rest_options(endpoint: str, *, key: str | None = None, binary: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``AblyRest(**options)`` against the fake over plain http.

    REST builds ``http://<endpoint>:<port>``, so host and port are split here. The SDK refuses
    basic (key) auth over plain http (40103), so with ``key`` the client uses token auth: it
    signs a token request with the key and the fake issues the token, as Ably does. Without
    ``key`` a dummy bearer token is sent, which only a fake without ``api_key`` accepts.

    Args:
        endpoint: ``host:port`` of the fake, e.g. ``FakeAblyServer.endpoint``.
        key: The API key the fake was given (``appId.keyId:secret``), if any.
        binary: ``True`` for msgpack bodies (the SDK default), ``False`` for JSON.
    """
    host, _, port = endpoint.rpartition(":")
    options: dict[str, Any] = {
        "endpoint": host,
        "port": int(port),
        "tls": False,
        "use_binary_protocol": binary,
    }
    if key is None:
        options["token"] = "fake-token"
    else:
        options.update(key=key, use_token_auth=True)
    return options


def ensure_loopback_bypasses_proxy() -> None:
    """Add ``127.0.0.1`` and ``localhost`` to ``NO_PROXY``/``no_proxy`` (process-wide)."""
    for name in ("NO_PROXY", "no_proxy"):
        present = [h.strip() for h in os.environ.get(name, "").split(",") if h.strip()]
        for host in ("127.0.0.1", "localhost"):
            if host not in present:
                present.append(host)
        os.environ[name] = ",".join(present)
