"""The realtime link's state as the health check sees it, and waiting for it to change.

The subscriber (``app.intake.subscriber``) works the state out from the SDK's connection and
channel states and its own watchdog's verdict, and reports it here on every change:

- ``connecting``: not subscribed yet (start-up);
- ``connected``: connected, every channel attached, and the link has proven itself since the
  watchdog's last failed check;
- ``reconnecting``: not connected with every channel attached (the SDK is resuming or
  retrying by itself, or the subscriber is replacing its client);
- ``dead``: the watchdog's last check failed (a ping unanswered, a channel that would not
  re-attach) and nothing has proven the link alive since;
- ``failed``: the connection failed for good (a refused key).

:class:`LinkHealth` also keeps since when the link has not been ``connected``, which the
daemon's status file carries for ``--check`` (``app.store.status``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

__all__ = ["LinkHealth", "LinkState"]

logger = logging.getLogger(__name__)

LinkState = Literal["connecting", "connected", "reconnecting", "dead", "failed"]


class LinkHealth:
    """The link's current state, since when it is down, and waiters for a change."""

    def __init__(self) -> None:
        self._state: LinkState = "connecting"
        self._down_since: float | None = time.time()
        self._waiters: list[tuple[frozenset[str], asyncio.Future[LinkState]]] = []

    @property
    def state(self) -> LinkState:
        """The state last reported."""
        return self._state

    @property
    def down_since(self) -> float | None:
        """Unix time since when the link has not been ``connected``; ``None`` while it is."""
        return self._down_since

    def report(self, state: LinkState) -> None:
        """Record the state just worked out; wakes the waiters when it differs."""
        if state == self._state:
            return
        if state == "connected":
            self._down_since = None
        elif self._down_since is None:
            self._down_since = time.time()
        if "dead" in (state, self._state):
            logger.log(
                logging.WARNING if state == "dead" else logging.INFO,
                "Realtime link %s (was %s)",
                state,
                self._state,
            )
        self._state = state
        waiting, self._waiters = self._waiters, []
        for wanted, future in waiting:
            if future.done():
                continue
            if state in wanted:
                future.set_result(state)
            else:
                self._waiters.append((wanted, future))

    async def wait_for(self, *states: LinkState, timeout_secs: float = 30.0) -> LinkState:
        """Wait until the state is one of ``states`` (now, or at a later report); return it.

        A state that lasts only until the next report still ends the wait.

        Raises:
            TimeoutError: It was not within ``timeout_secs``.
        """
        if self._state in states:
            return self._state
        future: asyncio.Future[LinkState] = asyncio.get_running_loop().create_future()
        self._waiters.append((frozenset(states), future))
        async with asyncio.timeout(timeout_secs):
            return await future
