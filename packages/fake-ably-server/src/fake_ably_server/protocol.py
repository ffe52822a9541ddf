"""Ably realtime protocol constants and frame codecs, as spoken by ably-python 3.1.4."""

from __future__ import annotations

import base64
import json
from enum import IntEnum
from typing import Any

import msgpack  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "FLAG_ATTACH_RESUME",
    "FLAG_RESUMED",
    "Action",
    "decode_frame",
    "encode_frame",
    "error_body",
    "json_safe_message",
    "wire_message",
]

# ATTACH flag the client sets on a re-attach; ATTACHED flag the server sets when it kept
# continuity.
FLAG_ATTACH_RESUME = 1 << 5
FLAG_RESUMED = 1 << 2


class Action(IntEnum):
    """Protocol message actions (``ProtocolMessageAction`` in the SDK)."""

    HEARTBEAT = 0
    ACK = 1
    NACK = 2
    CONNECT = 3
    CONNECTED = 4
    DISCONNECT = 5
    DISCONNECTED = 6
    CLOSE = 7
    CLOSED = 8
    ERROR = 9
    ATTACH = 10
    ATTACHED = 11
    DETACH = 12
    DETACHED = 13
    PRESENCE = 14
    MESSAGE = 15


def error_body(code: int, status_code: int, message: str) -> dict[str, Any]:
    """An ``error`` object; the SDK raises ``TypeError`` unless code and statusCode are both set."""
    return {"code": code, "statusCode": status_code, "message": message}


def wire_message(data: object, *, name: str | None, encoding: str | None) -> dict[str, Any]:
    """Build one message entry for a MESSAGE frame from a test's ``publish`` arguments.

    A ``dict``/``list`` is sent as official SDKs send it (a JSON string with ``encoding: "json"``)
    unless an explicit ``encoding`` is given, in which case ``data`` goes on the wire unchanged.
    A ``str`` goes raw (the SDK delivers a ``str``); ``bytes`` go as binary (the SDK delivers a
    ``bytearray``). ``encoding`` is never sent as ``null``: the SDK drops such frames.
    """
    entry: dict[str, Any] = {}
    if name is not None:
        entry["name"] = name
    if isinstance(data, dict | list) and encoding is None:
        entry["data"] = json.dumps(data, separators=(",", ":"))
        entry["encoding"] = "json"
        return entry
    entry["data"] = bytes(data) if isinstance(data, bytes | bytearray) else data
    if encoding:
        entry["encoding"] = encoding
    return entry


def json_safe_message(message: dict[str, Any]) -> dict[str, Any]:
    """JSON cannot carry bytes: send them base64 with ``base64`` appended to the encoding."""
    data = message.get("data")
    if not isinstance(data, bytes | bytearray):
        return message
    safe = dict(message)
    safe["data"] = base64.b64encode(bytes(data)).decode("ascii")
    previous = message.get("encoding")
    safe["encoding"] = f"{previous}/base64" if previous else "base64"
    return safe


def encode_frame(frame: dict[str, Any], *, binary: bool) -> str | bytes:
    """Serialise a protocol message in the format the connection asked for."""
    if binary:
        packed: bytes = msgpack.packb(frame, use_bin_type=True)
        return packed
    if "messages" in frame:
        frame = {**frame, "messages": [json_safe_message(m) for m in frame["messages"]]}
    return json.dumps(frame, separators=(",", ":"))


def decode_frame(raw: str | bytes) -> dict[str, Any]:
    """Parse an inbound frame (JSON text or msgpack binary) into a dict.

    Raises:
        ValueError: The frame is not a protocol message object.
    """
    decoded = json.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw, raw=False)
    if not isinstance(decoded, dict):
        raise ValueError(f"protocol frame is not an object: {decoded!r}")
    return decoded
