"""Hands the subscriber's messages on one at a time, in order, with gaps caught up in place.

The SDK runs message listeners inside its frame handler, so the listener only queues; one task
awaits the handler for each message in arrival order. A gap in the subscription (an attach
without continuity, see ``app.intake.catch_up``) is queued too, at the point where it happened:
the messages published during it are read back and handed on before the live messages that
arrived after it, so a channel's messages reach the handler oldest first. The handler
de-duplicates by id, so a message both read back and delivered live runs once.

A catch-up that fails (history unreachable) is logged and kept; :meth:`Delivery.retry_failed`
queues it again (the subscriber calls it after each successful liveness check).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.intake.catch_up import CatchUp
from app.intake.messages import ReceivedMessage

__all__ = ["Delivery"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Gap:
    channel: str
    why: str


class Delivery:
    """The ordered hand-off of messages and gap catch-ups to ``on_message``.

    Args:
        on_message: Awaited once per message; an exception it raises is logged and the next
            message is still handed on.
        catch_up: Reads back what a gap missed; ``None`` only logs that messages may be lost.
        redact: Removes the key secret from error text before it is logged.
    """

    def __init__(
        self,
        on_message: Callable[[ReceivedMessage], Awaitable[None]],
        *,
        catch_up: CatchUp | None,
        redact: Callable[[str], str],
    ) -> None:
        self._on_message = on_message
        self._catch_up = catch_up
        self._redact = redact
        self._queue: asyncio.Queue[ReceivedMessage | _Gap] = asyncio.Queue()
        self._queued_gaps: set[str] = set()
        self._failed: dict[str, str] = {}  # channel -> why, for catch-ups to try again
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the hand-off task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ably-deliver")

    async def close(self) -> None:
        """Stop handing on (what is still queued is dropped)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def message(self, message: ReceivedMessage) -> None:
        """Queue a live message (called from the SDK's listener: must not block)."""
        self._queue.put_nowait(message)

    def gap(self, channel: str, *, why: str) -> None:
        """Queue a catch-up of ``channel`` here, unless one is already waiting."""
        if self._catch_up is None:
            logger.info("Ably channel %s: %s; nothing reads back what it missed", channel, why)
            return
        if channel not in self._queued_gaps:
            self._queued_gaps.add(channel)
            self._queue.put_nowait(_Gap(channel, why))

    def retry_failed(self) -> None:
        """Queue again every catch-up that failed."""
        failed, self._failed = self._failed, {}
        for channel, why in failed.items():
            self.gap(channel, why=f"{why}; retried after a failed catch-up")

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Gap):
                self._queued_gaps.discard(item.channel)
                for message in await self._missed(item):
                    await self._hand_on(message)
            else:
                if self._catch_up is not None:
                    self._catch_up.saw(item)
                await self._hand_on(item)

    async def _missed(self, gap: _Gap) -> list[ReceivedMessage]:
        assert self._catch_up is not None
        try:
            return await self._catch_up.missed(gap.channel, why=gap.why)
        except Exception as exc:  # history unreachable or refused: try again later
            logger.error(
                "Could not read the messages published on %s during a gap (%s): %s; "
                "retrying after the next liveness check",
                gap.channel,
                gap.why,
                self._redact(repr(exc)),
            )
            self._failed[gap.channel] = gap.why
            return []

    async def _hand_on(self, message: ReceivedMessage) -> None:
        try:
            await self._on_message(message)
        except Exception:  # a failing handler must not stop the hand-off
            logger.exception(
                "Handling Ably message %s on %s failed", message.message_id, message.channel
            )
