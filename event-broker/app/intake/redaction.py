"""Redaction of the Ably key in the SDK's own log records.

The SDK logs the websocket URL, whose query string carries the key, so while the subscriber
runs a filter on the ``ably``, ``websockets`` and HTTP loggers replaces the key secret (raw and
URL-quoted) with ``***``.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

__all__ = ["SecretRedactor"]


class SecretRedactor(logging.Filter):
    """Replace the key secret (raw and URL-quoted) in records of the SDK's loggers.

    A logger filter runs only for records created on that very logger, so it is added to every
    existing ``ably.*``/``websockets.*`` logger rather than to a parent.
    """

    _PREFIXES = ("ably", "websockets", "httpx", "httpcore")

    def __init__(self, api_key: SecretStr) -> None:
        super().__init__()
        key = api_key.get_secret_value()
        secret = key.split(":", 1)[1] if ":" in key else key
        forms = {key, secret, quote(key, safe=""), quote_plus(key), quote(secret, safe="")}
        forms.add(quote_plus(secret))
        self._needles = sorted((f for f in forms if f), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for needle in self._needles:
            text = text.replace(needle, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def _loggers(self) -> list[logging.Logger]:
        names = [
            name
            for name in list(logging.root.manager.loggerDict)
            if any(name == p or name.startswith(f"{p}.") for p in self._PREFIXES)
        ]
        return [logging.getLogger(name) for name in {*self._PREFIXES, *names}]

    def install(self) -> None:
        for each in self._loggers():
            if self not in each.filters:
                each.addFilter(self)

    def uninstall(self) -> None:
        for each in self._loggers():
            each.removeFilter(self)
