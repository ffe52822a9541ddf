"""The gateway-wide message limiter: one window for every process and client of a gateway
session (a file under the data directory), error 100 lowering it for all of them."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient, gateway_pacing
from ibkr_connector.gateway_pacing import GatewayRateLimiter
from ibkr_connector.testing import ACCOUNT, OTHER_ACCOUNT, MakeClient

pytestmark = pytest.mark.timeout(90)

SYMBOLS = ["SPY", "QQQ", "IWM", "EFA", "EEM", "VNQ", "TLT", "IEF", "AGG", "LQD", "GLD"]

_SENDER = textwrap.dedent(
    """
    import importlib.util, sys, time
    from pathlib import Path

    # The module alone (standard library only): the package's imports would take longer
    # than the start delay on a loaded machine.
    spec = importlib.util.spec_from_file_location("gateway_pacing", sys.argv[4])
    module = importlib.util.module_from_spec(spec)
    sys.modules["gateway_pacing"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    limiter = module.GatewayRateLimiter(Path(sys.argv[1]), int(sys.argv[2]))
    start = float(sys.argv[3])
    while time.monotonic() < start:
        time.sleep(0.001)
    sent = []
    while time.monotonic() < start + 1.5:
        wait = limiter.reserve()
        if wait:
            time.sleep(wait)
        else:
            sent.append(time.monotonic())
    print("\\n".join(repr(t) for t in sent))
    """
)


def _most_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, stamp in enumerate(times):
        while stamp - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_processes_sharing_the_file_never_exceed_the_rate_together(tmp_path: Path) -> None:
    start = time.monotonic() + 1.0  # CLOCK_MONOTONIC: the same clock in every process
    path = tmp_path / "ib-pacing"
    senders = [
        subprocess.Popen(
            [sys.executable, "-c", _SENDER, str(path), "20", repr(start), gateway_pacing.__file__],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [sender.communicate(timeout=30)[0] for sender in senders]
    assert [sender.returncode for sender in senders] == [0, 0, 0]

    times = [float(line) for out in outputs for line in out.split()]
    assert _most_in_any_window(times) <= 20
    assert len(times) >= 20  # they did send, at the shared rate


def test_slow_down_by_one_process_halves_the_rate_for_all(tmp_path: Path) -> None:
    first = GatewayRateLimiter(tmp_path / "w", 10, cooldown_secs=30)
    second = GatewayRateLimiter(tmp_path / "w", 10, cooldown_secs=30)

    assert first.slow_down() == 5
    sent = [second.reserve() for _ in range(7)]

    assert sent[:5] == [0.0] * 5
    assert all(wait > 0 for wait in sent[5:])
    assert second.slow_down() == 5  # never below the minimum of 5


def test_window_written_before_a_reboot_is_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "w"
    for _ in range(3):
        GatewayRateLimiter(path, 3).reserve()
    raw = bytearray(path.read_bytes())
    header = 24  # magic, capacity, slot, slowed rate, until
    for slot in range(3):  # times this boot's monotonic clock has not reached
        raw[header + 8 * slot : header + 8 * (slot + 1)] = struct.pack("<d", 10.0**12)
    path.write_bytes(bytes(raw))

    assert GatewayRateLimiter(path, 3).reserve() == 0.0


async def _busy(client: IBKRClient, n: int) -> None:
    account = ACCOUNT if n % 2 else OTHER_ACCOUNT
    symbols = SYMBOLS[n % 8 : n % 8 + 4]
    await client.get_account_snapshot(account)
    await client.get_multiple_market_prices(symbols)
    await client.get_open_orders(account)


async def test_ten_clients_sharing_the_window_never_meet_the_gateways_limit(
    sim: GatewaySimulator, make_client: MakeClient, tmp_path: Path
) -> None:
    sim.set_faults(pacing_limit_per_sec=20, pacing_scope="gateway")
    pacing = {"pacing_file": tmp_path / "ib-pacing", "gateway_messages_per_sec": 16}
    clients = [
        await make_client(client_id=60 + n, request_timeout_secs=30.0, **pacing) for n in range(10)
    ]

    await asyncio.gather(*(_busy(c, n) for n, c in enumerate(clients)))

    assert sim.paced_out == 0


async def test_without_the_shared_window_the_same_load_meets_error_100(
    sim: GatewaySimulator, make_client: MakeClient
) -> None:
    clients = [await make_client(client_id=60 + n, request_timeout_secs=30.0) for n in range(10)]
    sim.set_faults(pacing_limit_per_sec=20, pacing_scope="gateway")

    # Some calls may still fail after their retries: what counts is that IB said 100.
    await asyncio.gather(*(_busy(c, n) for n, c in enumerate(clients)), return_exceptions=True)

    assert sim.paced_out > 0


async def test_error_100_on_a_shared_client_lowers_the_rate_of_every_process(
    sim: GatewaySimulator, make_client: MakeClient, tmp_path: Path
) -> None:
    path = tmp_path / "ib-pacing"
    client = await make_client(client_id=70, pacing_file=path, gateway_messages_per_sec=16)
    sim.set_faults(pacing_limit_per_sec=6, pacing_scope="gateway")  # lower than assumed

    prices = await client.get_multiple_market_prices(SYMBOLS[:8])  # retried after error 100

    assert [p.symbol for p in prices] == SYMBOLS[:8]
    assert sim.paced_out > 0
    assert client.ib.client.MaxRequests == 0  # not this connection's throttle: the shared one
    other = GatewayRateLimiter(path, 16)  # another process now gets a lower rate
    sent = [other.reserve() for _ in range(9)]
    assert sent.count(0.0) <= 8
