"""What the Ably subscriber hands over, and how a handler reads the message data.

:class:`ReceivedMessage` is one message as the SDK delivered it (live, or read back from the
channel's history after a gap); :func:`stale_reason` says whether it is too old to run;
:func:`decode_message_data` turns its data (a ``dict``, JSON text or UTF-8 JSON bytes, depending
on how it was published) into a JSON object, refusing anything else with a message that names
the value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from broker_connector_base.documents import decode_utf8, parse_json
from broker_connector_base.exceptions import InvalidInputError

from app.intake.sdk_decoding import UndecodableData

__all__ = ["MAX_EVENT_BYTES", "ReceivedMessage", "decode_message_data", "stale_reason"]

MAX_EVENT_BYTES = 65_536
"""Largest event accepted, as JSON text, however it was published (Ably's own limit)."""
_DOCUMENT = "message data"
_PREVIEW_CHARS = 120


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the SDK delivered it, tagged with its channel.

    ``stale`` is why it was too old to run when it reached the daemon (``None``: fresh); such a
    message is journalled, never run. ``recovered``: read back from the channel's history after
    a gap in the subscription, not delivered live.
    """

    channel: str
    message_id: str | None
    name: str | None
    data: object  # dict, str or bytes/bytearray, exactly as the SDK decoded it
    timestamp_ms: int | None
    stale: str | None = None
    recovered: bool = False


def stale_reason(timestamp_ms: int | None, *, max_age_secs: float, now_ms: int) -> str | None:
    """Why a message published at ``timestamp_ms`` is too old to run now; ``None`` if it is not.

    A message without a timestamp is judged fresh: Ably always sets one.
    """
    if timestamp_ms is None:
        return None
    age_secs = (now_ms - timestamp_ms) / 1000
    if age_secs <= max_age_secs:
        return None
    return f"published {age_secs:.0f} s ago (limit {max_age_secs:g} s)"


def decode_message_data(data: object, *, source: str) -> dict[str, object]:
    """Turn message data into a JSON object.

    SDK publishers deliver a ``dict``; raw publishes (CLI, dashboard, curl) deliver a ``str``
    holding JSON; binary publishes deliver ``bytes``/``bytearray`` holding UTF-8 JSON. The size
    limit is the same whichever way the data came: a ``dict`` is measured as the JSON text it
    was sent as.

    Raises:
        InvalidInputError: Any other type, data the SDK could not decode with its encoding,
            undecodable text, invalid JSON (duplicate keys and ``NaN`` included), a non-object
            JSON value or more than ``MAX_EVENT_BYTES``. The message names the value and
            ``source``.
    """
    if isinstance(data, UndecodableData):
        raise InvalidInputError(data.describe(), source)
    if isinstance(data, dict):
        _check_size(_json_size(data, source), source)
        return {str(key): value for key, value in data.items()}
    if isinstance(data, bytes | bytearray):
        data = decode_utf8(
            bytes(data), document=_DOCUMENT, source=source, max_bytes=MAX_EVENT_BYTES
        )
    if not isinstance(data, str):
        raise InvalidInputError(
            f"{_DOCUMENT} must be a JSON object, got {type(data).__name__}: {_preview(data)}",
            source,
        )
    _check_size(len(data.encode("utf-8", "surrogatepass")), source)
    parsed = parse_json(data, document=_DOCUMENT, source=source)
    if not isinstance(parsed, dict):
        raise InvalidInputError(
            f"{_DOCUMENT} must be a JSON object, got {type(parsed).__name__}: {_preview(data)}",
            source,
        )
    return parsed


def _json_size(data: dict[object, object], source: str) -> int:
    try:
        return len(json.dumps(data, default=str).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{_DOCUMENT} is not JSON data: {exc}", source) from None


def _check_size(size: int, source: str) -> None:
    if size > MAX_EVENT_BYTES:
        raise InvalidInputError(
            f"{_DOCUMENT} is {size} bytes, more than the limit of {MAX_EVENT_BYTES}", source
        )


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _PREVIEW_CHARS else f"{text[:_PREVIEW_CHARS]}...(truncated)"
