"""Pacing: TWS's message rate limit and the historical data (HMDS) request limits."""

from __future__ import annotations

import collections
import time
from collections.abc import Hashable

from ib_gateway_sim.scenario import FaultSpec

__all__ = ["HistoryPacer", "MessagePacer"]


class MessagePacer:
    """At most ``pacing_limit_per_sec`` messages in any one-second window.

    One pacer per connection (``pacing_scope: client``) or one for the whole gateway
    (``gateway``): IB documents 50 messages per second without saying whether it counts per
    API client or per TWS session.
    """

    def __init__(self) -> None:
        self._recent: collections.deque[float] = collections.deque()

    def admit(self, limit: int) -> bool:
        """Count one message; False when it exceeds ``limit`` (it is then not counted)."""
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        if len(self._recent) >= limit:
            return False
        self._recent.append(now)
        return True

    def clear(self) -> None:
        """Forget the window (after the limit was switched off)."""
        self._recent.clear()


class HistoryPacer:
    """IB's historical data pacing, gateway-wide: no identical request within
    ``historical_identical_window_secs`` and at most ``historical_pacing_max_requests`` in
    ``historical_pacing_window_secs`` (IB: 15 s, 60 per 10 minutes)."""

    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque()
        self._last_seen: dict[Hashable, float] = {}

    def admit(self, key: Hashable, faults: FaultSpec) -> bool:
        """Count a request; False when it violates pacing (it is then not counted)."""
        if not faults.historical_pacing:
            return True
        now = time.monotonic()
        while self._times and now - self._times[0] >= faults.historical_pacing_window_secs:
            self._times.popleft()
        last = self._last_seen.get(key)
        if last is not None and now - last < faults.historical_identical_window_secs:
            return False
        if len(self._times) >= faults.historical_pacing_max_requests:
            return False
        self._times.append(now)
        self._last_seen[key] = now
        return True

    def clear(self) -> None:
        """Forget every request (a gateway restart or reset)."""
        self._times.clear()
        self._last_seen.clear()
