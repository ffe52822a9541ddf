"""Benchmark of the IB Gateway simulator driven by the real ``ib_async`` client.

Run from the repository root with the project venv::

    .venv/bin/python bench/ib_sim.py
    .venv/bin/python bench/ib_sim.py --connects 20 --orders 500

Figures (simulator and client share one event loop, as in the test suite):

* connect time: median (and max) of ``IB.connectAsync`` over N fresh clients, i.e. handshake,
  startApi and the full startup sync (positions, open/completed orders, account updates,
  executions). Target <= 100 ms.
* order throughput: N market orders for 1 share placed back to back by one client, until the
  last is reported Filled; orders placed and filled per second. ib_async throttles itself to
  45 requests/s by default (``Client.MaxRequests``), which would measure the client's throttle
  rather than the simulator, so the bench disables it (``MaxRequests = 0``), as a production
  client may not. Target >= 300 orders/s. Also printed: the sequential round trip (place,
  wait for Filled, next) median.

It prints figures; it never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

from ib_async import IB, MarketOrder, Stock, Trade
from ib_gateway_sim import GatewaySimulator, Scenario

_SCENARIO = """
accounts:
  DU000001: {cash: 100000000.00}
symbols:
  BIL: {con_id: 43475541, primary_exchange: ARCA, bid: 91.52, ask: 91.53, last: 91.52}
"""


async def _connect_times(sim: GatewaySimulator, count: int) -> list[float]:
    times: list[float] = []
    for i in range(count):
        ib = IB()
        started = time.perf_counter()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=100 + i, timeout=10)
        times.append(time.perf_counter() - started)
        ib.disconnect()
        await sim.wait_for_clients(0)
    return times


async def _throughput(sim: GatewaySimulator, count: int) -> float:
    ib = IB()
    ib.client.MaxRequests = 0
    await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=10)
    contract = Stock("BIL", "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    remaining = count
    all_filled = asyncio.get_running_loop().create_future()

    def _on_status(trade: Trade) -> None:
        nonlocal remaining
        if trade.orderStatus.status == "Filled":
            remaining -= 1
            if remaining == 0 and not all_filled.done():
                all_filled.set_result(None)

    ib.orderStatusEvent += _on_status
    started = time.perf_counter()
    for _ in range(count):
        ib.placeOrder(contract, MarketOrder("BUY", 1))
    await asyncio.wait_for(all_filled, 120)
    elapsed = time.perf_counter() - started
    ib.orderStatusEvent -= _on_status
    ib.disconnect()
    await sim.wait_for_clients(0)
    return count / elapsed


async def _round_trips(sim: GatewaySimulator, count: int) -> list[float]:
    ib = IB()
    await ib.connectAsync("127.0.0.1", sim.port, clientId=2, timeout=10)
    contract = Stock("BIL", "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    times: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        trade = ib.placeOrder(contract, MarketOrder("BUY", 1))
        while not trade.isDone():
            await trade.statusEvent
        times.append(time.perf_counter() - started)
    ib.disconnect()
    return times


async def _main(connects: int, orders: int) -> None:
    async with GatewaySimulator(Scenario.from_yaml_text(_SCENARIO)) as sim:
        connect = await _connect_times(sim, connects)
        rate = await _throughput(sim, orders)
        trips = await _round_trips(sim, 40)
        filled = sum(1 for o in sim.orders() if o.status == "Filled")
    print(
        f"connect time: median {statistics.median(connect) * 1000:.1f} ms, "
        f"max {max(connect) * 1000:.1f} ms over {connects} connects (target <= 100 ms)"
    )
    print(
        f"order throughput: {rate:.0f} orders/s placed and filled over {orders} orders "
        f"from one client (target >= 300/s)"
    )
    print(
        f"sequential round trip: median {statistics.median(trips) * 1000:.2f} ms "
        f"over {len(trips)} orders; {filled} orders filled in total"
    )


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connects", type=int, default=20)
    parser.add_argument("--orders", type=int, default=500)
    args = parser.parse_args()
    logging.getLogger("ib_async").setLevel(logging.WARNING)
    asyncio.run(_main(args.connects, args.orders))


if __name__ == "__main__":
    main()
