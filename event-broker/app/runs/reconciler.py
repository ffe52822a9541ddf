"""Reconciliation runs, daemon side: when to ask a worker to reconcile an account, and telling.

A ``reconcile`` worker (``app.workers.modes.reconcile``) resolves the account's unresolved
journalled orders against the broker and checks its positions against the journal; it reads
and places nothing. The daemon starts one, under the account's lock:

* at start-up, for every account with unresolved orders (a run the previous process left);
* right after a run whose worker died (killed, timed out, crashed), before that run's end is
  journalled and notified, so the owner is told what its orders really did;
* on the position-check schedule (``POSITION_CHECK_INTERVAL_SECS``), for every tradable
  account not busy with a run (a run checks its own positions when it ends).

The owner is notified when something was found: orders resolved, or positions that changed
outside the daemon (once per change: each check starts from what the last one saw).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from broker_connector_base import AccountConfig, InvalidInputError

from app.config.settings import AppConfig
from app.models import AccountExecutionResult
from app.notify.notifier import NotificationService
from app.runs.locks import AccountBusyError, account_lock
from app.runs.market_hours import in_regular_hours
from app.runs.requests import build_worker_request
from app.store.journal import Journal
from app.store.reconciliation import unresolved_orders
from app.workers.pool import WorkerPool

__all__ = ["Reconciler"]

logger = logging.getLogger(__name__)

_RECONCILE_TIMEOUT_SECS = 120.0
"""Beyond the broker wait, how long one reconciliation may take."""


class Reconciler:
    """Starts reconcile workers and tells the owner what they found.

    Args:
        config: The loaded configuration.
        journal: The journal (to find accounts with unresolved orders).
        notifier: Where findings go.
        workers: The worker pool (shared with the runs, so shutdown reaches these too).
    """

    def __init__(
        self,
        config: AppConfig,
        *,
        journal: Journal,
        notifier: NotificationService,
        workers: WorkerPool,
    ) -> None:
        self.config = config
        self.journal = journal
        self.notifier = notifier
        self.workers = workers

    async def reconcile_locked(
        self, account: AccountConfig, *, retry_secs: float = 0.0
    ) -> AccountExecutionResult:
        """Reconcile ``account`` now; the caller holds its lock. Never raises for a failure.

        Args:
            account: The account.
            retry_secs: How long the worker may wait for a broker it cannot reach.
        """
        run_id = f"reconcile-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        request = build_worker_request(self.config, account, "reconcile", run_id)
        request = request.model_copy(update={"gateway_retry_secs": retry_secs})
        timeout = _RECONCILE_TIMEOUT_SECS + retry_secs
        result = await self.workers.run(request, timeout_secs=timeout)
        if not result.success:
            logger.error("Reconciling account %s failed: %s", account.account_id, result.error)
        return result

    async def reconcile(
        self, account: AccountConfig, why: str, *, wait_secs: float = 0.0
    ) -> AccountExecutionResult | None:
        """Take the account's lock, reconcile, notify what was found.

        Returns:
            The worker's result; ``None`` when the account was busy for ``wait_secs`` (a run
            in progress reconciles and checks on its own).
        """
        try:
            async with account_lock(
                self.config.settings.data_dir, account.account_id, wait_secs=wait_secs
            ):
                result = await self.reconcile_locked(account)
        except AccountBusyError:
            logger.info("Account %s busy: %s skipped", account.account_id, why)
            return None
        if result.notes or result.position_differences:
            await self.notifier.notify_reconciliation(result, why)
        return result

    def accounts_with_unresolved_orders(self) -> list[AccountConfig]:
        """Tradable accounts with orders the journal does not know the end of."""
        return [
            a
            for a in self.config.tradable_accounts()
            if unresolved_orders(self.journal, a.account_id)
        ]

    async def reconcile_all(self, accounts: Iterable[AccountConfig], why: str) -> int:
        """Reconcile ``accounts`` one after the other; how many were reconciled."""
        done = 0
        for account in accounts:
            try:
                if await self.reconcile(account, why) is not None:
                    done += 1
            except InvalidInputError as exc:  # an account whose broker has no connector
                logger.error("Cannot reconcile account %s: %s", account.account_id, exc)
        return done

    async def run_schedule(self, stopping: asyncio.Event) -> None:
        """The position check, every ``POSITION_CHECK_INTERVAL_SECS`` until ``stopping``."""
        settings = self.config.settings
        interval = settings.position_check_interval_secs
        if interval <= 0:
            return
        while not stopping.is_set():
            if settings.position_check_any_time or in_regular_hours(datetime.now(UTC)):
                await self.reconcile_all(self.config.tradable_accounts(), "position check")
            try:
                await asyncio.wait_for(stopping.wait(), interval)
            except TimeoutError:
                continue
