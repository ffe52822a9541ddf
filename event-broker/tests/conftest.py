"""Shared fixtures for the daemon tests: config files, worker stand-ins, the simulator stack."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim import Scenario as AlpacaScenario
from app.api.app import create_app
from app.api.server import ApiServer
from app.config.settings import AppConfig, load_app_config, load_settings
from app.models import AccountExecutionResult, ExecMode, RunMode
from app.notify.notifier import NotificationService
from app.runs.account import TradingExecutor
from app.runs.requests import build_worker_request
from app.runtime import Runtime
from app.snapshots.model import BenchmarkQuote, PortfolioSnapshot, SnapshotPosition
from app.store.files import JOURNAL_FILE
from app.store.journal import Journal
from app.store.snapshots import CashFlow
from app.workers.pool import WorkerProcesses
from app.workers.protocol import WorkerRequest
from broker_connector_base import AccountConfig, OrderStatus, Trade
from fake_ably_server import FakeAblyServer, ensure_loopback_bypasses_proxy
from ib_gateway_sim import GatewaySimulator, Scenario
from pydantic import SecretStr

WorkerScript = Callable[[str], tuple[str, ...]]
RequestFactory = Callable[..., WorkerRequest]

_RESULT_TEMPLATE = """
import json, sys, datetime, os, time, subprocess
request = json.loads(sys.stdin.buffer.readline())
now = datetime.datetime.now(datetime.UTC).isoformat()
def result(status="succeeded", error=None):
    return json.dumps({
        "account_id": request["account"]["account_id"], "run_id": request["run_id"],
        "mode": request["mode"], "status": status, "success": status == "succeeded",
        "error": error, "trades": [], "started_at": now, "finished_at": now,
    })
def journal_order(symbol="SPY", quantity=-1):
    # What a real worker does before it sends an order (and what records the PDT day).
    sys.path.insert(0, EVENT_BROKER)
    from app.store.journal import Journal
    from broker_connector_base import Trade
    trade = Trade.model_validate({"symbol": symbol, "quantity": quantity,
        "current_shares": 10, "target_value": "0", "current_value": "100", "price": "100"})
    with Journal(__import__("pathlib").Path(request["journal_path"])) as journal:
        journal.record_order(run_id=request["run_id"], trade=trade)
if request["mode"] == "reconcile":  # a stand-in has nothing at a broker to reconcile
    print(result())
    sys.exit(0)
"""


def process_alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def wait_until(condition: Callable[[], bool], what: str, *, secs: float = 30.0) -> None:
    """Poll another process's doing (files, /proc): there is no event to wait on."""
    try:
        async with asyncio.timeout(secs):
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {secs:g} s: {what}") from None


@pytest.fixture
def alive() -> Callable[[int], bool]:
    """``alive(pid)``: whether a process runs (a zombie counts as gone)."""
    return process_alive


@pytest.fixture
def until() -> Callable[[Callable[[], bool], str], Awaitable[None]]:
    """``await until(condition, what)``: poll for 30 s, then fail naming ``what``."""
    return wait_until


@pytest.fixture
def worker_script(tmp_path: Path) -> WorkerScript:
    """Write a stand-in worker (Python body after the request is read); return its argv.

    The body sees ``request`` (the decoded JSON) and ``result(status, error)``.
    """
    counter = iter(range(1000))

    def make(body: str) -> tuple[str, ...]:
        path = tmp_path / f"worker_{next(counter)}.py"
        header = f"EVENT_BROKER = {str(REPO / 'event-broker')!r}\n"
        path.write_text(header + _RESULT_TEMPLATE + textwrap.dedent(body), encoding="utf-8")
        return (sys.executable, str(path))

    return make


ConfigFactory = Callable[..., AppConfig]


@pytest.fixture
def make_config(tmp_path: Path) -> ConfigFactory:
    """An ``AppConfig`` for the given accounts (paper), with state under ``tmp_path/data``."""

    def make(*accounts: AccountConfig, **environ: str) -> AppConfig:
        env = {
            "TRADING_MODE": "paper",
            "ALLOCATIONS_API_URL": f"file://{tmp_path / 'allocations'}",
            "DATA_DIR": str(tmp_path / "data"),
            "ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
            "REPLACEMENT_SETS_FILE": str(tmp_path / "no-sets.yaml"),
            "ACCOUNT_RUN_TIMEOUT_SECS": "30",
            # A worker's kill timeout is the run timeout plus this wait for its broker.
            "GATEWAY_RETRY_SECS": "0",
            # No position check at start-up in NYSE regular hours: reconcile runs no test
            # asked for (the position check tests turn it on).
            "POSITION_CHECK_INTERVAL_SECS": "0",
            **{key.upper(): value for key, value in environ.items()},
        }
        settings = load_settings(env_file=None, environ=env)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return AppConfig(
            settings=settings, accounts=tuple(accounts), replacement_set_names=frozenset()
        )

    return make


