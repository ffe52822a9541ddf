"""One client connection of the fake server: its record, its key check and the frames sent on it.

:class:`Connection` is what the server keeps per websocket client; :func:`credentials_ok` checks
the key or token a client connects with. The builders make the frames the server sends:
CONNECTED (with the error 80008 of a refused resume), ATTACHED and a channel's MESSAGE frame;
:func:`replay` picks what a channel's history sends on attach (after the client's
``channelSerial`` on a resume, ``rewind`` otherwise). :func:`send_frame` writes one frame to a
client's websocket in the connection's format.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fake_ably_server.channel_history import ChannelHistory
from fake_ably_server.protocol import (
    FLAG_ATTACH_RESUME,
    FLAG_RESUMED,
    Action,
    encode_frame,
    error_body,
)

__all__ = [
    "Connection",
    "attached_frame",
    "connected_frame",
    "credentials_ok",
    "message_frame",
    "replay",
    "send_frame",
]


@dataclass
class Connection:
    """One websocket client: ids, frame format, resume outcome and attached channels.

    ``stalled``: the path to the client is dead while its socket stays open, so nothing is sent
    to it and nothing it sends is answered (a test control, :meth:`FakeAblyServer.stall`).
    """

    connection_id: str
    connection_key: str
    binary: bool
    resumed: bool
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    attached: set[str] = field(default_factory=set)
    stalled: bool = False


def credentials_ok(
    query: dict[str, str], api_key: str | None, token_valid: Callable[[str], bool]
) -> bool:
    """Whether the connect query's ``key`` is ``api_key`` or its ``accessToken`` is valid.

    Anything is accepted when ``api_key`` is ``None``.
    """
    if api_key is None:
        return True
    if "key" in query:
        return secrets.compare_digest(query["key"], api_key)
    token = query.get("accessToken")
    return token is not None and (secrets.compare_digest(token, api_key) or token_valid(token))


def connected_frame(
    connection_id: str, connection_key: str, max_idle_interval_ms: int, recovery_failed: bool
) -> dict[str, Any]:
    """CONNECTED for a new or resumed connection; ``recovery_failed`` adds error 80008."""
    connected: dict[str, Any] = {
        "action": Action.CONNECTED,
        "connectionId": connection_id,
        "connectionDetails": {
            "connectionKey": connection_key,
            "maxIdleInterval": max_idle_interval_ms,
            "connectionStateTtl": 120000,
            "clientId": "*",
        },
    }
    if recovery_failed:
        connected["error"] = error_body(80008, 400, "Unable to recover connection")
    return connected


def attached_frame(channel: str, resumed: bool, serial: int, params: object) -> dict[str, Any]:
    """ATTACHED for ``channel``, with the RESUMED flag and the ATTACH's ``params`` echoed."""
    attached: dict[str, Any] = {
        "action": Action.ATTACHED,
        "channel": channel,
        "flags": FLAG_RESUMED if resumed else 0,
        "channelSerial": str(serial),
    }
    if params:
        attached["params"] = params
    return attached


def message_frame(
    channel: str,
    messages: list[dict[str, Any]],
    proto_id: str,
    connection_id: str,
    timestamp_ms: int | None,
    serial: int,
) -> dict[str, Any]:
    """A channel MESSAGE frame; ``timestamp_ms=None`` stamps it with the current time."""
    return {
        "action": Action.MESSAGE,
        "channel": channel,
        "id": proto_id,
        "connectionId": connection_id,
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "channelSerial": str(serial),
        "messages": messages,
    }


def replay(
    history: ChannelHistory, channel: str, frame: dict[str, Any], resumed: bool
) -> list[dict[str, Any]]:
    """Frames sent after ATTACHED for the ATTACH ``frame``.

    On a resume, the messages after the client's ``channelSerial``; on a first attach (no
    ATTACH_RESUME flag), those its ``rewind`` param asks for; nothing otherwise: Ably applies
    rewind to the initial attachment only.
    """
    if resumed:
        try:
            since = int(frame.get("channelSerial") or 0)
        except ValueError:
            return []
        return history.after_serial(channel, since)
    params = frame.get("params") or {}
    rewind = str(params.get("rewind", "")) if isinstance(params, dict) else ""
    if rewind and int(frame.get("flags") or 0) & FLAG_ATTACH_RESUME == 0:
        return history.rewind(channel, rewind)
    return []


async def send_frame(ws: web.WebSocketResponse, frame: dict[str, Any], *, binary: bool) -> None:
    """Encode ``frame`` for the connection's format and send it; a closed peer is skipped."""
    if ws.closed:
        return
    payload = encode_frame(frame, binary=binary)
    # The peer may vanish between the check and the write; that is a drop, not a bug here.
    with contextlib.suppress(ConnectionError, RuntimeError):
        if isinstance(payload, bytes):
            await ws.send_bytes(payload)
        else:
            await ws.send_str(payload)
