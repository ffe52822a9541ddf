"""``ApiServer``: uvicorn serving the app inside the daemon's event loop.

The listening socket is bound here, before the server starts, so a taken port or a bad
address is a clear error at start-up (uvicorn itself would log it and exit the process), and
the port answers as soon as ``start`` returns. The daemon owns SIGTERM/SIGINT: uvicorn's own
signal handlers are not installed. Proxy headers are not trusted (nothing sits in front; the
remote address is what the failed-key limit counts), and uvicorn's access log is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

__all__ = ["ApiBindError", "ApiServer"]

logger = logging.getLogger(__name__)

_GRACEFUL_SHUTDOWN_SECS = 5


class ApiBindError(OSError):
    """The API's address cannot be listened on (port taken, address not on this host)."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The daemon's loop handles SIGTERM/SIGINT and stops this server itself.
        yield


class ApiServer:
    """Serves ``app`` on ``host:port`` (port 0: any free port, see ``port``).

    Args:
        app: The ASGI app (``create_app``).
        host: Address to listen on.
        port: Port to listen on.
    """

    def __init__(self, app: FastAPI, *, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port listened on (after ``start``)."""
        if self._socket is None:
            return self.requested_port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://host:port``, brackets around an IPv6 address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _bind(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(
                self.host, self.requested_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise ApiBindError(f"API_HOST {self.host!r} cannot be used: {exc}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise ApiBindError(
                f"cannot listen on {self.host}:{self.requested_port} (API_HOST/API_PORT): "
                f"{exc.strerror or exc}"
            ) from None
        sock.setblocking(False)
        return sock

    async def start(self) -> None:
        """Listen and serve in the background.

        Raises:
            ApiBindError: The address cannot be listened on.
        """
        self._socket = self._bind()
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            lifespan="off",
            ws="none",
            # httptools (llhttp, C) rather than h11 (pure Python): bench/api.py measured a third
            # less CPU per request, which on 2 shared cores is most of the tail latency.
            http="httptools",
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECS,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve([self._socket]), name="api-server")
        logger.info("API and dashboard on %s (docs at %s/docs)", self.url, self.url)

    async def stop(self) -> None:
        """Stop taking connections, let answers in progress finish (5 s at most), close."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), _GRACEFUL_SHUTDOWN_SECS + 2)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._socket is not None:
            self._socket.close()
