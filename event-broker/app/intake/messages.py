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

from broker_connector_base.exceptions import InvalidInputError

__all__ = ["ReceivedMessage", "decode_message_data", "stale_reason"]

_MAX_DATA_CHARS = 65_536
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
    holding JSON; binary publishes deliver ``bytes``/``bytearray`` holding UTF-8 JSON.

    Raises:
        InvalidInputError: Any other type, undecodable text, invalid JSON, a non-object JSON
            value or more than 64 KiB of text. The message names the value and ``source``.
    """
    if isinstance(data, dict):
        return {str(key): value for key, value in data.items()}
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"message data is not UTF-8 text: {_preview(data)}", source
            ) from exc
    if not isinstance(data, str):
        raise InvalidInputError(
            f"message data must be a JSON object, got {type(data).__name__}: {_preview(data)}",
            source,
        )
    if len(data) > _MAX_DATA_CHARS:
        raise InvalidInputError(f"message data is longer than {_MAX_DATA_CHARS} chars", source)
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"message data is not valid JSON ({exc.msg}): {_preview(data)}", source
        ) from exc
    if not isinstance(parsed, dict):
        raise InvalidInputError(
            f"message data must be a JSON object, got {type(parsed).__name__}: {_preview(data)}",
            source,
        )
    return parsed


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _PREVIEW_CHARS else f"{text[:_PREVIEW_CHARS]}...(truncated)"
