"""Message data the Ably SDK cannot decode becomes a value the daemon journals, not a crash.

ably-python 3.x decodes a message's data by its ``encoding`` (``json``, ``base64``,
``utf-8``, ...) inside its frame handler. Data that does not match its encoding (``encoding:
json`` with text that is not JSON, bad base64, bytes that are not UTF-8) raises out of that
handler: the whole protocol message, and every other message it carried, is dropped with a
log line of the SDK's, and nothing reaches the daemon, so nothing is journalled. A publisher's
mistake would vanish.

``install_safe_decoding`` wraps ``Message.decode`` (messages only, not presence or
annotations) so that such a failure returns ``UndecodableData`` as the message's data, naming
the encoding and the error. The message then arrives like any other and is refused by
``decode_message_data`` with that reason, journalled as malformed. The SDK's own errors
(``AblyException``: delta and cipher failures, which it recovers from itself) pass through.
"""

from __future__ import annotations

import binascii
import logging
from dataclasses import dataclass
from typing import Any

from ably.types.message import Message
from ably.util.exceptions import AblyException

__all__ = ["UndecodableData", "install_safe_decoding"]

logger = logging.getLogger(__name__)

_EXCERPT_CHARS = 120


@dataclass(frozen=True)
class UndecodableData:
    """Data that did not decode with the encoding it was published with."""

    encoding: str
    reason: str
    excerpt: str

    def describe(self) -> str:
        """One line for the journal: the encoding, the error and the start of the data."""
        return (
            f"message data does not decode as its encoding {self.encoding!r}: {self.reason}; "
            f"data {self.excerpt}"
        )


_original_decode: Any = None


def _excerpt(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "...(truncated)"


def _safe_decode(data: Any, encoding: str = "", cipher: Any = None, context: Any = None) -> Any:
    try:
        return _original_decode(data, encoding, cipher, context)
    except AblyException:
        raise
    except (ValueError, TypeError, binascii.Error) as exc:  # JSON, UTF-8 and base64 errors
        logger.warning("Ably message data does not decode as %r: %s", encoding, exc)
        reason = f"{type(exc).__name__}: {exc}"
        return {
            "encoding": encoding,
            "data": UndecodableData(encoding=encoding, reason=reason, excerpt=_excerpt(data)),
        }


def install_safe_decoding() -> None:
    """Wrap the SDK's message decoding (once per process; later calls do nothing)."""
    global _original_decode
    if _original_decode is not None:
        return
    _original_decode = Message.decode
    Message.decode = staticmethod(_safe_decode)
