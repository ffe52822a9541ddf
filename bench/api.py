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
  CPU than the server it measures on 2 cores). Also the CPU time each request costs the
  daemon and the load generator (user + system, from the kernel's counters): unlike the
  latencies, that hardly depends on what else the machine runs, and with 50 clients back to
  back the latency is about 50 x the time one request takes to get through.
* Idle RSS of the daemon with ``API_ENABLED=false`` (the baseline) and with the API, and
  with the API after the load.
* Signal latency (Ably message to the last order acknowledged, 1 account, 12 symbols) without
  load and while 50 clients load ``GET /api/v1/accounts/{id}``.

Each daemon gets a realtime server of its own: a daemon started on the channel of the one
before would catch up that one's signals from the history at start, and run them.

Targets: p99 <= 50 ms, RSS increase <= 25 MB, signal latency unchanged. It prints figures and
ratios, and the machine's load average (other jobs share the cores); it never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _daemon_process import DaemonProcess
from fake_ably_server import FakeAblyServer, ensure_loopback_bypasses_proxy
from ib_gateway_sim import GatewaySimulator
from signal_latency import (
    ABLY_KEY,
    ONE,
    PAUSE_SECS,
    REPO,
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
) -> tuple[int, int]:
    """One client's requests back to back; latencies of those started inside ``window``.

    Returns:
        Errors (answers other than 200) and every request sent, warm-up included.
    """
    warm, deadline = window
    reader, writer = await asyncio.open_connection(host, port)
    errors = sent = 0
    try:
        while time.perf_counter() < deadline:
            sent += 1
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
    return errors, sent


def _cpu_secs(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _queued_secs(pid: int) -> float:
    """Seconds the main thread of ``pid`` has waited, ready to run, for a CPU (run queue).

    What the machine's other jobs cost the daemon: every request in flight waits that long
    too. ``nan`` where the kernel keeps no scheduler statistics.
    """
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


async def _load(url: str, path: str, secs: float, clients: int) -> dict[str, float]:
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {API_KEY}\r\nAccept: */*\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    start = resource.getrusage(resource.RUSAGE_SELF)
    # The first second (50 connections opened at once, the first burst queued behind them)
    # is warm-up: counted neither in the latencies nor in the rate.
    warm = time.perf_counter() + WARM_UP_SECS
    deadline = warm + secs
    outcomes = await asyncio.gather(
        *(_client(host, port, request, (warm, deadline), latencies) for _ in range(clients))
    )
    elapsed = time.perf_counter() - warm
    ordered = sorted(latencies)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    sent = sum(s for _, s in outcomes)
    return {
        "requests": len(ordered),
        "sent": sent,
        "load_cpu_ms": 1000
        * (usage.ru_utime + usage.ru_stime - start.ru_utime - start.ru_stime)
        / sent,
        "errors": sum(e for e, _ in outcomes),
        "rps": len(ordered) / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p90_ms": 1000 * ordered[int(len(ordered) * 0.90)],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": 1000 * ordered[-1],
    }


class Load:
    """The load generator as a process, and the daemon's CPU time meanwhile."""

    def __init__(self, daemon_pid: int) -> None:
        self.daemon_pid = daemon_pid
        self.process: asyncio.subprocess.Process | None = None
        self.cpu_before = 0.0
        self.queued_before = 0.0
        self.started = 0.0
        self.load_before = (0.0, 0.0, 0.0)

    async def start(self, url: str, path: str, secs: float) -> Load:
        self.load_before = os.getloadavg()
        self.cpu_before = _cpu_secs(self.daemon_pid)
        self.queued_before = _queued_secs(self.daemon_pid)
        self.started = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--load",
            url,
            path,
            str(secs),
            stdout=asyncio.subprocess.PIPE,
        )
        return self

    async def finish(self) -> dict[str, float]:
        assert self.process is not None
        out, _ = await self.process.communicate()
        figures: dict[str, float] = json.loads(out)
        used = _cpu_secs(self.daemon_pid) - self.cpu_before
        elapsed = time.perf_counter() - self.started
        figures["daemon_cpu_ms"] = 1000 * used / figures["sent"]
        figures["daemon_busy"] = used / elapsed
        figures["daemon_queued"] = (_queued_secs(self.daemon_pid) - self.queued_before) / elapsed
        figures["load_avg_before"] = self.load_before[0]
        figures["load_avg_after"] = os.getloadavg()[0]
        return figures


# -- the daemon and the rounds ---------------------------------------------------------------


class Bench:
    """The simulator, the environment; rounds numbered on. ``ably``: the realtime server of
    the daemon running now (``start`` sets it)."""

    def __init__(self, root: Path, sim: GatewaySimulator) -> None:
        self.root = root
        self.sim = sim
        self.ably: FakeAblyServer | None = None
        self.round = 0
        self.day = dt.datetime.now(dt.UTC)
        accounts = root / "accounts.yaml"
        _accounts_yaml(accounts, [ACCOUNT], [])
        self.env = {k: v for k, v in os.environ.items() if k != "NOTIFICATION_URLS"}
        self.env.update(
            {
                "TRADING_MODE": "paper",
                "REALTIME_API_KEY": ABLY_KEY,
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

    async def start(self, name: str, ably: FakeAblyServer, *, api: bool) -> DaemonProcess:
        self.ably = ably
        env = {**self.env, "DATA_DIR": str(self.root / f"data-{name}")}
        env["ABLY_ENDPOINT"] = ably.endpoint
        env["API_ENABLED"] = "true" if api else "false"
        daemon = DaemonProcess(env, self.root)
        await daemon.start()
        await daemon.wait_for("Subscribed to Ably channels", timeout_secs=60)
        await asyncio.sleep(PAUSE_SECS)  # the fork server finishes its imports
        return daemon

    async def signals(self, daemon: DaemonProcess, orders: OrderClock, count: int) -> list[float]:
        """``count`` rebalance signals, each on a new simulator day; ack latencies."""
        assert self.ably is not None
        latencies = []
        for _ in range(count):
            _write_allocations(self.root / "allocations", ONE, self.round)
            self.day += dt.timedelta(days=1)
            self.sim.set_clock(self.day)
            await asyncio.sleep(PAUSE_SECS)  # signals come minutes apart
            done = await _round(self.ably, daemon, orders, ONE, f"api-bench-{self.round}:0")
            latencies.append(done.ack)
            self.round += 1
        return latencies


def _api_url(daemon: DaemonProcess) -> str:
    line = next(line for line in daemon.lines if "API and dashboard on" in line)
    return line.split("API and dashboard on ", 1)[1].split()[0]


async def _with_api(bench: Bench, ably: FakeAblyServer, secs: float, rounds: int) -> dict[str, Any]:
    daemon = await bench.start("api", ably, api=True)
    try:
        assert daemon.process is not None
        pid = daemon.process.pid
        figures: dict[str, Any] = {"idle_rss": _rss_mb(pid)}
        await daemon.wait_for("API and dashboard on")
        url = _api_url(daemon)
        async with httpx.AsyncClient(
            base_url=url, headers={"X-API-Key": API_KEY}, timeout=60
        ) as client:
            preview = await client.post(f"/api/v1/accounts/{ACCOUNT}/calculate", json={})
            if preview.status_code != 200:
                raise SystemExit(f"the preview before the load failed: {preview.text}")
        with OrderClock(bench.sim) as orders:
            figures["signals_idle"] = await bench.signals(daemon, orders, rounds)
            for name, path in (("account", f"/api/v1/accounts/{ACCOUNT}"), ("metrics", "/metrics")):
                figures[name] = await (await Load(pid).start(url, path, secs)).finish()
            load_secs = rounds * (PAUSE_SECS + 2.5)
            load = await Load(pid).start(url, f"/api/v1/accounts/{ACCOUNT}", load_secs)
            await asyncio.sleep(1.0)  # the load is running before the first signal
            figures["signals_loaded"] = await bench.signals(daemon, orders, rounds)
            figures["during_signals"] = await load.finish()
        figures["loaded_rss"] = _rss_mb(pid)
    finally:
        await daemon.stop()
    return figures


async def _without_api(bench: Bench, ably: FakeAblyServer, rounds: int) -> dict[str, Any]:
    daemon = await bench.start("no-api", ably, api=False)
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
            f"{f['requests']:.0f} requests, {f['errors']:.0f} errors; CPU per request: "
            f"daemon {f['daemon_cpu_ms']:.3f} ms, load generator {f['load_cpu_ms']:.3f} ms; "
            f"the daemon ran {f['daemon_busy']:.0%} of the time and waited for a CPU "
            f"{f['daemon_queued']:.0%}; load average {f['load_avg_before']:.2f} -> "
            f"{f['load_avg_after']:.2f}"
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
        f"that load meanwhile: {during['rps']:.0f} requests/s, p99 {during['p99_ms']:.1f} ms, "
        f"daemon {during['daemon_cpu_ms']:.3f} ms CPU per request)"
    )
    rounds = ", ".join(f"{x:.2f}" for x in api["signals_loaded"])
    print(
        f"  rounds under load: {rounds}; idle: {', '.join(f'{x:.2f}' for x in api['signals_idle'])}"
    )
    print(
        f"cpus available: {len(os.sched_getaffinity(0))}; load average now "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )


async def _bench(secs: float, rounds: int) -> None:
    ensure_loopback_bypasses_proxy()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        root = Path(tmp)
        async with GatewaySimulator(_scenario([ACCOUNT])) as sim:
            bench = Bench(root, sim)
            async with FakeAblyServer(api_key=ABLY_KEY) as ably:
                base = await _without_api(bench, ably, rounds)
            async with FakeAblyServer(api_key=ABLY_KEY) as ably:
                api = await _with_api(bench, ably, secs, rounds)
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
