"""Fans one strategy event out to every tradable account of the strategy, in parallel.

Accounts run concurrently up to ``max_parallel_accounts`` (shared by every event, so two
strategies firing together still respect the bound); one account's failure never stops
another. On shutdown no new run starts, running ones get a grace period, then their worker
processes are terminated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from broker_connector_base import AccountConfig

from app.models import AccountExecutionResult, RunMode, StrategyExecutionResult
from app.runs.account import RunOptions, TradingExecutor, failed_run, new_run_id

__all__ = ["ShuttingDownError", "StrategyExecutor"]

logger = logging.getLogger(__name__)


class ShuttingDownError(RuntimeError):
    """A run was requested after shutdown began."""


class StrategyExecutor:
    """Runs groups of accounts with a concurrency bound and an orderly shutdown.

    Args:
        executor: Runs one account.
        max_parallel: How many accounts may run at the same time, across all events.
    """

    def __init__(self, executor: TradingExecutor, *, max_parallel: int) -> None:
        self.executor = executor
        self._slots = asyncio.Semaphore(max(1, max_parallel))
        self._tasks: set[asyncio.Task[AccountExecutionResult]] = set()
        self._accepting = True

    @property
    def accepting(self) -> bool:
        """False once shutdown has begun."""
        return self._accepting

    @property
    def active_runs(self) -> int:
        """Account runs started and not yet finished (waiting for a slot included)."""
        return len(self._tasks)

    def accounts_by_strategy(self) -> dict[str, tuple[AccountConfig, ...]]:
        """Tradable accounts grouped by strategy name, in configuration order."""
        return self.executor.config.strategies()

    async def execute_strategy(
        self, strategy: str, mode: RunMode, *, event_row: int | None = None
    ) -> StrategyExecutionResult:
        """Run every tradable account of ``strategy``."""
        accounts = self.accounts_by_strategy().get(strategy, ())
        if not accounts:
            logger.warning("Strategy %s has no tradable account; nothing to run", strategy)
        return await self.execute_accounts(strategy, accounts, mode, event_row=event_row)

    async def execute_accounts(
        self,
        strategy: str,
        accounts: Sequence[AccountConfig],
        mode: RunMode,
        *,
        event_row: int | None = None,
    ) -> StrategyExecutionResult:
        """Run ``accounts`` (of ``strategy``) in parallel within the bound.

        Raises:
            ShuttingDownError: Shutdown has begun; nothing was started.
        """
        if not self._accepting:
            raise ShuttingDownError("the daemon is shutting down; no new run is started")
        tasks = [self._start(account, mode, event_row) for account in accounts]
        results = [
            await self._collect(task, account, mode)
            for task, account in zip(tasks, accounts, strict=True)
        ]
        failed = sum(1 for r in results if not r.success)
        return StrategyExecutionResult(
            strategy=strategy,
            timestamp=datetime.now(UTC),
            event=mode,
            accounts_processed=len(results),
            results=results,
            status="succeeded" if failed == 0 else f"{failed} of {len(results)} failed",
        )

    def start_account(
        self,
        account: AccountConfig,
        mode: RunMode,
        *,
        event_row: int | None = None,
        options: RunOptions | None = None,
    ) -> asyncio.Task[AccountExecutionResult]:
        """Start one account's run (an API request) within the bound, as a task of its own.

        The run is counted and waited for at shutdown like a signal's; the caller may stop
        waiting for the task (a client that went away) without cancelling it.

        Raises:
            ShuttingDownError: Shutdown has begun; nothing was started.
        """
        if not self._accepting:
            raise ShuttingDownError("the daemon is shutting down; no new run is started")
        return self._start(account, mode, event_row, options)

    async def shutdown(self, grace_secs: float) -> None:
        """Stop starting runs, wait ``grace_secs`` for running ones, then terminate them."""
        self._accepting = False
        pending = set(self._tasks)
        if pending:
            logger.info("Waiting up to %.0f s for %d account runs", grace_secs, len(pending))
            _, pending = await asyncio.wait(pending, timeout=grace_secs)
        if pending:
            logger.warning("Terminating %d account runs still going", len(pending))
            await self.executor.workers.terminate_all()
            await asyncio.wait(pending, timeout=grace_secs)

    def _start(
        self,
        account: AccountConfig,
        mode: RunMode,
        event_row: int | None,
        options: RunOptions | None = None,
    ) -> asyncio.Task[AccountExecutionResult]:
        task = asyncio.create_task(
            self._run_in_slot(account, mode, event_row, options),
            name=f"account-{account.account_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_in_slot(
        self,
        account: AccountConfig,
        mode: RunMode,
        event_row: int | None,
        options: RunOptions | None,
    ) -> AccountExecutionResult:
        async with self._slots:
            return await self.executor.execute_account(
                account, mode, event_row=event_row, options=options
            )

    async def _collect(
        self, task: asyncio.Task[AccountExecutionResult], account: AccountConfig, mode: RunMode
    ) -> AccountExecutionResult:
        try:
            return await task
        except Exception as exc:
            # A bug in one account's orchestration must not lose the other accounts' results.
            logger.exception("Account %s run crashed in the daemon", account.account_id)
            return failed_run(
                account, mode, new_run_id(), status="failed", error=f"{type(exc).__name__}: {exc}"
            )
