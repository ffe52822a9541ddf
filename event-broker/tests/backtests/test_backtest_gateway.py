"""``-backtest ... -prices gateway``: the prices come as daily bars from the IB gateway (the
simulator's seeded random walk, through real ib_async), cached under ``DATA_DIR``; the CLI runs
as the user runs it (``tools/rebalance.sh``, its own process)."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from holidays import financial_holidays
from ib_gateway_sim import GatewaySimulator, Scenario
from rebalance_backtest import BacktestStore

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[3]
_SCENARIO = """
accounts: {{DU123456: {{cash: 1000.00}}}}
symbols:
  SPY: {{con_id: 756733, bid: 589.10, ask: 589.12, last: 589.11, volume: 50000000}}
  AGG: {{con_id: 5405, bid: 98.10, ask: 98.12, last: 98.11, volume: 8000000}}
clock:
  time: 2026-11-20T17:00:00-05:00
  always_open: false
  holidays: [{holidays}]
history_seed: 7
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    # The simulator's sessions are the NYSE's: its bars then pass the price checks.
    days = ", ".join(str(d) for d in sorted(financial_holidays("NYSE", years=[2025, 2026])))
    path = tmp_path / "scenario.yaml"
    path.write_text(_SCENARIO.format(holidays=days))
    return Scenario.from_yaml(path)


@pytest.fixture
async def sim(scenario: Scenario) -> AsyncIterator[GatewaySimulator]:
    async with GatewaySimulator(scenario) as simulator:
        yield simulator


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "alloc").mkdir(parents=True)
    (work / "alloc" / "growth.csv").write_text(
        "date,symbol,weight\n2026-06-01,SPY,0.6\n2026-06-01,AGG,0.4\n"
        "2026-09-01,SPY,0.3\n2026-09-01,AGG,0.7\n"
    )
    return work


async def _cli(workdir: Path, port: int, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REBALANCE_EXEC", "IB_GATEWAY_HOST"}}
    env.update(
        {
            "TRADING_MODE": "paper",
            "IB_GATEWAY_PORT": str(port),
            "DATA_DIR": str(workdir / "data"),
            "REBALANCE_TARGET": "local",
            "PYTHONPATH": str(REPO / "event-broker"),
        }
    )
    process = await asyncio.create_subprocess_exec(
        str(REPO / "tools" / "rebalance.sh"),
        *args,
        env=env,
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(90):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _backtest_args(description: str) -> list[str]:
    return [
        "-backtest",
        "growth",
        "-prices",
        "gateway",
        "-allocations",
        "alloc/growth.csv",
        "-to",
        "2026-11-19",
        "-commission",
        "zero",
        "-check",
        "signals",
        "-description",
        description,
    ]


async def test_backtest_on_gateway_bars_caches_complete_days_and_runs_again_from_them(
    sim: GatewaySimulator, workdir: Path
) -> None:
    code, out, err = await _cli(workdir, sim.port, *_backtest_args("gateway"))
    again = await _cli(workdir, sim.port, *_backtest_args("again"))

    assert code == 0, err
    name = f"growth_{datetime.now(UTC):%Y%m%d}_gateway"
    assert f"backtest {name}: 2 rebalances" in out
    assert again[0] == 0, again[2]
    with sqlite3.connect(workdir / "data" / "daily_bars.sqlite3") as db:
        spans = dict(
            (symbol, (first, last))
            for symbol, first, last in db.execute(
                "SELECT symbol, MIN(day), MAX(day) FROM bars GROUP BY symbol"
            )
        )
    # Asked from the first document; the gateway's day (11-20) is never cached.
    assert {s: last for s, (_, last) in spans.items()} == {"AGG": "2026-11-19", "SPY": "2026-11-19"}
    assert all(first <= "2026-06-01" for first, _ in spans.values())
    store = BacktestStore(workdir / "data" / "backtests.sqlite3")
    try:
        first, second = store.load(name), store.load(name.replace("_gateway", "_again"))
    finally:
        store.close()
    assert (first.equity[0][0], first.equity[-1][0]) == (date(2026, 6, 1), date(2026, 11, 19))
    assert second.equity == first.equity  # the same bars, read back from the cache


async def test_prices_gateway_without_a_gateway_exits_1_naming_where_it_looked(
    workdir: Path,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    code, _, err = await _cli(workdir, port, *_backtest_args("nogateway"))

    assert code == 1
    assert f"cannot connect to IB gateway at 127.0.0.1:{port}" in err
    store = BacktestStore(workdir / "data" / "backtests.sqlite3")
    try:
        assert store.names() == []
    finally:
        store.close()