@pytest.fixture
def make_request(make_config: ConfigFactory) -> RequestFactory:
    """A ``WorkerRequest`` built as the daemon builds it (``build_worker_request``).

    ``make_request("DU1", run_id="r", mode="rebalance", account=..., **settings)``: a paper
    account ``DU1`` unless ``account`` is given; keyword settings are environment variables
    (``allocations_api_key="k"``, ``trading_mode="live"``).
    """

    def make(
        account_id: str = "DU111111",
        *,
        strategy: str = "s1",
        account: AccountConfig | None = None,
        mode: ExecMode = "print-rebalance",
        run_id: str | None = None,
        **environ: str,
    ) -> WorkerRequest:
        account = account or paper_account(account_id, strategy)
        config = make_config(account, **environ)
        return build_worker_request(config, account, mode, run_id or f"run-{account.account_id}")

    return make


def paper_account(account_id: str, strategy: str = "s1", **fields: object) -> AccountConfig:
    """A paper ``AccountConfig`` (plain function: fixtures return it through ``account``)."""
    return AccountConfig.model_validate(
        {"account_id": account_id, "type": "paper", "strategy_name": strategy, **fields}
    )


@pytest.fixture
def account() -> Callable[..., AccountConfig]:
    """Factory for paper accounts: ``account("DU1", "strategy", pdt_protection_enabled=True)``."""
    return paper_account


RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def make_runtime() -> Iterator[RuntimeFactory]:
    """The daemon's ``Runtime`` on real journal/PDT/lock files, with a stand-in worker command."""
    runtimes: list[Runtime] = []

    def make(
        config: AppConfig,
        command: tuple[str, ...],
        *,
        notifier: NotificationService | None = None,
        lock_wait_secs: float | None = None,
    ) -> Runtime:
        runtime = Runtime(
            config,
            workers=WorkerProcesses(command),
            notifier=notifier or NotificationService(()),
            lock_wait_secs=lock_wait_secs,
        )
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()


ExecutorFactory = Callable[..., TradingExecutor]


@pytest.fixture
def make_executor(make_runtime: RuntimeFactory) -> ExecutorFactory:
    """The ``TradingExecutor`` of a ``make_runtime`` runtime (same arguments)."""

    def make(
        config: AppConfig,
        command: tuple[str, ...],
        *,
        notifier: NotificationService | None = None,
        lock_wait_secs: float | None = None,
    ) -> TradingExecutor:
        return make_runtime(
            config, command, notifier=notifier, lock_wait_secs=lock_wait_secs
        ).executor

    return make


# --------------------------------------------------------------------------------------------
# The real stack: both stand-ins and fake Ably (in-process), daemon and CLI as processes.
# --------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
DEMO_SCENARIO = REPO / "demo" / "scenario.yaml"
DEMO_ALPACA_SCENARIO = REPO / "demo" / "alpaca-scenario.yaml"
DEMO_ALPACA_ACCOUNT = "PA3DEMO00001"
DEMO_ALLOCATIONS = REPO / "demo" / "allocations"
REBALANCE_SH = REPO / "tools" / "rebalance.sh"
ABLY_TEST_KEY = "fakeapp.fakekey:not-a-real-secret"


@dataclass
class ProcessOutput:
    """Exit code and output of a finished process."""

    code: int
    stdout: str
    stderr: str


