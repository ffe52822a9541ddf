"""After a gap in the subscription, the messages a channel received meanwhile.

A gap is any attach without continuity: the first attach of every realtime client (the daemon
starting, or the watchdog replacing a dead client) and a re-attach that Ably did not resume
(resume refused, connection suspended). Ably redelivers nothing across such a gap, so the
daemon reads the channel's history (``app.intake.history``):

- from the newest publish time seen on the channel, by this process or, before it, recorded in
  the journal (the de-duplication store); with no record at all (a first start), from the
  staleness limit ago: anything older could not run anyway;
- messages whose id was seen before are skipped (the last one seen comes back, as history's
  start is inclusive); the others are handed on oldest first, marked ``recovered``, each judged
  against the staleness limit now (a stale one is journalled, never run);
- how many were recovered is logged, and why the catch-up ran.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime
from typing import Protocol

from app.intake.history import HistoryReader
from app.intake.messages import ReceivedMessage, stale_reason

__all__ = ["CatchUp", "MessageLedger"]

logger = logging.getLogger(__name__)


class MessageLedger(Protocol):
    """What the de-duplication store tells a catch-up (the journal implements it)."""

    def event_seen(self, event_id: str) -> bool:
        """Whether a message with this id was recorded before."""
        ...

    def last_published_ms(self, channel: str) -> int | None:
        """The newest Ably timestamp recorded for ``channel``; ``None`` when there is none."""
        ...


class CatchUp:
    """Finds the messages a channel received during a gap.

    Args:
        reader: Reads the channel's history.
        ledger: The de-duplication store.
        max_age_secs: The staleness limit (``EVENT_MAX_AGE_SECS``).
    """

    def __init__(
        self, reader: HistoryReader, ledger: MessageLedger, *, max_age_secs: float
    ) -> None:
        self._reader = reader
        self._ledger = ledger
        self._max_age_secs = max_age_secs
        self._newest_ms: dict[str, int] = {}

    async def close(self) -> None:
        """Close the history reader."""
        await self._reader.close()

    def saw(self, message: ReceivedMessage) -> None:
        """Note a message handed on (its publish time is where the next catch-up starts)."""
        if message.timestamp_ms is not None:
            newest = self._newest_ms.get(message.channel, message.timestamp_ms)
            self._newest_ms[message.channel] = max(newest, message.timestamp_ms)

    def since_ms(self, channel: str, *, now_ms: int) -> int:
        """Where a catch-up on ``channel`` starts (see the module docstring)."""
        marks = [self._newest_ms.get(channel), self._ledger.last_published_ms(channel)]
        known = [mark for mark in marks if mark is not None]
        if known:
            return max(known)
        return now_ms - int(self._max_age_secs * 1000)

    async def missed(self, channel: str, *, why: str) -> list[ReceivedMessage]:
        """The messages published on ``channel`` during the gap and not seen yet, oldest first.

        Args:
            channel: The channel that was re-attached without continuity.
            why: What made the gap, for the log line.

        Raises:
            TimeoutError: History did not answer in time.
            ably.util.exceptions.AblyException: Ably refused the history request.
        """
        now_ms = int(time.time() * 1000)
        since = self.since_ms(channel, now_ms=now_ms)
        batch = await self._reader.messages_since(channel, since)
        now = int(time.time() * 1000)  # judged after the read: it may have taken a while
        missed = [
            dataclasses.replace(
                m,
                stale=stale_reason(m.timestamp_ms, max_age_secs=self._max_age_secs, now_ms=now),
                recovered=True,
            )
            for m in batch.messages
            if m.message_id is None or not self._ledger.event_seen(m.message_id)
        ]
        when = datetime.fromtimestamp(since / 1000, UTC).isoformat(timespec="milliseconds")
        stale = sum(1 for m in missed if m.stale)
        logger.log(
            logging.WARNING if missed else logging.INFO,
            "Recovered %d message(s) on %s published since %s (%s): %d read from history, "
            "%d already seen, %d stale",
            len(missed),
            channel,
            when,
            why,
            len(batch.messages),
            len(batch.messages) - len(missed),
            stale,
        )
        if not batch.complete:
            logger.warning(
                "More messages were published on %s since %s than one catch-up reads; "
                "only the newest %d were read",
                channel,
                when,
                len(batch.messages),
            )
        for message in missed:
            self.saw(message)
        return missed
