"""The realtime side of the fake: one websocket session per client, its frames answered.

:class:`RealtimeEndpoint` accepts the SDK's websocket on ``/`` (key or token checked), sends
CONNECTED (a resume honoured or refused), answers ATTACH (with the RESUMED flag and the replay
of ``connection.replay``), DETACH, HEARTBEAT pings, CLOSE and client publishes, and sends a
channel's new messages to every connection attached to it. The server's options and test
controls live on :class:`~fake_ably_server.server.FakeAblyServer`, read here at each use so a
test can change them while clients are connected.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from fake_ably_server.connection import (
    Connection,
    attached_frame,
    connected_frame,
    credentials_ok,
    replay,
    send_frame,
)
from fake_ably_server.protocol import FLAG_ATTACH_RESUME, Action, decode_frame, error_body

if TYPE_CHECKING:
    from fake_ably_server.server import FakeAblyServer

__all__ = ["ClientPublish", "InboundFrame", "RealtimeEndpoint"]

logger = logging.getLogger(__name__)

ClientPublish = Callable[[str, list[dict[str, Any]], str, str, int | None], Awaitable[str]]
"""``(channel, messages, protocol message id, connection id, timestamp_ms) -> message id``."""


@dataclass(frozen=True)
class InboundFrame:
    """A protocol message a client sent, as recorded for assertions."""

    connection_id: str
    frame: dict[str, Any]


class RealtimeEndpoint:
    """Websocket sessions of one fake server.

    Args:
        server: Whose options, history and recorders the sessions use.
        notify: Awaited after each change a test may wait for.
        publish: Appends a client's publish to the channel and fans it out.
    """

    def __init__(
        self,
        server: FakeAblyServer,
        *,
        notify: Callable[[], Awaitable[None]],
        publish: ClientPublish,
    ) -> None:
        self._server = server
        self._notify = notify
        self._publish = publish
        self.connections: dict[str, Connection] = {}
        self.connect_count = 0
        self.attach_counts: dict[str, int] = defaultdict(int)
        self._sessions: dict[str, str] = {}  # connectionKey -> connectionId, kept across restarts

    async def send(self, conn: Connection, frame: dict[str, Any]) -> None:
        """Send ``frame`` to ``conn`` unless its path is stalled."""
        if not conn.stalled:
            await send_frame(conn.ws, frame, binary=conn.binary)

    async def fan_out(self, channel: str, frame: dict[str, Any]) -> None:
        """Send ``frame`` to every connection attached to ``channel``."""
        for conn in list(self.connections.values()):
            if channel in conn.attached:
                await self.send(conn, frame)

    def _token_valid(self, token: str) -> bool:
        return self._server.tokens.token_valid(token, now_ms=int(time.time() * 1000))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="websocket upgrade expected\n")
        await ws.prepare(request)
        query = dict(request.query)
        self._server.request_queries.append(query)
        binary = query.get("format") == "msgpack"
        if not credentials_ok(query, self._server.api_key, self._token_valid):
            frame = {"action": Action.ERROR, "error": error_body(40101, 401, "Invalid key")}
            await send_frame(ws, frame, binary=binary)
            await ws.close()
            return ws
        conn = await self._open_connection(query, ws, request.transport, binary)
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    frame = decode_frame(msg.data)
                except ValueError:
                    logger.warning("Fake Ably server: undecodable frame %r", msg.data)
                    continue
                self._server.inbound.append(InboundFrame(conn.connection_id, frame))
                if not conn.stalled:
                    await self._dispatch(conn, frame)
                await self._notify()
        finally:
            if self.connections.get(conn.connection_id) is conn:
                del self.connections[conn.connection_id]
        return ws

    async def _open_connection(
        self,
        query: dict[str, str],
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        binary: bool,
    ) -> Connection:
        resume_key = query.get("resume")
        refused = self._server.refuse_resume
        resumed = resume_key is not None and resume_key in self._sessions and not refused
        if resumed and resume_key is not None:
            conn_id, conn_key = self._sessions[resume_key], resume_key
        else:
            conn_id = secrets.token_hex(6)
            conn_key = f"{conn_id}!{secrets.token_hex(6)}"
            self._sessions[conn_key] = conn_id
        conn = Connection(conn_id, conn_key, binary, resumed, ws, transport)
        old = self.connections.pop(conn_id, None)
        if old is not None and old.transport is not None:
            old.transport.abort()
        self.connections[conn_id] = conn
        recovery_failed = resume_key is not None and not resumed
        await self.send(
            conn,
            connected_frame(conn_id, conn_key, self._server.max_idle_interval_ms, recovery_failed),
        )
        self.connect_count += 1
        await self._notify()
        return conn

    async def _dispatch(self, conn: Connection, frame: dict[str, Any]) -> None:
        action = frame.get("action")
        channel = str(frame.get("channel", ""))
        if action == Action.HEARTBEAT and "id" in frame:
            await self.send(conn, {"action": Action.HEARTBEAT, "id": frame["id"]})
        elif action == Action.ATTACH:
            await self._attach(conn, channel, frame)
        elif action == Action.DETACH:
            conn.attached.discard(channel)
            await self.send(conn, {"action": Action.DETACHED, "channel": channel})
        elif action == Action.MESSAGE:
            await self._client_publish(conn, channel, frame)
        elif action == Action.CLOSE:
            await self.send(conn, {"action": Action.CLOSED})
            await conn.ws.close()

    async def _attach(self, conn: Connection, channel: str, frame: dict[str, Any]) -> None:
        if self._server.withhold_attach:
            return
        params = frame.get("params")
        resumed = conn.resumed and bool(int(frame.get("flags") or 0) & FLAG_ATTACH_RESUME)
        conn.attached.add(channel)
        await self.send(
            conn, attached_frame(channel, resumed, self._server.channel_serial(channel), params)
        )
        self.attach_counts[channel] += 1
        for missed in replay(self._server.channel_history, channel, frame, resumed):
            await self.send(conn, missed)

    async def _client_publish(self, conn: Connection, channel: str, frame: dict[str, Any]) -> None:
        messages = list(frame.get("messages") or [])
        serial = frame.get("msgSerial", 0)
        await self.send(conn, {"action": Action.ACK, "msgSerial": serial, "count": 1})
        await self._publish(
            channel, messages, f"{conn.connection_id}:{serial}", conn.connection_id, None
        )
