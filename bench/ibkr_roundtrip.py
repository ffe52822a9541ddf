"""Benchmark: ``IBKRClient``/``IBKRRebalancer`` against a minimal raw ib_async script.

Run from the repository root with the project venv::

    .venv/bin/python bench/ibkr_roundtrip.py            # median of 10
    .venv/bin/python bench/ibkr_roundtrip.py --runs 20

A 12-symbol strategy on the simulator's example account (which holds SPY, TLT and GLD), every
run from the scenario's starting state, each one connecting a fresh client:

* preview: ``calculate_rebalance`` (allocations from a file, snapshot, quotes, calculator)
  beside a raw ib_async script that makes the same gateway requests: connect, positions,
  account values, today's executions (shares bought today are not sold), contract details and
  snapshot tickers for the 12 symbols. Target: ours <= 1.5x the raw script.
* execute: ``rebalance_account`` (hours check, cancel open orders, sells, wait, fresh snapshot
  and quotes, buys, wait, then a further round planned from what the fills left) beside a raw
  script that connects, reads positions, account values, executions and tickers, places the
  same orders (sells, wait for fills, buys, wait) and reads the fills.

Each run's client has a cold, in-memory price cache (no ``data_dir``): nothing carries over
between runs, so every run asks the gateway for every quote; within one preview the quotes the
snapshot fetched for held symbols are reused, as in the daemon. Both sides keep ib_async's
default request pacing (45 messages/s, below IB's 50 messages/s limit): the raw execute (52
messages) already waits for a second pacing window, and ours (91: the hours check, a fresh
snapshot and quotes after the sells and for each further round) fits in the same two windows;
a run that needed one more message would wait a whole further second. Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from broker_connector_base import AccountConfig, Trade
from ib_async import IB, Contract, MarketOrder, Stock
from ib_async import Trade as IBTrade
from ib_gateway_sim import GatewaySimulator, Scenario
from ibkr_connector import AllocationService, IBKRClient, IBKRConnectionConfig, IBKRRebalancer

ACCOUNT = "DUM959247"
SYMBOLS = ["SPY", "QQQ", "IWM", "EFA", "EEM", "VNQ", "TLT", "IEF", "AGG", "LQD", "GLD", "BIL"]
WEIGHTS = ["0.083"] * 11 + ["0.087"]
TIMEOUT = 30.0


def _allocations_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="ibkr-bench-"))
    (folder / "bench").mkdir()
    document = {
        "status": "success",
        "data": {
            "name": "bench",
            "strategy_long_name": "12-symbol benchmark",
            "last_rebalance_on": "2026-11-20",
            "allocations": [
                {"symbol": s, "allocation": float(w)} for s, w in zip(SYMBOLS, WEIGHTS, strict=True)
            ],
        },
    }
    (folder / "bench" / "allocations.json").write_text(json.dumps(document))
    return folder


def _config() -> AccountConfig:
    return AccountConfig(account_id=ACCOUNT, type="paper", strategy_name="bench")


async def _ours(sim: GatewaySimulator, folder: Path, *, execute: bool) -> list[Trade]:
    client = IBKRClient(IBKRConnectionConfig(client_id=41, port=sim.port))
    await client.connect()
    try:
        rebalancer = IBKRRebalancer(client, allocation_service=AllocationService(folder.as_uri()))
        if execute:
            result = await rebalancer.rebalance_account(_config())
            if not result.success:
                raise RuntimeError(result.error)
            return result.orders
        return (await rebalancer.calculate_rebalance(_config())).proposed_trades
    finally:
        await client.disconnect()


async def _raw_reads(ib: IB) -> dict[str, Contract]:
    """Positions, account values, today's executions, contract details and tickers.

    The executions are what a preview needs to leave shares bought earlier today unsold.
    """
    await asyncio.wait_for(ib.reqPositionsAsync(), TIMEOUT)
    await asyncio.wait_for(ib.accountSummaryAsync(ACCOUNT), TIMEOUT)
    await asyncio.wait_for(ib.reqExecutionsAsync(), TIMEOUT)
    contracts = [Stock(s, "SMART", "USD") for s in SYMBOLS]
    await asyncio.wait_for(ib.qualifyContractsAsync(*contracts), TIMEOUT)
    await asyncio.wait_for(ib.reqTickersAsync(*contracts), TIMEOUT)
    return {c.symbol: c for c in contracts}


async def _raw_fill(ib: IB, contracts: dict[str, Contract], trades: list[Trade]) -> None:
    placed: list[IBTrade] = []
    for trade in trades:
        order = MarketOrder("BUY" if trade.quantity > 0 else "SELL", abs(trade.quantity))
        order.account = ACCOUNT
        placed.append(ib.placeOrder(contracts[trade.symbol], order))
    done = asyncio.Event()

    def check(*_: object) -> None:
        if all(t.isDone() for t in placed):
            done.set()

    ib.orderStatusEvent += check
    check()
    await asyncio.wait_for(done.wait(), TIMEOUT)
    ib.orderStatusEvent -= check


async def _raw(sim: GatewaySimulator, orders: list[Trade] | None) -> None:
    ib = IB()
    await ib.connectAsync("127.0.0.1", sim.port, clientId=42, timeout=TIMEOUT)
    try:
        contracts = await _raw_reads(ib)
        if orders is not None:
            await _raw_fill(ib, contracts, [t for t in orders if t.quantity < 0])
            await _raw_fill(ib, contracts, [t for t in orders if t.quantity > 0])
            await asyncio.wait_for(ib.reqExecutionsAsync(), TIMEOUT)
    finally:
        ib.disconnect()


async def _paired(
    sim: GatewaySimulator,
    runs: int,
    ours: Callable[[], Awaitable[object]],
    raw: Callable[[], Awaitable[object]],
) -> tuple[float, float]:
    """Medians of ``ours`` and ``raw``, run alternately so both see the same machine load."""
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(runs):
        for index, work in enumerate((ours, raw)):
            sim.reset()
            started = time.perf_counter()
            await work()
            times[index].append(time.perf_counter() - started)
            await sim.wait_for_clients(0)
    for index, name in ((0, "ours"), (1, "raw")):
        print(f"  {name:4s} runs (ms): {' '.join(f'{t * 1000:.1f}' for t in times[index])}")
    ratio_of_minimums = min(times[0]) / min(times[1])
    print(f"  fastest run each: ratio {ratio_of_minimums:.2f}x (least disturbed by machine load)")
    return statistics.median(times[0]), statistics.median(times[1])


def _report(name: str, ours: float, raw: float, target: float | None) -> None:
    ratio = ours / raw
    goal = f" (target <= {target}x: {'met' if ratio <= target else 'NOT met'})" if target else ""
    print(
        f"{name:8s} ours {ours * 1000:8.1f} ms   raw ib_async {raw * 1000:8.1f} ms   "
        f"ratio {ratio:.2f}x{goal}"
    )


async def main(runs: int) -> None:
    logging.disable(logging.WARNING)  # ib_async logs every fill at INFO; keep output readable
    folder = _allocations_dir()
    async with GatewaySimulator(Scenario.builtin("example")) as sim:
        sim.reset()
        planned = await _ours(sim, folder, execute=False)
        sim.reset()
        executed = await _ours(sim, folder, execute=True)
        print(
            f"12-symbol account, {len(planned)} trades planned, {len(executed)} orders executed,"
            f" median of {runs} runs each"
        )
        preview, raw_preview = await _paired(
            sim,
            runs,
            lambda: _ours(sim, folder, execute=False),
            lambda: _raw(sim, None),
        )
        _report("preview", preview, raw_preview, 1.5)
        execute, raw_execute = await _paired(
            sim,
            runs,
            lambda: _ours(sim, folder, execute=True),
            lambda: _raw(sim, executed),
        )
        _report("execute", execute, raw_execute, None)
        total = sum((abs(t.quantity) * t.price for t in planned), Decimal(0))
        print(f"(planned notional {total.quantize(Decimal('0.01'))} USD)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    asyncio.run(main(parser.parse_args().runs))
