"""A local fake Ably realtime server for the real ``ably`` SDK.

One aiohttp server (on 127.0.0.1 unless told otherwise) serves the realtime websocket on ``/``
(``fake_ably_server.realtime``) and Ably's REST routes plus test controls
(``fake_ably_server.rest``), over one store of channel messages
(``fake_ably_server.channel_history``). What it speaks is taken from ably-python 3.1.4 (see the
package README for the protocol notes it relies on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from typing import Any

from aiohttp import web

from fake_ably_server.channel_history import DEFAULT_RETENTION_SECS, ChannelHistory
from fake_ably_server.connection import message_frame
from fake_ably_server.protocol import Action, error_body, wire_message
from fake_ably_server.realtime import InboundFrame, RealtimeEndpoint
from fake_ably_server.rest_auth import TokenIssuer

__all__ = ["FakeAblyServer", "InboundFrame"]

logger = logging.getLogger(__name__)

_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


class FakeAblyServer:
    """Fake Ably realtime endpoint on ``127.0.0.1`` for tests, the demo and benches.

    Args:
        host: Address to listen on. Only the container checks use another one
            (``0.0.0.0`` inside a container on a private network); it has no TLS.
        port: TCP port; ``0`` picks a free one (read it from ``.port`` after ``start()``).
        api_key: When set, a client presenting another key (or none) gets a connection ERROR
            40101 and is closed. ``None`` accepts any credentials.
        max_idle_interval_ms: ``maxIdleInterval`` sent in CONNECTED; ``0`` disables the SDK's
            idle timer. Use a small value with ``heartbeat_every_secs=None`` to test idle drops.
        heartbeat_every_secs: Send ``{"action": 0}`` to every client this often.
        refuse_resume: Answer every ``resume=`` with a new connection id and error 80008.
        withhold_attach: Record ATTACH frames but never answer them.
        history_max: Publishes kept per channel for replay, rewind and REST history (oldest
            dropped).
        history_retention_secs: How long a message stays in history (by its timestamp): Ably
            keeps 120 s without persisted history, hours or days with it.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        max_idle_interval_ms: int = 0,
        heartbeat_every_secs: float | None = None,
        refuse_resume: bool = False,
        withhold_attach: bool = False,
        history_max: int = 10_000,
        history_retention_secs: float = DEFAULT_RETENTION_SECS,
    ) -> None:
        self.api_key = api_key
        self.max_idle_interval_ms = max_idle_interval_ms
        self.heartbeat_every_secs = heartbeat_every_secs
        self.refuse_resume = refuse_resume
        self.withhold_attach = withhold_attach
        self.channel_history = ChannelHistory(
            retention_secs=history_retention_secs, max_frames=history_max
        )
        self.tokens = TokenIssuer()
        self.inbound: list[InboundFrame] = []
        self.request_queries: list[dict[str, str]] = []
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._serial: dict[str, int] = defaultdict(int)
        self._changed = asyncio.Condition()
        self._realtime = RealtimeEndpoint(
            self, notify=self._notify, publish=self._append_and_fan_out
        )
        # Random per server instance so message ids stay unique across fake restarts.
        self._publisher_id = f"fake-{secrets.token_hex(4)}"
        self._message_seq = 0

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one after ``start()`` with ``port=0``)."""
        return self._port

    @property
    def endpoint(self) -> str:
        """``host:port`` for the SDK's ``endpoint`` option (the port must be inside it).

        The host is 127.0.0.1 when the server listens on every address.
        """
        host = "127.0.0.1" if self._host in _ANY_ADDRESS else self._host
        return f"{host}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._runner is not None

    async def start(self) -> None:
        """Bind and serve; after ``stop()`` this binds the same port again."""
        if self._runner is not None:
            return
        # Imported here: rest.py imports this module for type hints only.
        from fake_ably_server.rest import add_rest_routes

        app = web.Application()
        app.router.add_get("/", self._realtime.handle)
        add_rest_routes(app, self)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        server = site._server  # aiohttp exposes no public accessor for the bound socket
        if self._port == 0 and isinstance(server, asyncio.Server):
            self._port = server.sockets[0].getsockname()[1]
        self._runner = runner
        if self.heartbeat_every_secs:
            self._heartbeat_task = asyncio.create_task(self._heartbeat_loop())
        logger.info("Fake Ably server listening on %s", self.endpoint)

    async def stop(self) -> None:
        """Abort every client connection and stop listening (an outage)."""
        if self._runner is None:
            return
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        await self.drop_all(abrupt=True)
        runner, self._runner = self._runner, None
        await runner.cleanup()
        logger.info("Fake Ably server on port %s stopped", self._port)

    async def __aenter__(self) -> FakeAblyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- test controls ---------------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        """Open client connections right now."""
        return len(self._realtime.connections)

    @property
    def connect_count(self) -> int:
        """CONNECTED frames sent since the server object was created."""
        return self._realtime.connect_count

    def attach_count(self, channel: str) -> int:
        """ATTACHED frames sent for ``channel`` since the server object was created."""
        return self._realtime.attach_counts[channel]

    def history(self, channel: str) -> list[dict[str, Any]]:
        """The MESSAGE protocol frames still retained on ``channel``, oldest first."""
        return self.channel_history.frames(channel)

    def channel_serial(self, channel: str) -> int:
        """The ``channelSerial`` of the last publish on ``channel`` (0 before any)."""
        return self._serial[channel]

    async def publish(
        self,
        channel: str,
        data: object,
        *,
        name: str | None = None,
        id: str | None = None,
        encoding: str | None = None,
        timestamp_ms: int | None = None,
    ) -> str:
        """Publish one message to every client attached to ``channel``; return its id.

        ``data`` may be a ``dict`` (sent as SDKs send it: delivered as ``dict``), a raw ``str``
        (delivered as ``str``), a JSON string with ``encoding="json"`` (delivered as ``dict``)
        or ``bytes`` (delivered as ``bytearray``).
        """
        entry = wire_message(data, name=name, encoding=encoding)
        if id is not None:
            entry["id"] = id
        self._message_seq += 1
        return await self._append_and_fan_out(
            channel,
            [entry],
            f"{self._publisher_id}:{self._message_seq}",
            self._publisher_id,
            timestamp_ms,
        )

    async def publish_raw(self, channel: str, messages: list[dict[str, Any]]) -> str:
        """Publish already-encoded Ably message dicts (as a REST publisher sends them)."""
        self._message_seq += 1
        proto_id = f"{self._publisher_id}:{self._message_seq}"
        return await self._append_and_fan_out(channel, messages, proto_id, self._publisher_id, None)

    async def drop_all(self, *, abrupt: bool = True) -> int:
        """Drop every client connection: TCP abort, or a clean websocket close (1001)."""
        connections = list(self._realtime.connections.values())
        for conn in connections:
            if abrupt and conn.transport is not None:
                conn.transport.abort()
            else:
                await conn.ws.close(code=1001, message=b"going away")
        return len(connections)

    def stall(self) -> int:
        """Every open connection goes silent with its socket left open; return how many.

        Nothing more is sent to them (messages, heartbeats, ping echoes) and nothing they send
        is answered, as when the network path dies without a reset: the SDK stays "connected"
        and only a ping times out. Messages published meanwhile still enter history. New
        connections are served normally.
        """
        stalled = [conn for conn in self._realtime.connections.values() if not conn.stalled]
        for conn in stalled:
            conn.stalled = True
        return len(stalled)

    def unstall(self) -> int:
        """Stalled connections are served again (what they missed is not re-sent)."""
        stalled = [conn for conn in self._realtime.connections.values() if conn.stalled]
        for conn in stalled:
            conn.stalled = False
        return len(stalled)

    async def send_disconnected(self, *, code: int = 80003, status_code: int = 400) -> None:
        """Send DISCONNECTED to every client (always a 4xx error: 5xx leaves the SDK deaf)."""
        frame = {"action": Action.DISCONNECTED, "error": error_body(code, status_code, "test")}
        for conn in list(self._realtime.connections.values()):
            await self._realtime.send(conn, frame)

    async def channel_error(
        self, channel: str, *, code: int = 40160, status_code: int = 401, message: str = "denied"
    ) -> None:
        """Send a channel ERROR to every client attached to ``channel`` (it goes FAILED)."""
        frame = {
            "action": Action.ERROR,
            "channel": channel,
            "error": error_body(code, status_code, message),
        }
        for conn in list(self._realtime.connections.values()):
            if channel in conn.attached:
                conn.attached.discard(channel)
                await self._realtime.send(conn, frame)

    async def wait_attached(
        self, channel: str, *, count: int = 1, timeout_secs: float = 10.0
    ) -> None:
        """Wait until ``count`` ATTACHED frames in total were sent for ``channel``."""
        await self._wait_for(lambda: self._realtime.attach_counts[channel] >= count, timeout_secs)

    async def wait_connected(self, *, count: int = 1, timeout_secs: float = 10.0) -> None:
        """Wait until ``count`` CONNECTED frames in total were sent."""
        await self._wait_for(lambda: self._realtime.connect_count >= count, timeout_secs)

    async def wait_inbound(
        self, action: int, *, count: int = 1, timeout_secs: float = 10.0
    ) -> None:
        """Wait until ``count`` inbound frames with ``action`` were recorded."""
        await self._wait_for(
            lambda: sum(1 for f in self.inbound if f.frame.get("action") == action) >= count,
            timeout_secs,
        )

    # -- internals -------------------------------------------------------------------------

    async def _wait_for(self, predicate: Any, timeout_secs: float) -> None:
        async with asyncio.timeout(timeout_secs), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _append_and_fan_out(
        self,
        channel: str,
        messages: list[dict[str, Any]],
        proto_id: str,
        connection_id: str,
        timestamp_ms: int | None,
    ) -> str:
        self._serial[channel] += 1
        frame = message_frame(
            channel, messages, proto_id, connection_id, timestamp_ms, self._serial[channel]
        )
        self.channel_history.append(channel, frame)
        await self._realtime.fan_out(channel, frame)
        first = messages[0].get("id") if messages else None
        return str(first) if first else f"{proto_id}:0"

    async def _heartbeat_loop(self) -> None:
        assert self.heartbeat_every_secs is not None
        while True:
            await asyncio.sleep(self.heartbeat_every_secs)
            for conn in list(self._realtime.connections.values()):
                await self._realtime.send(conn, {"action": Action.HEARTBEAT})
