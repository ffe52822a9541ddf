"""Benchmark: ``AlpacaClient`` against a minimal raw alpaca-py script, same stand-in.

Run from the repository root with the project venv::

    .venv/bin/python bench/alpaca_roundtrip.py            # median of 30
    .venv/bin/python bench/alpaca_roundtrip.py --runs 100

The stand-in (``python -m alpaca_api_sim``, example scenario: twelve ETFs, a cash account with
three positions) runs in its own process, so neither side shares an event loop with it.
Preview-equivalent reads of the 12-symbol account:

* connected: ``get_account_snapshot`` + ``get_multiple_market_prices`` (12 symbols) +
  ``get_trading_hours_status`` on a connected client, beside raw alpaca-py calls making the
  same four requests (account, positions, latest quotes of the 12 symbols, clock) on clients
  built once. Target: ours <= 1.5x the raw script.
* cold: a new ``AlpacaClient`` per run (``connect`` reads the account once more to learn the
  account number), the same reads, ``disconnect``; beside raw clients built per run and the
  same four requests. Ours makes five requests here, the raw script four.

Ours runs every SDK call in a worker thread bounded by a timeout (the contract's "every call is
bounded in time") and reads account and positions in parallel; the raw script calls the SDK
directly, one request after another. Runs alternate so both see the same machine load. Figures
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockLatestQuoteRequest
from alpaca.trading.client import TradingClient
from alpaca_connector import AlpacaClient, AlpacaConnectionConfig

ACCOUNT = "PA1SIM000001"
KEY, SECRET = "PKSIMEXAMPLE000000001", "sim-secret-example-0000000000000000000001"
SYMBOLS = ["SPY", "QQQ", "IWM", "EFA", "EEM", "VNQ", "TLT", "IEF", "AGG", "LQD", "GLD", "BIL"]


def _start_stand_in() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "alpaca_api_sim", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.fullmatch(r"alpaca_api_sim listening on (\S+)\n", line)
    if match is None:
        process.terminate()
        raise RuntimeError(f"stand-in did not start: {line!r}")
    return process, match.group(1)


def _config(url: str) -> AlpacaConnectionConfig:
    return AlpacaConnectionConfig(key_id=KEY, secret_key=SECRET, base_url=url)


async def _ours_reads(client: AlpacaClient) -> None:
    await client.get_account_snapshot(ACCOUNT)
    await client.get_multiple_market_prices(SYMBOLS)
    await client.get_trading_hours_status(SYMBOLS)


async def _ours_cold(url: str) -> None:
    client = AlpacaClient(_config(url))
    await client.connect()
    try:
        await _ours_reads(client)
    finally:
        await client.disconnect()


def _raw_clients(url: str) -> tuple[TradingClient, StockHistoricalDataClient]:
    trading = TradingClient(KEY, SECRET, url_override=url)
    return trading, StockHistoricalDataClient(KEY, SECRET, url_override=url)


def _raw_reads(trading: TradingClient, data: StockHistoricalDataClient) -> None:
    trading.get_account()
    trading.get_all_positions()
    data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=SYMBOLS))
    trading.get_clock()


async def _paired(
    runs: int, ours: Callable[[], Awaitable[None]], raw: Callable[[], None]
) -> tuple[float, float]:
    """Medians (seconds) of ``ours`` and ``raw``, run alternately."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        started = time.perf_counter()
        await ours()
        times[0].append(time.perf_counter() - started)
        started = time.perf_counter()
        raw()
        times[1].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def _report(name: str, ours: float, raw: float, target: float | None) -> None:
    ratio = ours / raw
    goal = f" (target <= {target}x: {'met' if ratio <= target else 'NOT met'})" if target else ""
    print(
        f"{name:10s} ours {ours * 1000:7.2f} ms   raw alpaca-py {raw * 1000:7.2f} ms   "
        f"ratio {ratio:.2f}x{goal}"
    )


async def main(runs: int) -> None:
    process, url = _start_stand_in()
    try:
        client = AlpacaClient(_config(url))
        await client.connect()
        trading, data = _raw_clients(url)
        for _ in range(3):  # warm both sides' connection pools and imports
            await _ours_reads(client)
            _raw_reads(trading, data)
        print(f"12-symbol account on {url}, median of {runs} runs each")
        ours, raw = await _paired(
            runs, lambda: _ours_reads(client), lambda: _raw_reads(trading, data)
        )
        _report("connected", ours, raw, 1.5)
        await client.disconnect()
        ours, raw = await _paired(
            runs, lambda: _ours_cold(url), lambda: _raw_reads(*_raw_clients(url))
        )
        _report("cold", ours, raw, None)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(main(parser.parse_args().runs))
