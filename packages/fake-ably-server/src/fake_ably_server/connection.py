"""One client connection of the fake server: its record, its key check and the frames sent on it.

:class:`Connection` is what the server keeps per websocket client; :func:`credentials_ok` checks
the key a client connects with. The builders make the frames the server sends: CONNECTED (with
the error 80008 of a refused resume), ATTACHED, a channel's MESSAGE frame, and the frames a
channel's history replays on attach (after the client's ``channelSerial`` on a resume,
``rewind=N`` otherwise). :func:`send_frame` writes one frame to a client's websocket in the
connection's format.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

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
    """One websocket client: ids, frame format, resume outcome and attached channels."""

    connection_id: str
    connection_key: str
    binary: bool
    resumed: bool
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    attached: set[str] = field(default_factory=set)


def credentials_ok(query: dict[str, str], api_key: str | None) -> bool:
    """Whether the connect query's ``key`` (or ``accessToken``) is ``api_key``; any if ``None``."""
    if api_key is None:
        return True
    presented = query.get("key", query.get("accessToken"))
    return presented is not None and secrets.compare_digest(presented, api_key)


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
    history: list[dict[str, Any]], frame: dict[str, Any], resumed: bool
) -> list[dict[str, Any]]:
    """Messages after the client's ``channelSerial`` on a resume; ``rewind=N`` otherwise."""
    if resumed:
        try:
            since = int(frame.get("channelSerial") or 0)
        except ValueError:
            return []
        return [m for m in history if int(m["channelSerial"]) > since]
    params = frame.get("params") or {}
    rewind = str(params.get("rewind", "")) if isinstance(params, dict) else ""
    if rewind.isdigit() and int(frame.get("flags") or 0) & FLAG_ATTACH_RESUME == 0:
        return history[-int(rewind) :] if int(rewind) else []
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
