"""Snapshot runs of many accounts: the daily schedule's job and ``-snapshot -all``.

Each account's snapshot is an ordinary account run of mode ``snapshot``
(``TradingExecutor.execute_account``: account lock, journal, worker process), grouped by
strategy like a signal's accounts and bounded by ``MAX_PARALLEL_ACCOUNTS``. The trigger is
journalled as an event (channel ``schedule`` or ``manual``) so every snapshot run points back
to what started it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from broker_connector_base import AccountConfig

from app.config.settings import AppConfig
from app.models import AccountExecutionResult
from app.runs.strategy import StrategyExecutor
from app.store.journal import Journal

__all__ = ["DailySnapshots", "snapshot_accounts"]

logger = logging.getLogger(__name__)


async def snapshot_accounts(
    strategies: StrategyExecutor,
    journal: Journal,
    accounts: Sequence[AccountConfig],
    *,
    channel: str,
    details: dict[str, str] | None = None,
) -> list[AccountExecutionResult]:
    """Take a snapshot of each of ``accounts`` (in parallel within the bound).

    Raises:
        ShuttingDownError: Shutdown has begun; nothing was started.
    """
    payload = {"exec": "snapshot", "accounts": [a.account_id for a in accounts], **(details or {})}
    event_row = journal.record_event(
        event_id=f"{channel}-{uuid.uuid4().hex[:12]}", channel=channel, payload=json.dumps(payload)
    )
    groups: dict[str, list[AccountConfig]] = {}
    for account in accounts:
        groups.setdefault(account.strategy_name, []).append(account)
    done = await asyncio.gather(
        *(
            strategies.execute_accounts(name, group, "snapshot", event_row=event_row)
            for name, group in groups.items()
        )
    )
    results = [r for strategy in done for r in strategy.results]
    failed = sum(1 for r in results if not r.success)
    status = "succeeded" if failed == 0 else f"{failed} of {len(results)} failed"
    journal.set_event_outcome(event_row, f"snapshot of {len(results)} accounts: {status}")
    return results


class DailySnapshots:
    """The daily schedule's job: a snapshot of every tradable account.

    Args:
        config: Which accounts are tradable.
        strategies: Runs the accounts.
        journal: Where the trigger is journalled, and when each account was last snapshotted.
    """

    def __init__(self, config: AppConfig, strategies: StrategyExecutor, journal: Journal) -> None:
        self.config = config
        self.strategies = strategies
        self.journal = journal

    def due_accounts(self, due: datetime, *, catch_up: bool) -> list[AccountConfig]:
        """The tradable accounts; on a catch-up only those without a snapshot since ``due``."""
        accounts = list(self.config.tradable_accounts())
        if not catch_up:
            return accounts
        return [a for a in accounts if not self._taken_since(a.account_id, due)]

    def _taken_since(self, account_id: str, due: datetime) -> bool:
        last = self.journal.last_snapshot_at(account_id)
        return last is not None and last >= due

    async def __call__(self, due: datetime, catch_up: bool) -> list[AccountExecutionResult]:
        """Take the snapshots due at ``due``."""
        accounts = self.due_accounts(due, catch_up=catch_up)
        if not accounts:
            logger.info("Daily snapshot due at %s: no account needs one", due.isoformat())
            return []
        logger.info(
            "Daily snapshot due at %s%s: %d accounts",
            due.isoformat(),
            " (catching up after a start)" if catch_up else "",
            len(accounts),
        )
        results = await snapshot_accounts(
            self.strategies,
            self.journal,
            accounts,
            channel="schedule",
            details={"due": due.isoformat(), "catch_up": str(catch_up).lower()},
        )
        failed = [r.account_id for r in results if not r.success]
        if failed:
            logger.error("Daily snapshot failed for %s", ", ".join(failed))
        return results
