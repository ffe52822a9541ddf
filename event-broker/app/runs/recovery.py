"""Start-up report of runs a previous process left unfinished (crash, kill, power loss).

Such a run may have placed orders that are still working at the broker. It is reported (log
and notification, with its orders) and marked abandoned rather than forgotten; the next
``rebalance`` of the account cancels the account's open orders and recomputes from a fresh
snapshot, so nothing is bought or sold twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from app.models import AccountExecutionResult
from app.notify.notifier import NotificationService
from app.runs.locks import AccountBusyError, account_lock
from app.store.journal import Journal, UnfinishedRun

__all__ = ["describe_unfinished_run", "report_unfinished_runs"]

logger = logging.getLogger(__name__)


def describe_unfinished_run(run: UnfinishedRun) -> str:
    """One paragraph for the operator: the run, its process and every order it recorded."""
    lines = [
        f"{run.mode} run {run.run_id} of account {run.account_id} started {run.started_at} "
        f"by pid {run.pid} never finished; {len(run.orders)} orders were recorded"
        + (":" if run.orders else ".")
    ]
    for order in run.orders:
        lines.append(
            f"  order {order.order_id or '(not acknowledged)'} {order.side} {order.quantity} "
            f"{order.symbol} @ {order.price}: status {order.status or 'unknown'}, "
            f"filled {order.filled_quantity if order.filled_quantity is not None else '?'}"
        )
    lines.append(
        "The next rebalance of the account cancels its open orders and recomputes from the "
        "broker's positions; check the account at the broker if in doubt."
    )
    return "\n".join(lines)


def _as_result(run: UnfinishedRun, description: str) -> AccountExecutionResult:
    started = datetime.fromisoformat(run.started_at)
    now = datetime.now(UTC)
    return AccountExecutionResult(
        account_id=run.account_id,
        run_id=run.run_id,
        mode="rebalance" if run.mode == "rebalance" else "print-rebalance",
        status="failed",
        success=False,
        error=f"abandoned: {description}",
        started_at=started,
        finished_at=max(now, started),
    )


async def report_unfinished_runs(
    journal: Journal, notifier: NotificationService, data_dir: Path
) -> int:
    """Report and mark abandoned every unfinished run whose account is not busy now.

    A run of an account whose lock is held (the CLI running next to the daemon) is still in
    progress, not abandoned, and is left alone.

    Returns:
        How many runs were reported.
    """
    reported = 0
    for run in journal.unfinished_runs():
        try:
            async with account_lock(data_dir, run.account_id, wait_secs=0):
                description = describe_unfinished_run(run)
                logger.error("Unfinished run found at start-up: %s", description)
                journal.mark_run_abandoned(
                    run.run_id, reason=f"process {run.pid} ended before the run finished"
                )
        except AccountBusyError:
            logger.info(
                "Run %s of account %s is still in progress in another process",
                run.run_id,
                run.account_id,
            )
            continue
        await notifier.notify_account_result(_as_result(run, description))
        reported += 1
    return reported
