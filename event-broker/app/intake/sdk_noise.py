"""Keep the Ably SDK's own asyncio loose ends out of the error log.

When a connection fails, or a client is closed while it is still connecting, ably-python 3.1
leaves loose ends that Python reports at ERROR with a traceback, none of them actionable:

- its state-change waiters (``EventEmitter.once_async``) set a result on a future whose waiter
  gave up (a timeout of ours), and its emitter logs the ``InvalidStateError``;
- fire-and-forget tasks of its own fail or are dropped half-way, for example
  ``WebSocketTransport.close()`` on a transport that never connected raises a bare
  ``Exception()``, and ``ConnectionManager.connect_base()`` is freed while still pending.

The daemon judges the connection itself (pings and channel states, see ``AblyService``) and
reports what matters there. So the first kind is logged at DEBUG; an SDK task's exception
becomes one WARNING line without a traceback; an SDK task freed while pending, DEBUG. Anything
that does not come from the SDK's own code goes to the loop's previous handler unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import ably

__all__ = ["quiet_sdk_loose_ends", "sdk_coroutine_name"]

logger = logging.getLogger(__name__)

_SDK_DIR = Path(ably.__file__).resolve().parent
_EMITTER_LOGGER = "ably.util.eventemitter"


def sdk_coroutine_name(task: object) -> str | None:
    """Qualified name of the SDK coroutine a task runs, or ``None`` when it is not the SDK's."""
    get_coro = getattr(task, "get_coro", None)
    coro = get_coro() if callable(get_coro) else None
    code = getattr(coro, "cr_code", None)
    if code is None or not Path(code.co_filename).resolve().is_relative_to(_SDK_DIR):
        return None
    return str(getattr(coro, "__qualname__", code.co_name))


class _AbandonedWaitFilter(logging.Filter):
    """Drops the emitter's ``InvalidStateError`` records (logged again at DEBUG, one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, asyncio.InvalidStateError):
            logger.debug("Ably SDK: a state change reached a wait that had given up (ignored)")
            return False
        return True


_FILTER = _AbandonedWaitFilter()


class _LoopHandler:
    """A loop exception handler for SDK tasks; everything else goes to ``previous``."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        task = context.get("future") or context.get("task")
        name = sdk_coroutine_name(task)
        if name is None:
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        error = context.get("exception")
        if error is None:
            logger.debug("Ably SDK task %s: %s (ignored)", name, context.get("message"))
        else:
            logger.warning(
                "Ably SDK task %s failed: %r (ignored; the connection is watched separately)",
                name,
                error,
            )


def quiet_sdk_loose_ends(loop: asyncio.AbstractEventLoop) -> None:
    """Install both on ``loop`` and the SDK's emitter logger; calling it again does nothing."""
    emitter = logging.getLogger(_EMITTER_LOGGER)
    if _FILTER not in emitter.filters:
        emitter.addFilter(_FILTER)
    current = loop.get_exception_handler()
    if not isinstance(current, _LoopHandler):
        loop.set_exception_handler(_LoopHandler(current))
