"""One account run, end to end: lock, PDT guard, journal, worker process, notification.

Every trigger (Ably event, CLI, demo) goes through ``TradingExecutor.execute_account`` so the
same guards apply whatever started the run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from broker_connector_base import AccountConfig, AllocationItem, InvalidInputError

from app.config.settings import AppConfig, InvalidAccount
from app.models import AccountExecutionResult, RunMode, RunStatus
from app.notify.notifier import NotificationService
from app.runs.breaker import GatewayBreaker
from app.runs.locks import AccountBusyError, account_lock
from app.runs.pdt import PDTProtectionService, completion_note, pdt_refusal_message
from app.runs.reconciler import Reconciler
from app.runs.requests import build_worker_request
from app.store.halt import read_halt
from app.store.journal import Journal
from app.workers.pool import WorkerPool, WorkerProcesses, failed_result
from app.workers.protocol import WorkerRequest

__all__ = ["RunListener", "RunOptions", "TradingExecutor", "failed_run", "new_run_id"]

logger = logging.getLogger(__name__)

_LOCK_MARGIN_SECS = 30.0
"""Beyond one run timeout, how long a second run waits for the account lock before refusing."""


@dataclass(frozen=True)
class RunOptions:
    """How one trigger wants its run done, where it differs from a signal's run.

    Args:
        lock_wait_secs: How long to wait for the account's lock held by another run (``None``:
            the executor's default, one run timeout plus a margin; 0: refuse at once).
        allocations: Target allocations to preview with instead of the strategy's (validated
            by the caller); ``None`` fetches the strategy's.
    """

    lock_wait_secs: float | None = None
    allocations: tuple[AllocationItem, ...] | None = None


class RunListener(Protocol):
    """Told when a run starts and ends (the API's live feed and metrics)."""

    def run_started(
        self, *, run_id: str, account_id: str, mode: RunMode, event_row: int | None
    ) -> None:
        """The run was journalled as started."""

    def run_finished(self, result: AccountExecutionResult) -> None:
        """The run's end was journalled."""


def new_run_id() -> str:
    """A unique, sortable run id; it tags every order at the broker (``order_ref``)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def failed_run(
    account: AccountConfig, mode: RunMode, run_id: str, *, status: RunStatus, error: str
) -> AccountExecutionResult:
    """The result of a run that ended before a worker could report one, ending now."""
    now = datetime.now(UTC)
    return AccountExecutionResult(
        account_id=account.account_id,
        run_id=run_id,
        mode=mode,
        status=status,
        success=False,
        error=error,
        started_at=now,
        finished_at=now,
    )


class TradingExecutor:
    """Runs single accounts through the guards and a worker process.

    Args:
        config: The loaded configuration.
        journal: Where events, runs and orders are recorded.
        pdt: The PDT protection state.
        notifier: Sends one message per account run.
        workers: The worker process tracker (shared so shutdown can reach every worker).
        lock_wait_secs: How long a run waits for the account lock held by another run;
            default one run timeout plus a margin, so the first run ends (or is killed) first.
        listeners: Told when each run starts and ends.
        breaker: The gateway circuit breaker (``app.runs.breaker``): a run on a gateway it
            holds open is refused before any worker starts; every run's outcome is counted.
    """

    def __init__(
        self,
        config: AppConfig,
        *,
        journal: Journal,
        pdt: PDTProtectionService,
        notifier: NotificationService,
        workers: WorkerPool | None = None,
        lock_wait_secs: float | None = None,
        listeners: Sequence[RunListener] = (),
        breaker: GatewayBreaker | None = None,
    ) -> None:
        self.config = config
        self.breaker = breaker
        self._breaker_refused: set[str] = set()
        self.listeners: list[RunListener] = list(listeners)
        self._running: dict[str, str] = {}
        self.journal = journal
        self.pdt = pdt
        self.notifier = notifier
        self.workers: WorkerPool = workers or WorkerProcesses()
        self.reconciler = Reconciler(
            config, journal=journal, notifier=notifier, workers=self.workers
        )
        self.lock_wait_secs = (
            lock_wait_secs
            if lock_wait_secs is not None
            else self.run_timeout_secs + _LOCK_MARGIN_SECS
        )

    @property
    def run_timeout_secs(self) -> float:
        """How long a worker may take before it is killed: the run itself
        (``ACCOUNT_RUN_TIMEOUT_SECS``) plus waiting for its broker (``GATEWAY_RETRY_SECS``)."""
        settings = self.config.settings
        return settings.account_run_timeout_secs + settings.gateway_retry_secs

    def add_listener(self, listener: RunListener) -> None:
        """Tell ``listener`` about every run from now on."""
        self.listeners.append(listener)

    @property
    def running_accounts(self) -> dict[str, str]:
        """Account id -> run id of the runs this executor has in progress now."""
        return dict(self._running)

    def build_request(
        self,
        account: AccountConfig,
        mode: RunMode,
        run_id: str,
        allocations: tuple[AllocationItem, ...] | None = None,
    ) -> WorkerRequest:
        """The worker's input for one run of ``account`` (``build_worker_request``).

        Raises:
            InvalidInputError: The account's broker is not supported.
        """
        return build_worker_request(self.config, account, mode, run_id, allocations=allocations)

    async def execute_account(
        self,
        account: AccountConfig,
        mode: RunMode,
        *,
        event_row: int | None = None,
        options: RunOptions | None = None,
    ) -> AccountExecutionResult:
        """Preview, rebalance or snapshot ``account`` once; never raises for a failed run.

        A second run of the same account (from this process or another, e.g. the CLI while
        the daemon runs) waits for the first, up to one run timeout plus a margin (or
        ``options.lock_wait_secs``), and is then refused. A ``rebalance`` under PDT protection
        that already ran today is refused with the next allowed time (a ``snapshot`` places
        nothing: PDT does not apply). The outcome is journalled with the run's snapshot, told
        to the listeners and notified either way, except a ``snapshot`` that succeeded: a
        daily one per account would drown the owner's channel.
        """
        run_id = new_run_id()
        self._running.setdefault(account.account_id, run_id)
        try:
            result = await self._execute(account, mode, run_id, event_row, options or RunOptions())
        finally:
            if self._running.get(account.account_id) == run_id:
                del self._running[account.account_id]
        for listener in self.listeners:
            listener.run_finished(result)
        # The gateway breaker told the owner once when it opened: its refusals are not
        # notified one by one (ten accounts, a signal each).
        quiet = run_id in self._breaker_refused
        self._breaker_refused.discard(run_id)
        if (result.mode != "snapshot" or not result.success) and not quiet:
            await self.notifier.notify_account_result(result)
        return result

    async def _execute(
        self,
        account: AccountConfig,
        mode: RunMode,
        run_id: str,
        event_row: int | None,
        options: RunOptions,
    ) -> AccountExecutionResult:
        started_at = datetime.now(UTC)
        try:
            request = self.build_request(account, mode, run_id, options.allocations)
        except InvalidInputError as exc:
            # Nothing to hand a worker (an account of a broker without a connector): the run
            # is refused here, journalled and notified like any other refusal.
            result = failed_run(account, mode, run_id, status="refused", error=str(exc))
            self.journal.start_run(
                run_id=run_id, account_id=account.account_id, mode=mode, client_id=0
            )
            self._tell_started(run_id, account.account_id, mode, event_row)
            self.journal.finish_run(run_id=run_id, result=result)
            self._log_result(result)
            return result
        settings = self.config.settings
        halt = read_halt(settings.data_dir) if mode == "rebalance" else None
        if halt is not None:
            # The kill switch: no execution until resumed (a preview places nothing and may
            # still run, so the owner can look at what would be traded).
            self._start_run(request, event_row)
            result = failed_result(
                request,
                status="refused",
                error=f"{halt.describe()}; nothing was placed (resume: tools/rebalance.sh -resume)",
                started_at=started_at,
            )
            self.journal.finish_run(run_id=run_id, result=result)
            self._log_result(result)
            return result
        gateway = request.connection.gateway_address()
        blocked = self.breaker.refusal(gateway) if self.breaker and gateway else None
        if blocked is not None:
            self._start_run(request, event_row)
            result = failed_result(request, status="refused", error=blocked, started_at=started_at)
            self.journal.finish_run(run_id=run_id, result=result)
            self._breaker_refused.add(run_id)
            self._log_result(result)
            return result
        wait_secs = options.lock_wait_secs
        if wait_secs is None:
            wait_secs = self.lock_wait_secs
        try:
            async with account_lock(settings.data_dir, account.account_id, wait_secs=wait_secs):
                result = await self._run_locked(request, event_row)
            if self.breaker is not None and gateway is not None:
                await self.breaker.record(gateway, result)
        except AccountBusyError as exc:
            logger.warning("Account %s run %s refused: %s", account.account_id, run_id, exc)
            self._start_run(request, event_row)
            result = failed_result(request, status="refused", error=str(exc), started_at=started_at)
            self.journal.finish_run(run_id=run_id, result=result)
        self._log_result(result)
        return result

    def _start_run(self, request: WorkerRequest, event_row: int | None) -> None:
        account_id = request.account.account_id
        mode = request.mode
        # Runs are rebalances and previews; a reconciliation is not journalled as a run.
        assert mode != "reconcile", "reconcile workers are started by the Reconciler"
        self.journal.start_run(
            run_id=request.run_id,
            account_id=account_id,
            mode=mode,
            client_id=request.connection.api_client_id(),
            event_row=event_row,
        )
        self._tell_started(request.run_id, account_id, mode, event_row)

    def _tell_started(
        self, run_id: str, account_id: str, mode: RunMode, event_row: int | None
    ) -> None:
        for listener in self.listeners:
            listener.run_started(
                run_id=run_id, account_id=account_id, mode=mode, event_row=event_row
            )

    async def _run_locked(
        self, request: WorkerRequest, event_row: int | None
    ) -> AccountExecutionResult:
        account = request.account
        self._start_run(request, event_row)
        notes: list[str] = []
        if request.mode == "rebalance" and account.pdt_protection_enabled:
            check = self.pdt.is_execution_allowed(account.account_id)
            if not check.allowed:
                message = pdt_refusal_message(
                    account.account_id, check.next_allowed_time, detail=check.detail
                )
                result = failed_result(
                    request, status="refused", error=message, started_at=datetime.now(UTC)
                )
                self.journal.finish_run(run_id=request.run_id, result=result)
                return result
            if check.completion_of is not None:
                notes.append(completion_note(check.completion_of))
        outcome = await self.workers.run_reporting(request, timeout_secs=self.run_timeout_secs)
        result = outcome.result
        if not outcome.reported_by_worker and request.mode == "rebalance":
            # The worker died (killed, timed out, crashed): what its orders did is known only
            # at the broker. Ask it before the run's end is journalled and told.
            found = await self.reconciler.reconcile_locked(account)
            notes.extend(found.notes if found.success else [f"reconciliation: {found.error}"])
            update = {
                # The run's orders as the journal now has them (the broker's word where the
                # worker did not live to record it).
                "trades": self.journal.run_trades(request.run_id),
                "position_differences": [
                    *result.position_differences,
                    *found.position_differences,
                ],
            }
            result = result.model_copy(update=update)
        if notes:
            result = result.model_copy(update={"notes": [*notes, *result.notes]})
        flow = self.journal.finish_run(run_id=request.run_id, result=result)
        if flow is not None:
            logger.info(
                "Account %s: cash flow of %s on %s (cash change %s, fills %s, commissions %s, "
                "%d fills); counted apart from returns",
                account.account_id,
                flow.amount,
                flow.flow_date,
                flow.cash_change,
                flow.fills_cash,
                flow.commissions,
                flow.fills,
            )
        return result

    async def refuse_not_served(
        self, entry: InvalidAccount, mode: RunMode, *, event_row: int | None = None
    ) -> AccountExecutionResult:
        """Record and notify a refused run for an ``accounts.yaml`` entry that is not served.

        Its configuration is invalid, so nothing of it is used: the run is refused at once
        with the entry's problems (``app.config.files`` explains the policy).
        """
        run_id = new_run_id()
        now = datetime.now(UTC)
        result = AccountExecutionResult(
            account_id=entry.account_id or f"accounts[{entry.index}]",
            run_id=run_id,
            mode=mode,
            status="refused",
            success=False,
            error=str(entry.error()),
            started_at=now,
            finished_at=now,
        )
        self.journal.start_run(
            run_id=run_id,
            account_id=result.account_id,
            mode=mode,
            client_id=0,
            event_row=event_row,
        )
        self._tell_started(run_id, result.account_id, mode, event_row)
        self.journal.finish_run(run_id=run_id, result=result)
        self._log_result(result)
        for listener in self.listeners:
            listener.run_finished(result)
        await self.notifier.notify_account_result(result)
        return result

    @staticmethod
    def _log_result(result: AccountExecutionResult) -> None:
        if result.success:
            logger.info(
                "Account %s run %s %s succeeded: %d trades in %.2f s",
                result.account_id,
                result.run_id,
                result.mode,
                len(result.trades),
                result.duration_secs,
            )
        else:
            logger.error(
                "Account %s run %s %s %s: %s",
                result.account_id,
                result.run_id,
                result.mode,
                result.status,
                result.error,
            )
