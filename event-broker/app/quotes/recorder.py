"""The quote recorder process: ``python -m app.quotes.recorder`` streams quotes into SQLite.

Started by the daemon's supervisor (``app.quotes.supervisor``) for each trading session and
stopped at the close. It reads one ``RecorderRequest`` line on stdin, works out the symbols
(every tradable IB account's targets, replacement sets applied, pinned lines looked up by
their ``conid``/``isin``), connects to the gateway with its own client id, sharing the
gateway's message window with the workers, and hands each streamed batch to a
``QuoteWriter``. Ticks older than the retention are deleted at start and every hour.

It ends on SIGTERM/SIGINT or when stdin closes (the daemon is gone). Exit codes: 0 when told
to stop, 1 when the gateway or the allocations could not be reached or the connection was
lost (the supervisor starts it again later), 2 for a request it cannot read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
import threading
from typing import TYPE_CHECKING

from broker_connector_base import BrokerError, InstrumentRef, InvalidInputError
from pydantic import ValidationError

from app.config.logs import configure_logging
from app.quotes.request import RecorderRequest
from app.quotes.store import QuoteWriter

if TYPE_CHECKING:
    from ibkr_connector import IBKRClient

__all__ = ["main", "record", "recorded_symbols"]

logger = logging.getLogger("app.quotes.recorder")  # not "__main__" under -m

EXIT_STOPPED = 0
EXIT_FAILED = 1
EXIT_BAD_REQUEST = 2
PRUNE_EVERY_SECS = 3600.0
_DAY_SECS = 86_400


async def recorded_symbols(request: RecorderRequest) -> tuple[list[str], list[InstrumentRef]]:
    """The symbols to record and the pinned ones among them.

    Raises:
        InvalidInputError: A bad allocations document or replacement sets file.
        BrokerError: A strategy's allocations could not be fetched.
    """
    from rebalance_engine import AllocationService, ReplacementService, fetch_targets

    source = AllocationService(request.allocations_api_url, request.allocations_api_key)
    sets_file = request.replacement_sets_file
    replacements = None if sets_file is None else ReplacementService.from_yaml(sets_file)
    symbols: dict[str, None] = {}
    pins: dict[str, InstrumentRef] = {}
    for account in request.accounts:
        account_sets = replacements if account.replacement_set is not None else None
        targets = await fetch_targets(account, source, account_sets)
        symbols.update((item.symbol, None) for item in targets.allocations if item.allocation)
        pins.update((ref.symbol, ref) for ref in targets.instruments())
    return list(symbols), [ref for symbol, ref in pins.items() if symbol in symbols]


def _client(request: RecorderRequest) -> IBKRClient:
    from ibkr_connector import IBKRClient, IBKRConnectionConfig

    return IBKRClient(
        IBKRConnectionConfig(
            trading_mode=request.trading_mode,
            client_id=request.client_id,
            host=request.host,
            port=request.port,
            data_dir=request.data_dir,
            pacing_file=request.pacing_file,
            gateway_messages_per_sec=request.messages_per_sec,
        )
    )


async def _prune_hourly(writer: QuoteWriter, retention_secs: float) -> None:
    while True:
        deleted = await asyncio.to_thread(writer.prune, retention_secs)
        if deleted:
            logger.info("Deleted %d quote ticks older than the retention", deleted)
        await asyncio.sleep(PRUNE_EVERY_SECS)


async def _stream(client: IBKRClient, symbols: list[str], writer: QuoteWriter) -> None:
    from ibkr_connector import stream_quotes

    async for batch in stream_quotes(client, symbols):
        writer.add(batch)


async def record(request: RecorderRequest, stop: asyncio.Event) -> int:
    """Record until ``stop`` is set or something fails; returns the exit code."""
    try:
        symbols, pins = await recorded_symbols(request)
    except (InvalidInputError, BrokerError) as exc:
        logger.error("Quote recorder: cannot tell which symbols to record: %s", exc)
        return EXIT_FAILED
    if not symbols:
        logger.warning("Quote recorder: the strategies target no symbol; nothing to record")
        await stop.wait()
        return EXIT_STOPPED
    try:
        writer = QuoteWriter(request.quotes_file)
    except (OSError, sqlite3.Error) as exc:
        logger.error("Quote recorder: cannot use %s: %s", request.quotes_file, exc)
        return EXIT_FAILED
    client = _client(request)
    tasks: list[asyncio.Task[None]] = []
    try:
        await client.connect()
        if pins:
            await client.resolve_instruments(pins)
        tasks = [
            asyncio.create_task(_prune_hourly(writer, request.retention_days * _DAY_SECS)),
            asyncio.create_task(_stream(client, symbols, writer)),
        ]
        logger.info("Recording quotes of %d symbols: %s", len(symbols), ", ".join(symbols))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error
        return EXIT_STOPPED
    except (BrokerError, OSError, sqlite3.Error) as exc:
        logger.error("Quote recorder stopped: %s", exc)
        return EXIT_FAILED
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(BrokerError):
            await client.disconnect()
        await asyncio.to_thread(writer.close)
        logger.info("Quote recorder: %d ticks written, %d dropped", writer.written, writer.dropped)


def _watch_lifeline(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` when stdin closes (the daemon that holds its other end is gone).

    The thread reads the raw descriptor: a daemon thread blocked inside ``sys.stdin.buffer``
    holds its lock and aborts the interpreter at exit.
    """

    def read() -> None:
        fd = sys.stdin.fileno()
        while os.read(fd, 4096):
            pass
        with contextlib.suppress(RuntimeError):  # the loop has already ended
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read, name="lifeline", daemon=True).start()


async def _run(request: RecorderRequest) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _watch_lifeline(loop, stop)
    return await record(request, stop)


def main() -> int:
    """Entry point of ``python -m app.quotes.recorder``."""
    configure_logging("INFO", worker_context="quote-recorder")
    line = sys.stdin.buffer.readline()
    try:
        request = RecorderRequest.model_validate_json(line)
    except ValidationError as exc:
        # Without the input values: the request carries the allocations key.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        logger.critical("Quote recorder: unreadable request on stdin: %s", problems)
        return EXIT_BAD_REQUEST
    configure_logging(
        request.log_level, worker_context="quote-recorder", secrets=[request.allocations_api_key]
    )
    return asyncio.run(_run(request))


if __name__ == "__main__":
    sys.exit(main())
