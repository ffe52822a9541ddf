"""State the Ably subscriber keeps beside its connection: log redaction and seen message ids.

- :class:`SecretRedactor` replaces the Ably key secret in the records of the SDK's loggers (the
  SDK logs the websocket URL, whose query string carries the key).
- :class:`SeenMessageStore` keeps the ids of handled messages in a small SQLite file, so a
  message delivered twice (resume replay, rewind, a publisher retry) is handled once, also
  across daemon restarts.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_plus

from broker_connector_base.exceptions import InvalidInputError
from pydantic import SecretStr

__all__ = ["SecretRedactor", "SeenMessageStore"]


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


class SeenMessageStore:
    """Ids of handled messages in SQLite, newest ``max_entries`` kept (insertion order)."""

    def __init__(self, path: Path, *, max_entries: int) -> None:
        self._max_entries = max(1, max_entries)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)  # autocommit: one row a write
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS seen_messages (message_id TEXT PRIMARY KEY,"
                " channel TEXT NOT NULL, seen_at_ms INTEGER NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise InvalidInputError(
                f"cannot open the Ably de-duplication database: {exc}", str(path)
            ) from exc

    def add(self, message_id: str, channel: str, now_ms: int) -> bool:
        """Record ``message_id``; ``False`` if it was already recorded."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO seen_messages VALUES (?, ?, ?)", (message_id, channel, now_ms)
        )
        if cursor.rowcount == 0:
            return False
        # rowids grow with insertion, so everything at or below the (max+1)-th newest goes.
        self._db.execute(
            "DELETE FROM seen_messages WHERE rowid <= (SELECT rowid FROM seen_messages"
            " ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
            (self._max_entries,),
        )
        return True

    def close(self) -> None:
        self._db.close()
