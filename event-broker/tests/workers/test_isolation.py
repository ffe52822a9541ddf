"""Each broker's worker holds its own broker library only: no ib_async in an Alpaca worker, no
alpaca-py in an IB worker, whether forked from its broker's fork server or started new.

The workers are the real ones (``app.worker.main`` with the real connectors against the IB
Gateway simulator and the Alpaca stand-in); a thin wrapper script around ``main`` writes the
worker's ``sys.modules`` to a file when the run is over, which is all a test can see of
another process's imports.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim import Scenario as AlpacaScenario
from app.workers.fork_launcher import FORK_SERVER_COMMAND, ForkServerLauncher
from app.workers.launch import worker_env
from app.workers.pool import WorkerProcesses
from app.workers.protocol import WorkerRequest, encode_request
from broker_connector_base import AccountConfig
from ib_gateway_sim import GatewaySimulator, Scenario

pytestmark = pytest.mark.timeout(120)

RequestFactory = Callable[..., WorkerRequest]
REPO = Path(__file__).resolve().parents[3]
IB_ACCOUNT, ALPACA_ACCOUNT = "DUM959247", "PA3DEMO00001"
IB_LIBRARIES = ("ib_async", "ibkr_connector")
ALPACA_LIBRARIES = ("alpaca", "alpaca_connector")

# Runs the real worker (``python PATH --broker NAME`` or forked the same way), then records
# which modules the worker process had loaded, in REPORTS/<broker>.modules.
_WRAPPER = """
import sys
from pathlib import Path

from app import worker

code = worker.main(sys.argv[1:])
Path({reports!r}, sys.argv[2] + ".modules").write_text("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


@dataclass
class Brokers:
    """The two stand-ins and a request for one account at each."""

    ib: WorkerRequest
    alpaca: WorkerRequest
    wrapper: Path
    reports: Path

    def modules(self, broker: str) -> set[str]:
        return set((self.reports / f"{broker}.modules").read_text().split())


def _loaded(modules: set[str], libraries: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in libraries)


@pytest.fixture
async def brokers(make_request: RequestFactory, tmp_path: Path) -> AsyncIterator[Brokers]:
    reports = tmp_path / "modules"
    reports.mkdir()
    wrapper = tmp_path / "wrapped_worker.py"
    wrapper.write_text(_WRAPPER.format(reports=str(reports)), encoding="utf-8")
    async with (
        GatewaySimulator(Scenario.from_yaml(REPO / "demo" / "scenario.yaml")) as ib_sim,
        AlpacaApiSimulator(
            AlpacaScenario.from_yaml(REPO / "demo" / "alpaca-scenario.yaml")
        ) as alpaca_sim,
    ):
        key_id, secret = alpaca_sim.credentials(ALPACA_ACCOUNT)
        settings = {
            "allocations_api_url": (REPO / "demo" / "allocations").as_uri(),
            "ib_gateway_port": str(ib_sim.port),
            "alpaca_api_key_id": key_id,
            "alpaca_api_secret_key": secret,
            "alpaca_base_url": alpaca_sim.base_url,
        }
        ib = make_request(IB_ACCOUNT, strategy="etf-blend-301-20", **settings)
        alpaca_account = AccountConfig(
            account_id=ALPACA_ACCOUNT,
            type="paper",
            strategy_name="etf-blend-100-20",
            broker="alpaca",
        )
        alpaca = make_request(account=alpaca_account, **settings)
        yield Brokers(ib=ib, alpaca=alpaca, wrapper=wrapper, reports=reports)


@pytest.mark.parametrize("started", ["forked", "new interpreter"])
async def test_each_broker_worker_holds_only_its_own_broker_library(
    brokers: Brokers, started: str
) -> None:
    launcher = None
    if started == "forked":
        command = (*FORK_SERVER_COMMAND, "--worker-script", str(brokers.wrapper))
        launcher = ForkServerLauncher(command, brokers=["ibkr", "alpaca"])
    pool = WorkerProcesses((sys.executable, str(brokers.wrapper)), launcher=launcher)
    try:
        await pool.start_spares()
        servers = launcher.server_pids if launcher is not None else {}
        ib, alpaca = await asyncio.gather(
            pool.run(brokers.ib, timeout_secs=90), pool.run(brokers.alpaca, timeout_secs=90)
        )
    finally:
        await pool.terminate_all()

    assert (ib.success, ib.error, alpaca.success, alpaca.error) == (True, None, True, None)
    # Real previews: each worker read its broker's account and quotes.
    assert {t.symbol for t in ib.trades} == {"SPY", "QQQ", "TLT", "GLD", "DBC"}
    assert {t.symbol for t in alpaca.trades} == {"SPY", "TLT", "GLD", "DBC"}
    ib_modules, alpaca_modules = brokers.modules("ibkr"), brokers.modules("alpaca")
    assert set(IB_LIBRARIES) <= ib_modules
    assert _loaded(ib_modules, ALPACA_LIBRARIES) == []
    assert set(ALPACA_LIBRARIES) <= alpaca_modules
    assert _loaded(alpaca_modules, IB_LIBRARIES) == []
    if started == "forked":
        assert set(servers) == {"alpaca", "ibkr"}
        assert servers["alpaca"] != servers["ibkr"]


async def test_worker_of_one_broker_refuses_an_account_of_another_without_loading_it(
    brokers: Brokers,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(brokers.wrapper),
        "--broker",
        "ibkr",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=worker_env(),
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(encode_request(brokers.alpaca) + b"\n")
    await process.stdin.drain()
    # stdin stays open until the worker has exited: its end is the worker's lifeline.
    out = await process.stdout.read()
    code = await process.wait()
    process.stdin.close()

    result = json.loads(out)
    assert code == 0
    assert result["success"] is False
    assert result["error"] == (
        f"this worker serves ibkr accounts only; account {ALPACA_ACCOUNT} is at alpaca"
    )
    assert _loaded(brokers.modules("ibkr"), ALPACA_LIBRARIES) == []
