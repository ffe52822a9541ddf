"""Turns realtime messages into strategy runs: de-duplicate and journal, validate, dispatch.

The channel name is the strategy name; a signal runs every tradable account following that
strategy, those following several strategies included (their run blends all of them, so two
strategies' signals in quick succession trade once: the account lock serialises the runs and
the second finds the account on target). Every message is journalled with its outcome and its
Ably timestamp; a stale message (older than ``EVENT_MAX_AGE_SECS`` when it reached the daemon),
a malformed one or an unknown ``exec`` is journalled with the reason and trades nothing.
A message id is claimed in the journal (``Journal.claim_event``) before anything runs: the
journal is the one de-duplication store, so a message delivered twice (resume replay, rewind,
a publisher retry), even across restarts, runs once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from broker_connector_base import InvalidInputError
from broker_connector_base.documents import validate_document

from app.intake.messages import ReceivedMessage, decode_message_data
from app.intake.sdk_decoding import UndecodableData
from app.models import EventData, StrategyExecutionResult
from app.runs.strategy import ShuttingDownError, StrategyExecutor
from app.store.journal import Journal

__all__ = ["KNOWN_EXECS", "EventProcessor"]

logger = logging.getLogger(__name__)

KNOWN_EXECS = ("rebalance", "print-rebalance")


class EventProcessor:
    """Handles each received message in its own task, so channels never block each other.

    Args:
        journal: Where every event and its outcome is recorded.
        strategies: Runs the accounts of a strategy.
    """

    def __init__(self, journal: Journal, strategies: StrategyExecutor) -> None:
        self.journal = journal
        self.strategies = strategies
        self._tasks: set[asyncio.Task[StrategyExecutionResult | None]] = set()

    async def on_message(self, message: ReceivedMessage) -> None:
        """``AblyService``'s callback: start handling ``message`` and return at once."""
        task = asyncio.create_task(self.handle(message), name=f"event-{message.channel}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    async def wait_idle(self, timeout_secs: float | None = None) -> None:
        """Wait until every message being handled is done (or ``timeout_secs`` passes)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_secs)

    async def handle(self, message: ReceivedMessage) -> StrategyExecutionResult | None:
        """Validate and run one message; ``None`` when nothing was run (the journal says why)."""
        event_id = message.message_id
        if event_id is None:
            # Ably always sets an id; one without cannot be de-duplicated, only journalled.
            logger.warning("Message on %s has no id; cannot de-duplicate it", message.channel)
            event_id = f"{message.channel}:no-id:{uuid.uuid4().hex}"
        row = self.journal.claim_event(
            event_id=event_id,
            channel=message.channel,
            payload=_payload(message.data),
            published_ms=message.timestamp_ms,
        )
        if row is None:
            logger.info("Event %s on %s already received; not run again", event_id, message.channel)
            return None
        if message.stale is not None:
            # Too old to trade on (replayed or read back after an outage): recorded, not run.
            self._ignore(event_id, row, f"stale: {message.stale}; not run")
            return None
        event = self._parse(message, event_id, row)
        if event is None:
            return None
        strategy = message.channel
        accounts = self.strategies.accounts_by_strategy().get(strategy, ())
        broken = self.strategies.executor.config.invalid_for_strategy(strategy)
        if event.account_id is not None:
            accounts = tuple(a for a in accounts if a.account_id == event.account_id)
            broken = tuple(e for e in broken if e.account_id == event.account_id)
        # Entries of accounts.yaml that are not served: a refused run each, journalled and
        # notified, so a signal they miss is never silent.
        for entry in broken:
            await self.strategies.executor.refuse_not_served(entry, event.exec, event_row=row)
        if not accounts:
            refused = (
                f"; refused for {len(broken)} not served (fix accounts.yaml)" if broken else ""
            )
            self._ignore(
                event_id,
                row,
                f"no tradable account for strategy {strategy!r}"
                + (f" and account {event.account_id}" if event.account_id else "")
                + refused,
            )
            return None
        logger.info(
            "Event %s: %s for %d accounts of strategy %s",
            event_id,
            event.exec,
            len(accounts),
            strategy,
        )
        try:
            result = await self.strategies.execute_accounts(
                strategy, accounts, event.exec, event_row=row
            )
        except ShuttingDownError as exc:
            self._ignore(event_id, row, f"not run: {exc}")
            return None
        outcome = f"ran {result.accounts_processed} accounts: {result.status}"
        self.journal.set_event_outcome(row, outcome)
        logger.info("Event %s on %s done: %s", event_id, strategy, outcome)
        return result

    def _parse(self, message: ReceivedMessage, event_id: str, row: int) -> EventData | None:
        source = f"channel {message.channel} message {event_id}"
        try:
            data = decode_message_data(message.data, source=source)
        except InvalidInputError as exc:
            self._reject(event_id, row, f"malformed: {exc}")
            return None
        exec_name = data.get("exec")
        if isinstance(exec_name, str) and exec_name not in KNOWN_EXECS:
            self._ignore(event_id, row, f"ignored: unknown exec {exec_name!r}")
            return None
        try:
            return validate_document(EventData, data, document="event", source=source)
        except InvalidInputError as exc:
            self._reject(event_id, row, f"malformed: {exc}")
            return None

    def _reject(self, event_id: str, row: int, outcome: str) -> None:
        logger.error("Event %s %s; nothing traded", event_id, outcome)
        self.journal.set_event_outcome(row, outcome)

    def _ignore(self, event_id: str, row: int, outcome: str) -> None:
        logger.warning("Event %s %s", event_id, outcome)
        self.journal.set_event_outcome(row, outcome)


def _log_failure(task: asyncio.Task[StrategyExecutionResult | None]) -> None:
    """A handler crash (journal unwritable, a bug) is logged, never silently dropped."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("Handling an event failed", exc_info=task.exception())


def _payload(data: Any) -> str:
    """The message data as text for the journal, whatever its type."""
    if isinstance(data, UndecodableData):
        return f"undecodable as {data.encoding!r}: {data.excerpt}"
    if isinstance(data, bytes | bytearray):
        return bytes(data).decode("utf-8", errors="replace")
    if isinstance(data, str):
        return data
    try:
        return json.dumps(data, default=str)
    except (TypeError, ValueError):
        return repr(data)
