"""ib_async's sends paced by a ``GatewayRateLimiter`` shared with every process on the gateway.

ib_async throttles each connection to ``Client.MaxRequests`` messages per second, unaware of
the other connections of the same gateway session. With a shared limiter that throttle is
switched off (``MaxRequests = 0``) and every message goes through ``PacedSender``: in order,
at once when the shared window has room, else queued and sent when it has. ``SharedPacing``
is the connector's ``Pacing`` (what it does on error 100) for such a client: it lowers the
shared rate, for every process, instead of this connection's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ib_async import IB

from ibkr_connector._pacing import Pacing
from ibkr_connector.gateway_pacing import GatewayRateLimiter

__all__ = ["PacedSender", "SharedPacing"]

logger = logging.getLogger(__name__)


class PacedSender:
    """Sends ``ib``'s messages in order, each when ``limiter`` has room for it."""

    def __init__(self, ib: IB, limiter: GatewayRateLimiter) -> None:
        self.limiter = limiter
        self._client = ib.client
        self._send_now = ib.client.sendMsg
        self._queue: deque[str] = deque()
        self._timer: asyncio.TimerHandle | None = None
        ib.client.MaxRequests = 0  # this connection's own throttle: the shared one replaces it
        # An instance attribute shadows ib_async's method: every request goes through here.
        ib.client.sendMsg = self.send  # type: ignore[method-assign]
        ib.disconnectedEvent += self._clear

    @property
    def queued(self) -> int:
        """Messages waiting for room in the shared window."""
        return len(self._queue)

    def send(self, msg: str | None) -> None:
        """Queue ``msg`` (``None``: only flush) and send what the window lets through."""
        if msg:
            self._queue.append(msg)
        while self._queue:
            wait = self.limiter.reserve()
            if wait > 0:
                self._wake_in(wait)
                return
            self._send_now(self._queue.popleft())

    def _wake_in(self, secs: float) -> None:
        if self._timer is None or self._timer.cancelled():
            self._timer = asyncio.get_running_loop().call_later(secs, self._wake)

    def _wake(self) -> None:
        self._timer = None
        self.send(None)

    def _clear(self, *_: Any) -> None:
        # Messages for a connection that is gone are never sent on the next one.
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass
class SharedPacing(Pacing):
    """``Pacing`` of a client whose sends go through a shared limiter: error 100 halves the
    shared rate (every process of the gateway slows down), then backs off and retries."""

    limiter: GatewayRateLimiter | None = field(default=None)

    def slow_down(self, ib: IB, context: str) -> None:
        """Halve the gateway-wide rate (see ``GatewayRateLimiter.slow_down``)."""
        if self.limiter is None:
            super().slow_down(ib, context)
            return
        rate = self.limiter.slow_down()
        logger.warning(
            "IB pacing (error 100) while %s: the gateway's rate is now %d/s", context, rate
        )
