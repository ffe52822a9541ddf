"""Ten accounts rebalanced at once through one gateway whose message limit is gateway-wide
(the simulator's ``pacing_scope: gateway``): the workers share one window, IB never answers
error 100, and every run succeeds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from app.config.settings import AppConfig, load_settings
from app.notify.notifier import NotificationService
from app.runtime import Runtime
from broker_connector_base import AccountConfig
from ib_gateway_sim import GatewaySimulator, Scenario
from ib_gateway_sim.scenario import AccountSpec

pytestmark = pytest.mark.timeout(300)

ACCOUNTS = [f"DU{700001 + n}" for n in range(10)]
WEIGHTS = {"SPY": "0.3", "AGG": "0.3", "IEF": "0.2", "GLD": "0.2"}


@pytest.fixture
async def sim() -> AsyncIterator[GatewaySimulator]:
    base = Scenario.builtin("example")
    accounts = {a: AccountSpec(cash=Decimal("50000.00")) for a in ACCOUNTS}
    async with GatewaySimulator(base.model_copy(update={"accounts": accounts})) as running:
        yield running


def _config(tmp_path: Path, sim: GatewaySimulator) -> AppConfig:
    allocations = tmp_path / "allocations"
    allocations.mkdir()
    document = {
        "status": "success",
        "data": {
            "name": "blend",
            "strategy_long_name": "blend",
            "last_rebalance_on": "",
            "allocations": [{"symbol": s, "allocation": float(w)} for s, w in WEIGHTS.items()],
        },
    }
    (allocations / "blend").mkdir()
    (allocations / "blend" / "allocations.json").write_text(json.dumps(document))
    settings = load_settings(
        env_file=None,
        environ={
            "TRADING_MODE": "paper",
            "IB_GATEWAY_PORT": str(sim.port),
            "ALLOCATIONS_API_URL": allocations.as_uri(),
            "DATA_DIR": str(tmp_path / "data"),
            "ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
            "REPLACEMENT_SETS_FILE": str(tmp_path / "none.yaml"),
            "MAX_PARALLEL_ACCOUNTS": "10",
            "ACCOUNT_RUN_TIMEOUT_SECS": "240",
            "FILL_TIMEOUT_SECS": "60",
            # The gateway takes 20 messages a second from all clients together: the workers
            # share 16 of them.
            "IB_GATEWAY_MESSAGES_PER_SEC": "16",
        },
    )
    accounts = tuple(
        AccountConfig(account_id=a, type="paper", strategy_name="blend") for a in ACCOUNTS
    )
    return AppConfig(settings=settings, accounts=accounts, replacement_set_names=frozenset())


async def test_ten_accounts_at_once_share_the_gateways_rate_and_all_succeed(
    tmp_path: Path, sim: GatewaySimulator
) -> None:
    sim.set_faults(pacing_limit_per_sec=20, pacing_scope="gateway")
    config = _config(tmp_path, sim)
    runtime = Runtime(config, notifier=NotificationService(()))
    await runtime.start()
    try:
        done = await runtime.strategies.execute_strategy("blend", "rebalance")
    finally:
        await runtime.stop(5)
        runtime.close()

    assert [(r.account_id, r.status) for r in done.results] == [(a, "succeeded") for a in ACCOUNTS]
    assert sim.paced_out == 0  # IB never had to say "Max rate of messages per second"
    assert {o.account for o in sim.orders()} == set(ACCOUNTS)
    assert (tmp_path / "data" / f"ib-pacing-127.0.0.1-{sim.port}").exists()
