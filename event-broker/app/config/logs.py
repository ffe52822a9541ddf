"""Logging configuration for the entry points (daemon, CLI, worker, demo).

Libraries only emit; these functions are called once, by ``main``, ``cli`` and ``worker``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

if TYPE_CHECKING:
    from app.config.settings import AppConfig

__all__ = [
    "WORKER_LINE_SEPARATOR",
    "RedactingFilter",
    "configure_logging",
    "parse_worker_line",
    "secrets_of",
]

WORKER_LINE_SEPARATOR = "|"
"""Separates the level from the message in a worker's stderr line (``INFO|...``)."""

_DAEMON_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def secrets_of(config: AppConfig) -> list[SecretStr | None]:
    """Every secret in the settings, for ``configure_logging(secrets=...)``."""
    settings = config.settings
    alpaca = [
        secret
        for pair in settings.alpaca_account_keys.values()
        for secret in (pair.key_id, pair.secret_key)
    ]
    return [
        settings.realtime_api_key,
        settings.allocations_api_key,
        settings.api_key,
        *settings.notification_urls,
        settings.alpaca_api_key_id,
        settings.alpaca_api_secret_key,
        *alpaca,
    ]


class RedactingFilter(logging.Filter):
    """Replaces secret values in every formatted record with ``**********``.

    Catches the plain value and its URL-encoded forms: libraries log request URLs (the
    ``websockets`` client logs ``GET /?key=app.key%3Asecret`` at DEBUG).
    """

    def __init__(self, secrets: Iterable[SecretStr | None]) -> None:
        super().__init__()
        forms: set[str] = set()
        for secret in secrets:
            value = secret.get_secret_value() if secret is not None else ""
            if len(value) >= 4:  # never redact trivially short strings everywhere
                forms.update({value, quote(value, safe=""), quote_plus(value)})
        self._forms = sorted(forms, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._forms:
            return True
        message = record.getMessage()
        redacted = message
        for form in self._forms:
            redacted = redacted.replace(form, "**********")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(
    level: str = "INFO",
    *,
    worker_context: str | None = None,
    secrets: Iterable[SecretStr | None] = (),
) -> None:
    """Send log records to stderr.

    Args:
        level: Level name (``DEBUG``, ``INFO``, ...); unknown names fall back to ``INFO``.
        worker_context: In a worker process, the ``account=... run=...`` tag put on every
            line; the lines are ``LEVEL|tag name: message`` so the daemon can re-log them at
            their level (see ``parse_worker_line``).
        secrets: Values that must never appear in a log line (redacted by the handler).
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    if worker_context is None:
        fmt = _DAEMON_FORMAT
    else:
        tag = worker_context.replace("%", "%%")
        fmt = f"%(levelname)s{WORKER_LINE_SEPARATOR}{tag} %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # Third-party chatter (ib_async logs every wire message at DEBUG/INFO) stays at WARNING
    # unless the operator asks for DEBUG.
    if numeric > logging.DEBUG:
        for noisy in ("ib_async", "ably", "aiohttp", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def parse_worker_line(line: str, previous_level: int = logging.INFO) -> tuple[int, str]:
    """Split a worker's stderr line into its level and text.

    Lines without a level prefix (the continuation of a logged traceback, an uncaught
    exception printed by Python, stray output of a library) keep ``previous_level`` but are
    at least WARNING: whatever bypasses the worker's logging deserves to be seen.
    """
    head, sep, rest = line.partition(WORKER_LINE_SEPARATOR)
    if sep:
        level = logging.getLevelName(head)
        if isinstance(level, int):
            return level, rest
    return max(previous_level, logging.WARNING), line