@dataclass
class Stack:
    """The running IB Gateway simulator, Alpaca stand-in and fake Ably server, and the
    environment pointing at them (the repo's accounts.yaml trades both brokers)."""

    sim: GatewaySimulator
    alpaca: AlpacaApiSimulator
    ably: FakeAblyServer
    env: dict[str, str]
    workdir: Path

    @property
    def data_dir(self) -> Path:
        return Path(self.env["DATA_DIR"])

    def journal_rows(self, sql: str) -> list[tuple[object, ...]]:
        """Rows of a query on the journal (a fresh read-only connection)."""
        with sqlite3.connect(self.data_dir / JOURNAL_FILE) as conn:
            return list(conn.execute(sql))

    async def cli(self, *args: str, timeout_secs: float = 60) -> ProcessOutput:
        """Run ``tools/rebalance.sh ARGS`` (local target) without blocking the loop."""
        process = await asyncio.create_subprocess_exec(
            str(REBALANCE_SH),
            *args,
            env=self.env,
            cwd=self.workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(timeout_secs):
            out, err = await process.communicate()
        assert process.returncode is not None
        return ProcessOutput(process.returncode, out.decode(), err.decode())


@pytest.fixture
def stack_scenario() -> Scenario:
    """The simulator's scenario for ``stack`` (override in a test module for another)."""
    return Scenario.from_yaml(DEMO_SCENARIO)


@pytest.fixture
def stack_allocations() -> Path:
    """The ``file://`` allocations directory for ``stack`` (override in a test module)."""
    return DEMO_ALLOCATIONS


@pytest.fixture
def stack_accounts() -> Path:
    """The accounts file for ``stack`` (override in a test module)."""
    return REPO / "accounts.yaml"


@pytest.fixture
async def stack(
    tmp_path: Path, stack_scenario: Scenario, stack_allocations: Path, stack_accounts: Path
) -> AsyncIterator[Stack]:
    """Both stand-ins with the demo scenarios, fake Ably, and the repo's accounts files (unless
    a test module overrides ``stack_scenario``, ``stack_allocations``, ``stack_accounts``)."""
    ensure_loopback_bypasses_proxy()
    workdir = tmp_path / "work"
    workdir.mkdir()
    async with (
        GatewaySimulator(stack_scenario) as sim,
        AlpacaApiSimulator(AlpacaScenario.from_yaml(DEMO_ALPACA_SCENARIO)) as alpaca,
        FakeAblyServer(api_key=ABLY_TEST_KEY) as ably,
    ):
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"REALTIME_API_KEY", "NOTIFICATION_URLS", "REBALANCE_EXEC"}
            and not key.upper().startswith("ALPACA_")
        }
        key_id, secret = alpaca.credentials(DEMO_ALPACA_ACCOUNT)
        env.update(
            {
                "TRADING_MODE": "paper",
                "IB_GATEWAY_HOST": "127.0.0.1",
                "IB_GATEWAY_PORT": str(sim.port),
                "ALPACA_API_KEY_ID": key_id,
                "ALPACA_API_SECRET_KEY": secret,
                "ALPACA_BASE_URL": alpaca.base_url,
                "ALLOCATIONS_API_URL": stack_allocations.as_uri(),
                "DATA_DIR": str(tmp_path / "data"),
                "ACCOUNTS_FILE": str(stack_accounts),
                "REPLACEMENT_SETS_FILE": str(REPO / "replacement-sets.yaml"),
                "LOG_LEVEL": "INFO",
                "REBALANCE_TARGET": "local",
                "PYTHONPATH": str(REPO / "event-broker"),
                "FILL_TIMEOUT_SECS": "10",
                "ACCOUNT_RUN_TIMEOUT_SECS": "60",
                "GATEWAY_RETRY_SECS": "0",
                "SHUTDOWN_GRACE_SECS": "5",
                # A daemon started after 16:10 New York on a trading day would take the day's
                # snapshot at once: runs no test asked for. The snapshot tests turn it on.
                "SNAPSHOTS_ENABLED": "false",
                # Likewise a daemon started in NYSE regular hours checks positions at once: a
                # reconcile run holding the account's lock when a test's signal comes. The
                # position check tests turn it on.
                "POSITION_CHECK_INTERVAL_SECS": "0",
                # Any free port: daemons of parallel tests (and a developer's own) never clash.
                "API_PORT": "0",
            }
        )
        yield Stack(sim=sim, alpaca=alpaca, ably=ably, env=env, workdir=workdir)


class Daemon:
    """``python -m app.main`` as a child process, its log collected."""

    def __init__(self, stack: Stack, env: dict[str, str]) -> None:
        self.stack = stack
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._log_changed = asyncio.Condition()

    async def start(self, *, wait_connected: bool = True) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.main",
            env=self.env,
            cwd=self.stack.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        if wait_connected:
            await self.wait_for_log("Subscribed to Ably channels")

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            async with self._log_changed:
                self.log.append(raw.decode(errors="replace").rstrip())
                self._log_changed.notify_all()

    async def wait_for_log(self, text: str, *, timeout_secs: float = 30) -> str:
        """The first log line containing ``text``, waiting for it if needed."""

        def found() -> bool:
            return any(text in line for line in self.log)

        try:
            async with asyncio.timeout(timeout_secs), self._log_changed:
                await self._log_changed.wait_for(found)
        except TimeoutError:
            raise AssertionError(f"no log line with {text!r}:\n" + "\n".join(self.log)) from None
        return next(line for line in self.log if text in line)

    async def wait_for_count(self, text: str, count: int, *, timeout_secs: float = 60) -> None:
        """Wait until ``count`` log lines contain ``text``."""

        def found() -> bool:
            return sum(text in line for line in self.log) >= count

        try:
            async with asyncio.timeout(timeout_secs), self._log_changed:
                await self._log_changed.wait_for(found)
        except TimeoutError:
            raise AssertionError(
                f"fewer than {count} log lines with {text!r}:\n" + "\n".join(self.log)
            ) from None

    async def wait_exit(self, *, timeout_secs: float = 30) -> int:
        """Wait for the daemon to exit by itself; its exit code."""
        assert self.process is not None
        async with asyncio.timeout(timeout_secs):
            code = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        async with asyncio.timeout(30):
            code = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return code


