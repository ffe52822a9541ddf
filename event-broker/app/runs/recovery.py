"""Start-up report of runs a previous process left unfinished (crash, kill, power loss).

Such a run may have placed orders that filled, or are still working at the broker, while no
process was there to see it. Under the account's lock it is marked abandoned, its orders are
reconciled with the broker (a ``reconcile`` worker: ``app.runs.reconciler``) so the journal
says what really happened, and it is reported (log and notification, with its orders as the
broker has them). The next ``rebalance`` of the account cancels what is still working and
recomputes from the broker's positions, so nothing is bought or sold twice; under PDT
protection it is the one completion run the day allows (``app.runs.pdt``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from app.models import AccountExecutionResult
from app.notify.notifier import NotificationService
from app.runs.locks import AccountBusyError, account_lock
from app.store.journal import Journal, JournalOrder, UnfinishedRun

Reconcile = Callable[[str], Awaitable[AccountExecutionResult | None]]
"""Reconciles the orders of an account (by id) with its broker; ``None``: not possible."""

__all__ = ["describe_unfinished_run", "report_unfinished_runs"]

logger = logging.getLogger(__name__)


def describe_unfinished_run(run: UnfinishedRun, orders: Sequence[JournalOrder] = ()) -> str:
    """One paragraph for the operator: the run, its process and every order it recorded.

    ``orders`` are the run's orders after reconciliation (default: as ``run`` has them).
    """
    orders = orders or run.orders
    lines = [
        f"{run.mode} run {run.run_id} of account {run.account_id} started {run.started_at} "
        f"by pid {run.pid} never finished; {len(orders)} orders were recorded"
        + (":" if orders else ".")
    ]
    for order in orders:
        line = (
            f"  order {order.order_id or '(not acknowledged)'} {order.side} {order.quantity} "
            f"{order.symbol} @ {order.price}: status {order.status or 'unknown'}, "
            f"filled {order.filled_quantity if order.filled_quantity is not None else '?'}"
        )
        if order.reconciliation:
            line += " (as the broker has it)"
        lines.append(line)
    lines.append(
        "The next rebalance of the account cancels its open orders and recomputes from the "
        "broker's positions; check the account at the broker if in doubt."
    )
    return "\n".join(lines)


def _as_result(
    run: UnfinishedRun, description: str, found: AccountExecutionResult | None
) -> AccountExecutionResult:
    started = datetime.fromisoformat(run.started_at)
    now = datetime.now(UTC)
    return AccountExecutionResult(
        account_id=run.account_id,
        run_id=run.run_id,
        mode="rebalance" if run.mode == "rebalance" else "print-rebalance",
        status="failed",
        success=False,
        error=f"abandoned: {description}",
        notes=[] if found is None else _findings(found),
        position_differences=[] if found is None else found.position_differences,
        started_at=started,
        finished_at=max(now, started),
    )


def _findings(found: AccountExecutionResult) -> list[str]:
    if not found.success:
        return [f"the broker could not be asked what the orders did: {found.error}"]
    return found.notes


async def report_unfinished_runs(
    journal: Journal,
    notifier: NotificationService,
    data_dir: Path,
    *,
    reconcile: Reconcile | None = None,
) -> int:
    """Reconcile, report and mark abandoned every unfinished run whose account is not busy.

    A run of an account whose lock is held (the CLI running next to the daemon) is still in
    progress, not abandoned, and is left alone.

    Args:
        journal: The journal.
        notifier: Where the reports go.
        data_dir: ``DATA_DIR`` (the account locks).
        reconcile: Reconciles an account's orders with its broker while the lock is held
            (``None``: report the orders as journalled).

    Returns:
        How many runs were reported.
    """
    reported = 0
    for run in journal.unfinished_runs():
        try:
            async with account_lock(data_dir, run.account_id, wait_secs=0):
                journal.mark_run_abandoned(
                    run.run_id, reason=f"process {run.pid} ended before the run finished"
                )
                found = await reconcile(run.account_id) if reconcile is not None else None
                description = describe_unfinished_run(run, journal.run_orders(run.run_id))
                logger.error("Unfinished run found at start-up: %s", description)
        except AccountBusyError:
            logger.info(
                "Run %s of account %s is still in progress in another process",
                run.run_id,
                run.account_id,
            )
            continue
        await notifier.notify_account_result(_as_result(run, description, found))
        reported += 1
    return reported
