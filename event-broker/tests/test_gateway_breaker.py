"""The gateway breaker in the daemon, with real workers and a simulator that refuses
connections (a gateway restart): runs refused while it is open, journalled, the owner told
once; runs resume after the probe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from app.config.settings import AppConfig, load_settings
from app.notify.notifier import NotificationService
from app.runtime import Runtime
from broker_connector_base import AccountConfig
from ib_gateway_sim import GatewaySimulator, Scenario

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
Receiver = Any  # conftest.Receiver


@pytest.fixture
async def sim() -> AsyncIterator[GatewaySimulator]:
    async with GatewaySimulator(Scenario.from_yaml(REPO / "demo" / "scenario.yaml")) as running:
        yield running


def _config(tmp_path: Path, sim: GatewaySimulator) -> AppConfig:
    settings = load_settings(
        env_file=None,
        environ={
            "TRADING_MODE": "paper",
            "IB_GATEWAY_PORT": str(sim.port),
            "ALLOCATIONS_API_URL": (REPO / "demo" / "allocations").as_uri(),
            "DATA_DIR": str(tmp_path / "data"),
            "ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
            "REPLACEMENT_SETS_FILE": str(tmp_path / "none.yaml"),
            "ACCOUNT_RUN_TIMEOUT_SECS": "60",
            "FILL_TIMEOUT_SECS": "10",
            "GATEWAY_BREAKER_FAILURES": "2",
            "GATEWAY_BREAKER_COOLDOWN_SECS": "0.5",
        },
    )
    account = AccountConfig(account_id="DUM959247", type="paper", strategy_name="etf-blend-301-20")
    return AppConfig(settings=settings, accounts=(account,), replacement_set_names=frozenset())


async def test_unreachable_gateway_opens_the_breaker_runs_are_refused_then_resume(
    tmp_path: Path, sim: GatewaySimulator, receiver: Receiver
) -> None:
    config = _config(tmp_path, sim)
    runtime = Runtime(config, notifier=NotificationService((receiver.url(),)))
    await runtime.start()
    account = config.accounts[0]
    try:
        sim.restart(refuse_secs=600)  # the nightly restart, as long as it takes

        first = await runtime.executor.execute_account(account, "print-rebalance")
        second = await runtime.executor.execute_account(account, "print-rebalance")
        refused = await runtime.executor.execute_account(account, "rebalance")

        assert [r.broker_unreachable for r in (first, second)] == [True, True]
        assert "cannot connect to IB gateway" in (first.error or "")
        assert refused.status == "refused"
        assert "refused 2 runs in a row" in (refused.error or "")
        assert sim.orders() == []
        rows = runtime.journal.recent_runs("DUM959247", limit=5)
        assert [(r.mode, r.status) for r in rows][:1] == [("rebalance", "refused")]
        titles = [b["title"] for b in receiver.bodies]
        # The two failed runs each, then the breaker once; the refused run is not notified.
        assert titles.count(f"Broker gateway 127.0.0.1:{sim.port} unreachable: runs stopped") == 1
        assert len(titles) == 3

        await sim.accept_connections()
        await runtime.breaker.wait_closed(("127.0.0.1", sim.port))
        resumed = await runtime.executor.execute_account(account, "rebalance")

        assert resumed.success, resumed.error
        assert sim.orders()
        assert receiver.bodies[-2]["title"].endswith("reachable again: runs resume")
    finally:
        await runtime.stop(5)
        runtime.close()
