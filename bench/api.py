"""Benchmark: the HTTP API under load, its memory, and whether signals slow down meanwhile.

Run from the repository root with the project venv::

    .venv/bin/python bench/api.py              # 10 s of load per endpoint, 3 signal rounds
    .venv/bin/python bench/api.py --secs 5 --rounds 2

The daemon runs as a process (``python -m app.main``) against the IB Gateway simulator and
the fake realtime server (both in this process, as in ``bench/signal_latency.py``, whose
machinery this reuses). Measured:

* 50 concurrent clients, each on its own keep-alive connection, sending
  ``GET /api/v1/accounts/{id}`` (then ``GET /metrics``) back to back for ``--secs`` seconds
  after one second of warm-up: p50/p90/p99/max latency and requests per second. The load
  runs in a separate process with a minimal HTTP/1.1 client (an ``httpx`` client costs more
  CPU than the server it measures on 2 cores).
* Idle RSS of the daemon with ``API_ENABLED=false`` (the baseline) and with the API, and
  with the API after the load.
* Signal latency (Ably message to the last order acknowledged, 1 account, 12 symbols) without
  load and while 50 clients load ``GET /api/v1/accounts/{id}``.

Targets: p99 <= 50 ms, RSS increase <= 25 MB, signal latency unchanged. It prints figures and
ratios; it never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from fake_ably_server import FakeAblyServer, ensure_loopback_bypasses_proxy
from ib_gateway_sim import GatewaySimulator
from signal_latency import (
    ABLY_KEY,
    ONE,
    PAUSE_SECS,
    REPO,
    DaemonProcess,
    OrderClock,
    _accounts_yaml,
    _round,
    _rss_mb,
    _scenario,
    _write_allocations,
)

API_KEY = "bench-api-key-0123456789abcdef"
ACCOUNT = "DU900100"
CLIENTS = 50
WARM_UP_SECS = 1.0


# -- the load generator (runs in its own process: python bench/api.py --load ...) ----------------


async def _client(
    host: str, port: int, request: bytes, window: tuple[float, float], latencies: list[float]
) -> int:
    """One client's requests back to back; latencies of those started inside ``window``."""
    warm, deadline = window
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if started >= warm:
                latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
    finally:
        writer.close()
    return errors