DaemonFactory = Callable[..., Awaitable[Daemon]]


@pytest.fixture
async def daemon(stack: Stack) -> AsyncIterator[DaemonFactory]:
    """Start daemons on ``stack`` (with Ably unless ``ably=False``); all stopped at the end."""
    started: list[Daemon] = []

    async def start(*, ably: bool = True, wait_connected: bool = True, **env: str) -> Daemon:
        environ = dict(stack.env)
        if ably:
            environ.update(
                {
                    "REALTIME_API_KEY": ABLY_TEST_KEY,
                    "ABLY_ENDPOINT": stack.ably.endpoint,
                    "ABLY_TLS": "false",
                }
            )
        environ.update({key.upper(): value for key, value in env.items()})
        instance = Daemon(stack, environ)
        started.append(instance)
        await instance.start(wait_connected=ably and wait_connected)
        return instance

    yield start
    for instance in started:
        await instance.stop(signal.SIGKILL if instance.process is None else signal.SIGTERM)


# --------------------------------------------------------------------------------------------
# The daemon's HTTP API served for real: uvicorn on 127.0.0.1, the daemon's ``Runtime`` with
# worker processes trading the simulator (real ``ib_async``), allocations from ``file://``;
# clients are real ``httpx`` clients.
# --------------------------------------------------------------------------------------------

API_KEY = "test-api-key-" + secrets.token_hex(8)


@dataclass
class Api:
    """A served API over a runtime, and a client that sends the key."""

    runtime: Runtime
    server: ApiServer
    client: httpx.AsyncClient
    stack: Stack
    realtime: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def anonymous(self, **kwargs: Any) -> httpx.AsyncClient:
        """A client without the key (closed by the caller)."""
        return httpx.AsyncClient(base_url=self.url, timeout=60, **kwargs)

    def sim_orders(self, account: str) -> list[Any]:
        return [o for o in self.stack.sim.orders() if o.account == account]


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(stack: Stack) -> AsyncIterator[ApiFactory]:
    """``await make_api(**env)``: the API on the demo accounts (``API_KEY`` set unless
    ``api_key=""``), with the daemon's runtime; everything stopped at the end."""
    started: list[tuple[Runtime, ApiServer, httpx.AsyncClient]] = []

    async def make(**env: str) -> Api:
        environ = {**stack.env, "API_KEY": API_KEY, "API_PORT": "0"}
        environ.update({key.upper(): value for key, value in env.items()})
        environ = {k: v for k, v in environ.items() if v != ""}
        config = load_app_config(env_file=None, environ=environ)
        runtime = Runtime(config, workers=WorkerProcesses())
        realtime = {"state": "disabled"}
        app = create_app(runtime, realtime_state=lambda: realtime["state"])
        server = ApiServer(app, host="127.0.0.1", port=0)
        await runtime.start(report_unfinished=False)
        await server.start()
        client = httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=120)
        started.append((runtime, server, client))
        return Api(runtime, server, client, stack, realtime)

    yield make
    for runtime, server, client in started:
        await client.aclose()
        await runtime.stop(5)
        await server.stop()
        runtime.close()


@pytest.fixture
async def api(make_api: ApiFactory) -> Api:
    """The API with the default settings and the test key."""
    return await make_api()


# A real notification receiver: Apprise's json:// target posting to aiohttp on 127.0.0.1.
# --------------------------------------------------------------------------------------------

NOTIFY_TOKEN = "S3cretHookToken42"


@dataclass
class Receiver:
    """A local webhook: records JSON bodies, answers with ``status``."""

    port: int = 0
    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)
    hold: asyncio.Event | None = None

    def url(self, path: str = f"hook/{NOTIFY_TOKEN}") -> SecretStr:
        return SecretStr(f"json://127.0.0.1:{self.port}/{path}")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def handle(request: web.Request) -> web.Response:
        state.bodies.append({"path": request.path, **await request.json()})
        if state.hold is not None:
            await state.hold.wait()
        return web.Response(status=state.status, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)  # its log line would hold the token
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        await runner.cleanup()


