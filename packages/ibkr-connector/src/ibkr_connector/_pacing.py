"""What the connector does when IB says it sends too fast (error 100), instead of failing.

IB allows about 50 API messages per second (per client or per gateway session: IB does not say
which) and answers the excess with error 100, dropping the message. ib_async throttles each
client to ``client.MaxRequests`` per second (45) but knows nothing of the other clients of the
same gateway (the daemon runs several accounts at once). On error 100 the connector lowers this
client's rate, pauses with backoff and sends the request again; only the message IB dropped is
repeated, and an order only after checking that IB never took it (``_orders``).

``Pacing`` is the seam: a limiter shared by every client of one gateway (and a circuit breaker)
can replace it without touching the call sites.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from broker_connector_base import RateLimitError
from ib_async import IB

__all__ = ["Pacing"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass
class Pacing:
    """Backoff and rate reduction after IB's pacing error 100.

    Attributes:
        attempts: How many times one operation is tried in all (the first try included).
        first_pause_secs: Pause before the second try; doubled for each further one.
        max_pause_secs: Longest pause.
        min_rate_per_sec: ib_async's throttle is halved on each error 100, never below this.
    """

    attempts: int = 6
    first_pause_secs: float = 0.25
    max_pause_secs: float = 4.0
    min_rate_per_sec: int = 5

    def slow_down(self, ib: IB, context: str) -> None:
        """Halve the rate ib_async lets this client send at (``client.MaxRequests``)."""
        current = ib.client.MaxRequests or type(ib.client).MaxRequests
        slower = max(self.min_rate_per_sec, current // 2)
        if slower < current:
            logger.warning(
                "IB pacing (error 100) while %s: slowing this client from %d to %d messages/s",
                context,
                current,
                slower,
            )
        ib.client.MaxRequests = slower

    async def pause(self, attempt: int) -> None:
        """Wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        await asyncio.sleep(min(self.first_pause_secs * 2 ** (attempt - 1), self.max_pause_secs))

    async def run(self, ib: IB, context: str, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``operation`` (a read: safe to repeat), again after each pacing error.

        Raises:
            RateLimitError: Still paced out after ``attempts`` tries.
        """
        attempt = 1
        while True:
            try:
                return await operation()
            except RateLimitError:
                if attempt >= self.attempts:
                    raise
                self.slow_down(ib, context)
                await self.pause(attempt)
                attempt += 1