async def _load(url: str, path: str, secs: float, clients: int) -> dict[str, float]:
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {API_KEY}\r\nAccept: */*\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    # The first second (50 connections opened at once, the first burst queued behind them)
    # is warm-up: counted neither in the latencies nor in the rate.
    warm = time.perf_counter() + WARM_UP_SECS
    deadline = warm + secs
    errors = await asyncio.gather(
        *(_client(host, port, request, (warm, deadline), latencies) for _ in range(clients))
    )
    elapsed = time.perf_counter() - warm
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": sum(errors),
        "rps": len(ordered) / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p90_ms": 1000 * ordered[int(len(ordered) * 0.90)],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": 1000 * ordered[-1],
    }


async def _start_load(url: str, path: str, secs: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--load",
        url,
        path,
        str(secs),
        stdout=asyncio.subprocess.PIPE,
    )


async def _finish_load(process: asyncio.subprocess.Process) -> dict[str, float]:
    out, _ = await process.communicate()
    figures: dict[str, float] = json.loads(out)
    return figures


# -- the daemon and the rounds ---------------------------------------------------------------


class Bench:
    """The simulator, the fake realtime server, the environment; rounds numbered on."""

    def __init__(self, root: Path, sim: GatewaySimulator, ably: FakeAblyServer) -> None:
        self.root = root
        self.sim = sim
        self.ably = ably
        self.round = 0
        self.day = dt.datetime.now(dt.UTC)
        accounts = root / "accounts.yaml"
        _accounts_yaml(accounts, [ACCOUNT], [])
        self.env = {k: v for k, v in os.environ.items() if k != "NOTIFICATION_URLS"}
        self.env.update(
            {
                "TRADING_MODE": "paper",
                "REALTIME_API_KEY": ABLY_KEY,
                "ABLY_ENDPOINT": ably.endpoint,
                "ABLY_TLS": "false",
                "IB_GATEWAY_HOST": "127.0.0.1",
                "IB_GATEWAY_PORT": str(sim.port),
                "ALLOCATIONS_API_URL": (root / "allocations").as_uri(),
                "ACCOUNTS_FILE": str(accounts),
                "REPLACEMENT_SETS_FILE": str(root / "none.yaml"),
                "LOG_LEVEL": "INFO",
                "PYTHONPATH": str(REPO / "event-broker"),
                "API_PORT": "0",
                "API_KEY": API_KEY,
            }
        )

    async def start(self, name: str, *, api: bool) -> DaemonProcess:
        env = {**self.env, "DATA_DIR": str(self.root / f"data-{name}")}
        env["API_ENABLED"] = "true" if api else "false"
        daemon = DaemonProcess(env, self.root)
        await daemon.start("fork")
        await daemon.wait_for("Subscribed to Ably channels", timeout_secs=60)
        await asyncio.sleep(PAUSE_SECS)  # the fork server finishes its imports
        return daemon

    async def signals(self, daemon: DaemonProcess, orders: OrderClock, count: int) -> list[float]:
        """``count`` rebalance signals, each on a new simulator day; ack latencies."""
        latencies = []
        for _ in range(count):
            _write_allocations(self.root / "allocations", ONE, self.round)
            self.day += dt.timedelta(days=1)
            self.sim.set_clock(self.day)
            await asyncio.sleep(PAUSE_SECS)  # signals come minutes apart
            ack, _, _ = await _round(self.ably, daemon, orders, ONE, f"api-bench-{self.round}:0")
            latencies.append(ack)
            self.round += 1
        return latencies


def _api_url(daemon: DaemonProcess) -> str:
    line = next(line for line in daemon.lines if "API and dashboard on" in line)
    return line.split("API and dashboard on ", 1)[1].split()[0]


async def _with_api(bench: Bench, secs: float, rounds: int) -> dict[str, Any]:
    daemon = await bench.start("api", api=True)
    try:
        assert daemon.process is not None
        figures: dict[str, Any] = {"idle_rss": _rss_mb(daemon.process.pid)}
        await daemon.wait_for("API and dashboard on")
        url = _api_url(daemon)
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY}) as client:
            preview = await client.post(f"/api/v1/accounts/{ACCOUNT}/calculate", json={})
            preview.raise_for_status()
        with OrderClock(bench.sim) as orders:
            figures["signals_idle"] = await bench.signals(daemon, orders, rounds)
            for name, path in (("account", f"/api/v1/accounts/{ACCOUNT}"), ("metrics", "/metrics")):
                figures[name] = await _finish_load(await _start_load(url, path, secs))
            load_secs = rounds * (PAUSE_SECS + 2.5)
            load = await _start_load(url, f"/api/v1/accounts/{ACCOUNT}", load_secs)
            await asyncio.sleep(1.0)  # the load is running before the first signal
            figures["signals_loaded"] = await bench.signals(daemon, orders, rounds)
            figures["during_signals"] = await _finish_load(load)
        figures["loaded_rss"] = _rss_mb(daemon.process.pid)
    finally:
        await daemon.stop()
    return figures


async def _without_api(bench: Bench, rounds: int) -> dict[str, Any]:
    daemon = await bench.start("no-api", api=False)
    try:
        assert daemon.process is not None
        figures: dict[str, Any] = {"idle_rss": _rss_mb(daemon.process.pid)}
        with OrderClock(bench.sim) as orders:
            figures["signals_idle"] = await bench.signals(daemon, orders, rounds)
    finally:
        await daemon.stop()
    return figures


def _report(base: dict[str, Any], api: dict[str, Any], secs: float) -> None:
    for name, label in (
        ("account", f"GET /api/v1/accounts/{ACCOUNT}"),
        ("metrics", "GET /metrics"),
    ):
        f = api[name]
        print(
            f"{label}: {CLIENTS} clients for {secs:g} s: {f['rps']:.0f} requests/s, "
            f"p50 {f['p50_ms']:.1f} ms, p90 {f['p90_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms "
            f"(target 50 ms, ratio {f['p99_ms'] / 50:.2f}), max {f['max_ms']:.0f} ms, "
            f"{f['requests']:.0f} requests, {f['errors']:.0f} errors"
        )
    extra = api["idle_rss"] - base["idle_rss"]
    print(
        f"daemon idle RSS: {base['idle_rss']:.1f} MB without the API (API_ENABLED=false), "
        f"{api['idle_rss']:.1f} MB with it: +{extra:.1f} MB (target 25 MB, ratio "
        f"{extra / 25:.2f}); {api['loaded_rss']:.1f} MB after the load"
    )
    without = statistics.median(base["signals_idle"])
    idle = statistics.median(api["signals_idle"])
    loaded = statistics.median(api["signals_loaded"])
    during = api["during_signals"]
    print(
        f"signal -> all orders acknowledged (1 account, median): {without:.2f} s without the "
        f"API, {idle:.2f} s with it idle (ratio {idle / without:.2f}), {loaded:.2f} s while "
        f"{CLIENTS} clients load GET /api/v1/accounts/{{id}} (ratio {loaded / without:.2f}; "
        f"that load meanwhile: {during['rps']:.0f} requests/s, p99 {during['p99_ms']:.1f} ms)"
    )
    rounds = ", ".join(f"{x:.2f}" for x in api["signals_loaded"])
    print(
        f"  rounds under load: {rounds}; idle: {', '.join(f'{x:.2f}' for x in api['signals_idle'])}"
    )
    print(f"cpus available: {len(os.sched_getaffinity(0))}")


async def _bench(secs: float, rounds: int) -> None:
    ensure_loopback_bypasses_proxy()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        root = Path(tmp)
        async with (
            GatewaySimulator(_scenario([ACCOUNT])) as sim,
            FakeAblyServer(api_key=ABLY_KEY) as ably,
        ):
            bench = Bench(root, sim, ably)
            base = await _without_api(bench, rounds)
            api = await _with_api(bench, secs, rounds)
    _report(base, api, secs)


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--load":
        _, _, url, path, secs = sys.argv
        print(json.dumps(asyncio.run(_load(url, path, float(secs), CLIENTS))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--secs", type=float, default=10.0, help="load per endpoint, seconds")
    parser.add_argument("--rounds", type=int, default=3, help="signal rounds per case")
    args = parser.parse_args()
    asyncio.run(_bench(args.secs, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