# --------------------------------------------------------------------------------------------
# Snapshots written through the journal as the daemon writes them (finish_run of a run).
# --------------------------------------------------------------------------------------------

JOURNAL_V1_DUMP = Path(__file__).parent / "store" / "data" / "journal-v1.sql"


def make_v1_journal(path: Path) -> None:
    """A journal file as the previous version (schema 1) left it (``journal-v1.sql``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(JOURNAL_V1_DUMP.read_text(encoding="utf-8"))
    finally:
        conn.close()


@pytest.fixture
def v1_journal() -> Callable[[Path], None]:
    """``v1_journal(path)`` writes the previous version's journal file there."""
    return make_v1_journal


class SnapshotBook:
    """Writes snapshot and rebalance runs into a real journal, as ``TradingExecutor`` does."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._runs = iter(range(1, 100_000))

    def _run_id(self, mode: str) -> str:
        return f"{mode}-{next(self._runs):05d}"

    def take(
        self,
        account_id: str,
        taken_at: datetime,
        *,
        total: str,
        cash: str,
        positions: dict[str, tuple[str, str]] | None = None,
        targets: dict[str, str] | None = None,
        spy: str | None = None,
        settled: str | None = None,
    ) -> CashFlow | None:
        """A successful ``snapshot`` run; ``positions`` symbol -> (quantity, price)."""
        snapshot = PortfolioSnapshot(
            account_id=account_id,
            taken_at=taken_at,
            total_value=Decimal(total),
            cash=Decimal(cash),
            settled_cash=Decimal(settled or cash),
            positions=tuple(
                SnapshotPosition(
                    symbol=symbol,
                    quantity=Decimal(qty),
                    price=Decimal(price),
                    value=Decimal(qty) * Decimal(price),
                )
                for symbol, (qty, price) in sorted((positions or {}).items())
            ),
            targets=None if targets is None else {s: Decimal(w) for s, w in targets.items()},
            benchmark=None if spy is None else BenchmarkQuote(symbol="SPY", price=Decimal(spy)),
        )
        return self._finish(account_id, "snapshot", snapshot=snapshot)

    def rebalance(
        self, account_id: str, fills: list[tuple[str, int, str, str | None]]
    ) -> AccountExecutionResult:
        """A ``rebalance`` run whose orders (symbol, signed shares, avg price, est.
        commission) all filled; started now, so after every snapshot taken before now."""
        run_id = self._run_id("rebalance")
        self.journal.start_run(run_id=run_id, account_id=account_id, mode="rebalance", client_id=1)
        trades = []
        for n, (symbol, quantity, price, commission) in enumerate(fills):
            placed = Trade(
                symbol=symbol,
                quantity=quantity,
                current_shares=Decimal(0),
                target_value=Decimal(0),
                current_value=Decimal(0),
                price=Decimal(price),
                order_id=f"{run_id}-{n}",
                status=OrderStatus.FILLED,
                filled_quantity=quantity,
                avg_fill_price=Decimal(price),
                estimated_commission=None if commission is None else Decimal(commission),
            )
            self.journal.record_order(run_id=run_id, trade=placed)
            trades.append(placed)
        now = datetime.now(UTC)
        result = AccountExecutionResult(
            account_id=account_id,
            run_id=run_id,
            mode="rebalance",
            status="succeeded",
            success=True,
            trades=trades,
            started_at=now,
            finished_at=now,
        )
        self.journal.finish_run(run_id=run_id, result=result)
        return result

    def _finish(
        self, account_id: str, mode: RunMode, *, snapshot: PortfolioSnapshot
    ) -> CashFlow | None:
        run_id = self._run_id(mode)
        self.journal.start_run(run_id=run_id, account_id=account_id, mode=mode, client_id=1)
        now = datetime.now(UTC)
        result = AccountExecutionResult(
            account_id=account_id,
            run_id=run_id,
            mode=mode,
            status="succeeded",
            success=True,
            total_value=snapshot.total_value,
            cash_balance=snapshot.cash,
            snapshot=snapshot,
            started_at=now,
            finished_at=now,
        )
        return self.journal.finish_run(run_id=run_id, result=result)


@pytest.fixture
def book(tmp_path: Path) -> Iterator[SnapshotBook]:
    """A ``SnapshotBook`` on a new journal in ``tmp_path/data``."""
    with Journal(tmp_path / "data" / JOURNAL_FILE) as journal:
        yield SnapshotBook(journal)
