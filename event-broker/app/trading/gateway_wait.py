"""Waiting for a broker that cannot be reached (IB Gateway's nightly restart, a network cut).

A worker whose broker refuses connections, or whose connection drops during a run, tries again
with backoff until its budget (``GATEWAY_RETRY_SECS``, counted over the whole run) runs out or
the regular close comes (``app.runs.market_hours.retry_deadline``), whichever is first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from broker_connector_base import BrokerClient, BrokerConnectionError

from app.runs.market_hours import retry_deadline

__all__ = ["RetryBudget", "connect_within"]

logger = logging.getLogger(__name__)

_FIRST_PAUSE_SECS = 1.0
_MAX_PAUSE_SECS = 30.0


@dataclass
class RetryBudget:
    """How long one run may still wait for its broker, in all.

    Attributes:
        total_secs: The run's allowance (``GATEWAY_RETRY_SECS``).
        spent_secs: What waiting has used up so far.
    """

    total_secs: float
    spent_secs: float = 0.0
    waits: int = field(default=0)

    def deadline(self) -> float:
        """The monotonic instant waiting must end: the rest of the budget, or the close."""
        now = datetime.now(UTC)
        until = retry_deadline(now, max(self.total_secs - self.spent_secs, 0.0))
        return time.monotonic() + max((until - now).total_seconds(), 0.0)


async def connect_within(client: BrokerClient, budget: RetryBudget, what: str) -> None:
    """Connect ``client``; while the broker cannot be reached, wait and try again.

    Args:
        client: The (disconnected) client.
        budget: The run's waiting allowance; what this call waits is charged to it.
        what: The account and run, for the log.

    Raises:
        BrokerConnectionError: Still unreachable when the budget or the session ran out.
    """
    started = time.monotonic()
    deadline = budget.deadline()
    pause = _FIRST_PAUSE_SECS
    try:
        while True:
            try:
                await client.connect()
                return
            except BrokerConnectionError as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrokerConnectionError(
                        f"{exc}; gave up waiting for the broker after "
                        f"{time.monotonic() - started:.0f} s (GATEWAY_RETRY_SECS "
                        f"{budget.total_secs:g}, never past the regular close)"
                    ) from exc
                budget.waits += 1
                logger.warning(
                    "%s: the broker cannot be reached (%s); trying again in %.0f s",
                    what,
                    exc,
                    min(pause, left),
                )
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, _MAX_PAUSE_SECS)
    finally:
        budget.spent_secs += time.monotonic() - started
