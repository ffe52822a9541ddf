"""Logging configuration for the entry points (daemon, CLI, worker, demo).

Libraries only emit; these functions are called once, by ``main``, ``cli`` and ``worker``.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["WORKER_LINE_SEPARATOR", "configure_logging", "parse_worker_line"]

WORKER_LINE_SEPARATOR = "|"
"""Separates the level from the message in a worker's stderr line (``INFO|...``)."""

_DAEMON_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", *, worker_context: str | None = None) -> None:
    """Send log records to stderr.

    Args:
        level: Level name (``DEBUG``, ``INFO``, ...); unknown names fall back to ``INFO``.
        worker_context: In a worker process, the ``account=... run=...`` tag put on every
            line; the lines are ``LEVEL|tag name: message`` so the daemon can re-log them at
            their level (see ``parse_worker_line``).
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

    Lines without a level prefix (a traceback's continuation, or stray output of a library)
    keep ``previous_level``.
    """
    head, sep, rest = line.partition(WORKER_LINE_SEPARATOR)
    if sep:
        level = logging.getLevelName(head)
        if isinstance(level, int):
            return level, rest
    return previous_level, line
