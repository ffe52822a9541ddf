"""Per-account worker process: ``python -m app.worker`` runs one account and exits.

Each account run gets its own process so that a hung connection, a crash in the broker
library or a leaked socket cannot affect the daemon or another account; the daemon kills the
process group on timeout or shutdown. Protocol (see ``app.workers.protocol``): one JSON line
on stdin (the request), after which stdin stays open as a lifeline (EOF means the daemon died:
the worker stops at once); log lines on stderr; one JSON ``AccountExecutionResult`` on stdout.
``--broker NAME`` makes it a worker of that broker's accounts: it imports that broker's
connector (only that one) before reading its request, so a pre-started worker starts trading
as soon as the request arrives, and it refuses a request for another broker's account. The
daemon normally runs ``main`` in a process forked from that broker's fork server
(``app.workers.fork_server``), which did those imports once; the protocol is the same.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

from broker_connector_base import (
    BrokerClient,
    BrokerConnectionError,
    BrokerError,
    CalculateRebalanceResult,
    ExecutionReport,
    InvalidInputError,
    OrderStatus,
    RebalancePlan,
    Trade,
)
from broker_connector_base.types import NEW_YORK

from app.config.logs import configure_logging
from app.models import AccountExecutionResult, PortfolioSnapshot
from app.snapshots.take import snapshot_after_run, take_snapshot
from app.store.journal import Journal
from app.trading.broker_factory import (
    create_allocation_source,
    create_broker_client,
    create_rebalancer,
    preload_connector,
)
from app.workers.protocol import WorkerRequest, decode_request

__all__ = ["execute_request", "main"]

logger = logging.getLogger("app.worker.run")  # not "__main__" under -m


class _Unreachable(Exception):
    """The broker could not be reached at all (the gateway breaker counts these)."""

    def __init__(self, cause: BrokerConnectionError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@asynccontextmanager
async def _connected(client: BrokerClient) -> AsyncIterator[BrokerClient]:
    """Connect ``client`` and always disconnect it, whatever happens inside.

    Raises:
        _Unreachable: ``connect`` failed (told apart from a connection lost mid-run).
    """
    try:
        try:
            await client.connect()
        except BrokerConnectionError as exc:
            raise _Unreachable(exc) from exc
        yield client
    finally:
        try:
            await client.disconnect()
        except BrokerError as exc:
            logger.warning("Disconnect failed: %s", exc)


def _result(
    request: WorkerRequest,
    started_at: datetime,
    *,
    success: bool,
    trades: list[Trade],
    error: str | None = None,
    total_value: Decimal | None = None,
    cash_balance: Decimal | None = None,
    warnings: list[str] | None = None,
    plan: list[RebalancePlan] | None = None,
    snapshot: PortfolioSnapshot | None = None,
    refused: bool = False,
    execution: ExecutionReport | None = None,
    unreachable: bool = False,
) -> AccountExecutionResult:
    return AccountExecutionResult(
        account_id=request.account.account_id,
        run_id=request.run_id,
        mode=request.mode,
        status="succeeded" if success else "refused" if refused else "failed",
        success=success,
        error=error,
        trades=trades,
        total_value=total_value,
        cash_balance=cash_balance,
        warnings=warnings or [],
        plan=plan or [],
        snapshot=snapshot,
        execution=execution,
        broker_unreachable=unreachable,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


def _orders_today(journal: Journal, request: WorkerRequest) -> int:
    """Orders the account placed since New York midnight, from the journal (every run of
    this daemon and its CLI; orders placed by hand elsewhere are not in it)."""
    now = datetime.now(NEW_YORK)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return journal.orders_since(request.account.account_id, midnight)


def _preview_error(refusal: str | None, preview: CalculateRebalanceResult) -> str:
    return refusal or "; ".join(preview.warnings) or "preview failed"


async def execute_request(request: WorkerRequest) -> AccountExecutionResult:
    """Run the preview, rebalance or snapshot of ``request``; failures come back as a failed
    result."""
    started_at = datetime.now(UTC)
    journal = Journal(request.journal_path)
    logged_status: dict[str | None, OrderStatus | None] = {}

    def on_order(trade: Trade) -> None:
        # Journalled as it happens, so a crash mid-run still leaves every placed order on disk.
        # A journal failure must not raise into the rebalancer between two orders (that would
        # leave a half-done rebalance); it is logged loudly and the result still lists the order.
        try:
            journal.record_order(run_id=request.run_id, trade=trade)
        except (InvalidInputError, sqlite3.Error) as exc:
            logger.error("Could not journal order %s (%s): %s", trade.order_id, trade.symbol, exc)
        # Called at placement and again when the wait ends: log a status once, not twice.
        if logged_status.get(trade.order_id) == trade.status:
            return
        logged_status[trade.order_id] = trade.status
        logger.info(
            "Order %s %s %s x%d status %s",
            trade.order_id,
            trade.action,
            trade.symbol,
            abs(trade.quantity),
            trade.status,
        )

    try:
        client = create_broker_client(request)
        async with _connected(client):
            if request.mode == "snapshot":
                return await _snapshot(request, client, started_at)
            rebalancer = create_rebalancer(
                request,
                client,
                on_order=on_order,
                logger=logger,
                orders_today=_orders_today(journal, request),
            )
            if request.mode == "rebalance":
                done = await rebalancer.rebalance_account(request.account)
                snapshot, notes = await snapshot_after_run(client, done)
                return _result(
                    request,
                    started_at,
                    success=done.success,
                    trades=done.orders,
                    error=done.error,
                    total_value=done.total_value,
                    cash_balance=done.cash_balance,
                    warnings=[*done.warnings, *notes],
                    plan=done.plan,
                    execution=done.execution,
                    snapshot=snapshot,
                    refused=done.refusal is not None,
                )
            preview = await rebalancer.calculate_rebalance(request.account)
            return _result(
                request,
                started_at,
                success=preview.success,
                trades=preview.proposed_trades,
                error=None if preview.success else _preview_error(preview.refusal, preview),
                total_value=preview.current_value,
                cash_balance=preview.cash_balance,
                warnings=preview.warnings,
                plan=preview.plan,
                refused=preview.refusal is not None,
            )
    except _Unreachable as exc:
        logger.error("Run failed: %s", exc)
        return _result(
            request, started_at, success=False, trades=[], error=str(exc), unreachable=True
        )
    except (InvalidInputError, BrokerError) as exc:
        logger.error("Run failed: %s", exc)
        return _result(request, started_at, success=False, trades=[], error=str(exc))
    except Exception as exc:
        # The process boundary: anything unexpected becomes a failed result with its type,
        # and the traceback goes to the log, instead of a worker that dies without a word.
        logger.exception("Run failed unexpectedly")
        return _result(
            request, started_at, success=False, trades=[], error=f"{type(exc).__name__}: {exc}"
        )
    finally:
        journal.close()


async def _snapshot(
    request: WorkerRequest, client: BrokerClient, started_at: datetime
) -> AccountExecutionResult:
    source, replacements = create_allocation_source(request)
    snapshot, warnings = await take_snapshot(
        client, request.account, source=source, replacements=replacements
    )
    logger.info(
        "Snapshot: value %s, cash %s, %d positions%s",
        snapshot.total_value,
        snapshot.cash,
        len(snapshot.positions),
        "".join(f"; {w}" for w in warnings),
    )
    return _result(
        request,
        started_at,
        success=True,
        trades=[],
        total_value=snapshot.total_value,
        cash_balance=snapshot.cash,
        warnings=warnings,
        snapshot=snapshot,
    )


EXIT_ORPHANED = 70


def _watch_lifeline() -> None:
    """Exit at once when the daemon's end of stdin closes (the daemon died).

    Runs in a daemon thread. It reads the raw descriptor, not ``sys.stdin.buffer``: a daemon
    thread blocked inside a buffered reader aborts the interpreter at exit (it holds the
    buffer's lock), which would turn every finished run into a SIGABRT.
    """
    fd = sys.stdin.fileno()
    while os.read(fd, 4096):
        pass
    logger.error("The daemon went away (stdin closed); stopping this run now")
    logging.shutdown()
    os._exit(EXIT_ORPHANED)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.worker")
    parser.add_argument(
        "--broker",
        help="serve accounts of this broker only, its connector imported ahead of the request",
    )
    return parser.parse_args(argv)


def _refused(request: WorkerRequest, broker: str) -> AccountExecutionResult:
    """A request for another broker's account than this worker's (``--broker``)."""
    error = (
        f"this worker serves {broker} accounts only; account {request.account.account_id} is "
        f"at {request.account.broker}"
    )
    logger.error("Run refused: %s", error)
    return _result(request, datetime.now(UTC), success=False, trades=[], error=error)


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the request line from stdin, write the result to stdout.

    Args:
        argv: ``[--broker NAME]`` (default: the process's arguments).
    """
    args = _parse_args(argv)
    # Keep the real stdout for the result only; anything a library prints goes to stderr.
    result_fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Import the connector before the request arrives: a pre-started worker then starts
    # trading at once when the daemon hands it a run.
    preload_connector(args.broker)
    line = sys.stdin.buffer.readline()
    if not line:
        return 0  # a spare the daemon no longer needs (EOF before any request)
    request = decode_request(line)
    configure_logging(
        request.log_level,
        worker_context=f"account={request.account.account_id} run={request.run_id}",
        secrets=request.secrets(),
    )
    threading.Thread(target=_watch_lifeline, name="lifeline", daemon=True).start()
    if args.broker is not None and request.account.broker != args.broker:
        # Another broker's library would be imported into this one's process.
        result = _refused(request, args.broker)
    else:
        result = asyncio.run(execute_request(request))
    with os.fdopen(result_fd, "w", encoding="utf-8") as out:
        out.write(result.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
