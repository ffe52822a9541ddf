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
import sys
import threading
from datetime import UTC, datetime

from broker_connector_base import BrokerClient, BrokerError, InvalidInputError

from app.config.logs import configure_logging
from app.models import AccountExecutionResult
from app.store.journal import Journal
from app.trading.broker_factory import create_broker_client, preload_connector
from app.workers import modes
from app.workers.order_journal import order_journal
from app.workers.protocol import WorkerRequest, decode_request
from app.workers.results import failed_result_of

__all__ = ["execute_request", "main"]

logger = logging.getLogger("app.worker.run")  # not "__main__" under -m


async def execute_request(request: WorkerRequest) -> AccountExecutionResult:
    """Run ``request`` in its mode (``app.workers.modes``); failures come back as a failed
    result, never as an exception."""
    started_at = datetime.now(UTC)
    journal = Journal(request.journal_path)
    on_order = order_journal(journal, request.run_id)
    client: BrokerClient | None = None
    try:
        client = create_broker_client(request)
        if request.mode == "rebalance":
            return await modes.rebalance(request, client, journal, on_order, started_at)
        if request.mode == "reconcile":
            return await modes.reconcile(request, client, journal, started_at)
        if request.mode == "snapshot":
            return await modes.snapshot(request, client, started_at)
        return await modes.preview(request, client, journal, on_order, started_at)
    except modes.BrokerUnreachable as exc:
        logger.error("Run failed: %s", exc)
        return failed_result_of(request, started_at, str(exc), unreachable=True)
    except (InvalidInputError, BrokerError) as exc:
        logger.error("Run failed: %s", exc)
        return failed_result_of(request, started_at, str(exc))
    except Exception as exc:
        # The process boundary: anything unexpected becomes a failed result with its type,
        # and the traceback goes to the log, instead of a worker that dies without a word.
        logger.exception("Run failed unexpectedly")
        return failed_result_of(request, started_at, f"{type(exc).__name__}: {exc}")
    finally:
        if client is not None:
            try:
                await client.disconnect()
            except BrokerError as exc:
                logger.warning("Disconnect failed: %s", exc)
        journal.close()


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
    return failed_result_of(request, datetime.now(UTC), error)


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
