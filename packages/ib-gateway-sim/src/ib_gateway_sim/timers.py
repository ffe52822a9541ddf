"""Wall-clock timers of the simulator's faults (``drop_connections_at``, ``restart_at``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable


class FaultTimers:
    """Named one-shot timers at wall-clock instants.

    An instant fires once: setting other faults later re-arms the timers, and an instant
    already in the past would otherwise fire again at once.
    """

    def __init__(self) -> None:
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._fired: dict[str, dt.datetime] = {}

    def at(self, name: str, when: dt.datetime | None, action: Callable[[], None]) -> None:
        """Run ``action`` at ``when`` (replacing the timer of that name; None cancels it)."""
        self.cancel(name)
        if when is None or self._fired.get(name) == when:
            return
        delay = max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)
        self._handles[name] = asyncio.get_running_loop().call_later(
            delay, self._fire, name, when, action
        )

    def after(self, name: str, delay_secs: float, action: Callable[[], None]) -> None:
        """Run ``action`` in ``delay_secs`` (replacing the timer of that name)."""
        self.cancel(name)
        self._handles[name] = asyncio.get_running_loop().call_later(delay_secs, action)

    def _fire(self, name: str, when: dt.datetime, action: Callable[[], None]) -> None:
        self._handles.pop(name, None)
        self._fired[name] = when
        action()

    def cancel(self, name: str) -> None:
        """Cancel one timer if it is pending."""
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def forget_fired(self) -> None:
        """Let instants that already fired fire again (after a reset)."""
        self._fired.clear()

    def cancel_all(self) -> None:
        """Cancel every pending timer."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
