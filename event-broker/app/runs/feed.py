"""Live run progress inside the daemon: run started, order placed or changed, run finished.

``RunFeed`` is a ``RunListener`` of the trading executor, so every run is seen whatever
started it (a signal, the API). Orders are recorded by the worker processes straight into the
journal, so while runs are in progress the feed reads their orders back every
``poll_interval_secs`` and publishes each new order and each change of status or fill. A run's
orders are read once more when it ends, before ``run_finished`` is published, so a subscriber
always sees the final state of every order before the end of its run.

Subscribers (the API's Server-Sent Events) get a bounded queue each; one that does not keep up
loses its oldest events rather than slowing the daemon. Plain callbacks (metrics) are called
synchronously with every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from app.models import AccountExecutionResult, RunMode
from app.store.journal import JournalOrder
from app.store.queries import JournalReader, source_of_channel

__all__ = ["RunEvent", "RunEventKind", "RunFeed", "Subscription"]

logger = logging.getLogger(__name__)

RunEventKind = Literal["run_started", "order", "run_finished"]

_QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class RunEvent:
    """One step of a run; ``data`` is JSON-ready (decimals as text)."""

    kind: RunEventKind
    run_id: str
    account_id: str
    data: dict[str, Any]
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def _order_data(order: JournalOrder) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "symbol": order.symbol,
        "side": order.side,
        "quantity": abs(order.quantity),
        "price": order.price,
        "status": order.status,
        "filled_quantity": None if order.filled_quantity is None else abs(order.filled_quantity),
        "avg_fill_price": order.avg_fill_price,
        "strategies": None
        if order.attribution is None
        else {name: str(share) for name, share in sorted(order.attribution.shares.items())},
    }


class Subscription:
    """Events for one subscriber, in order; iterate with ``async for``.

    Ends when the feed closes. Missed events (the subscriber fell behind) are counted in
    ``dropped``.
    """

    def __init__(self, account_id: str | None) -> None:
        self.account_id = account_id
        self.dropped = 0
        self._events: deque[RunEvent | None] = deque()
        self._ready = asyncio.Event()

    def put(self, event: RunEvent | None) -> None:
        if event is not None and self.account_id not in (None, event.account_id):
            return
        if len(self._events) >= _QUEUE_LIMIT:
            self._events.popleft()
            self.dropped += 1
        self._events.append(event)
        self._ready.set()

    async def next(self, timeout_secs: float) -> RunEvent | None:
        """The next event, or ``None`` after ``timeout_secs`` without one.

        Raises:
            StopAsyncIteration: The feed closed.
        """
        if not self._events:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_secs):
                    await self._ready.wait()
        if not self._events:
            return None
        event = self._events.popleft()
        if event is None:
            raise StopAsyncIteration
        return event


class RunFeed:
    """Publishes run events to subscribers and callbacks.

    Args:
        reader: Reads the orders the workers journal.
        poll_interval_secs: How often the orders of runs in progress are read.
    """

    def __init__(self, reader: JournalReader, *, poll_interval_secs: float = 0.1) -> None:
        self.reader = reader
        self.poll_interval_secs = poll_interval_secs
        self._subscribers: set[Subscription] = set()
        self._callbacks: list[Callable[[RunEvent], None]] = []
        self._active: dict[str, str] = {}  # run id -> account id
        self._seen: dict[str, dict[int, tuple[Any, ...]]] = {}  # run id -> order key -> state
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        """How many subscribers are listening now."""
        return len(self._subscribers)

    def add_callback(self, callback: Callable[[RunEvent], None]) -> None:
        """Call ``callback`` with every event (it must be quick and never raise)."""
        self._callbacks.append(callback)

    @contextlib.asynccontextmanager
    async def subscribe(self, account_id: str | None = None) -> AsyncIterator[Subscription]:
        """Receive the events published while the block runs (of one account when given)."""
        subscription = Subscription(account_id)
        if self._closed:
            subscription.put(None)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    # -- RunListener ---------------------------------------------------------------------

    def run_started(
        self, *, run_id: str, account_id: str, mode: RunMode, event_row: int | None
    ) -> None:
        """Publish the start and read the run's orders until it ends."""
        channel = None if event_row is None else self.reader.channel_of_event(event_row)
        self._active[run_id] = account_id
        self._seen[run_id] = {}
        self._publish(
            RunEvent(
                "run_started",
                run_id,
                account_id,
                {"mode": mode, "source": source_of_channel(channel), "channel": channel},
            )
        )
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name="run-feed")

    def run_finished(self, result: AccountExecutionResult) -> None:
        """Publish the run's last order changes, then its end."""
        if result.run_id in self._active:
            self._publish_orders(result.run_id, result.account_id)
        self._active.pop(result.run_id, None)
        self._seen.pop(result.run_id, None)
        data = {
            "mode": result.mode,
            "status": result.status,
            "success": result.success,
            "error": result.error,
            "trades": len(result.trades),
            "orders": sum(1 for t in result.trades if t.order_id is not None),
            "duration_secs": round(result.duration_secs, 3),
        }
        self._publish(RunEvent("run_finished", result.run_id, result.account_id, data))

    # -- internals -----------------------------------------------------------------------

    def _publish(self, event: RunEvent) -> None:
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:  # a broken listener must not stop a run being reported
                logger.exception("Run feed callback failed on %s", event.kind)
        for subscription in self._subscribers:
            subscription.put(event)

    def _publish_orders(self, run_id: str, account_id: str) -> None:
        seen = self._seen.setdefault(run_id, {})
        for seq, order in enumerate(self.reader.orders(run_id)):
            state = (order.order_id, order.status, order.filled_quantity, order.avg_fill_price)
            if seen.get(seq) == state:
                continue
            seen[seq] = state
            self._publish(RunEvent("order", run_id, account_id, _order_data(order)))

    async def _poll(self) -> None:
        while self._active and not self._closed:
            for run_id, account_id in list(self._active.items()):
                try:
                    self._publish_orders(run_id, account_id)
                except Exception:  # the journal is busy or gone: try again next time
                    logger.warning("Run feed could not read the orders of run %s", run_id)
            await asyncio.sleep(self.poll_interval_secs)

    async def close(self) -> None:
        """End every subscription and stop reading orders."""
        self._closed = True
        for subscription in self._subscribers:
            subscription.put(None)
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
