"""TWS API framing and field formatting (server version 178).

Every message is a 4-byte big-endian length followed by NUL-terminated UTF-8 fields. The
formatters here never emit float artefacts: prices and quantities are ``Decimal`` and go out
in plain positional notation.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from decimal import Decimal

SERVER_VERSION = 178
"""The server version announced in the handshake; every layout in this package is for it."""

MIN_CLIENT_VERSION = 157

Field = str | int | Decimal | None


def fmt(value: Field) -> str:
    """Format one field: ``None`` is empty, Decimals are plain (no exponent), ints decimal."""
    if value.__class__ is str:
        return value  # the common case first, for speed
    if value is None:
        return ""
    if isinstance(value, bool):
        # ib_async reads booleans with bool(int(v)); "True" would raise.
        return "1" if value else "0"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return "0" if text in ("-0", "-0.0") else text
    return str(value)


def frame(fields: Sequence[Field]) -> bytes:
    """Encode one message: length prefix, then every field NUL-terminated (the last one too)."""
    payload = "".join(fmt(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


class FrameDecoder:
    """Incremental decoder for the client's byte stream (handles the ``API\\0`` prefix)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._seen_prefix = False

    def feed(self, data: bytes) -> list[list[str]]:
        """Add received bytes and return every complete message as its list of fields.

        The first message after the ``API\\0`` prefix is the version blob (``v157..178``),
        which is returned as a single field.
        """
        self._buffer.extend(data)
        messages: list[list[str]] = []
        if not self._seen_prefix:
            if len(self._buffer) < 4:
                return messages
            if bytes(self._buffer[:4]) != b"API\0":
                raise ValueError("client did not start with the API prefix")
            del self._buffer[:4]
            self._seen_prefix = True
        while len(self._buffer) >= 4:
            (length,) = struct.unpack(">I", self._buffer[:4])
            if len(self._buffer) < 4 + length:
                break
            payload = bytes(self._buffer[4 : 4 + length]).decode(errors="replace")
            del self._buffer[: 4 + length]
            fields = payload.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            messages.append(fields)
        return messages


def parse_client_versions(blob: str) -> tuple[int, int]:
    """Parse ``v157..178`` (optionally followed by connect options) into (min, max)."""
    text = blob.split(" ", 1)[0].lstrip("v")
    if ".." in text:
        low, high = text.split("..", 1)
        return int(low), int(high)
    return int(text), int(text)


def dec(text: str, default: Decimal | None = None) -> Decimal | None:
    """Parse a decimal field sent by the client; empty means unset (``default``)."""
    if text == "":
        return default
    value = Decimal(text)
    # ib_async sends UNSET_DOUBLE as "" but be lenient with TWS's literal sentinel.
    if value >= Decimal("1e300"):
        return default
    return value


def integer(text: str, default: int = 0) -> int:
    """Parse an integer field sent by the client; empty means ``default``."""
    if text == "":
        return default
    return int(Decimal(text))
