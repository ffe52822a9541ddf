"""The engine's rebalancer conformance suite on IB: ``IBKRRebalancer`` and ``IBKRClient`` over
real ib_async against a fresh IB Gateway simulator per scenario."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from broker_connector_base import BaseRebalancer, BrokerClient
from ib_gateway_sim import GatewaySimulator, Scenario
from ib_gateway_sim.state import SimOrder
from ibkr_connector import IBKRClient, IBKRConnectionConfig, IBKRRebalancer
from rebalance_engine import AllocationSource, ReplacementService
from rebalance_engine.conformance import (
    BrokerOrder,
    BuildBroker,
    RebalancerConformance,
    RebalanceScenario,
    ScenarioBroker,
)

ACCOUNT = "DU100001"
# Saturday noon in New York: outside liquid hours whatever the real time is.
WEEKEND = "2026-11-21T12:00:00-05:00"
# ib_async logs the simulator's deliberate drop at ERROR.
PROVOKED = [r"^Peer closed connection\.$"]


def sim_scenario(scenario: RebalanceScenario) -> Scenario:
    """The simulator's scenario for ``scenario``: one cash account, no commissions."""
    symbols = {
        symbol: {"con_id": 900_000 + index, "long_name": f"{symbol} ETF", "bid": bid, "ask": ask}
        for index, (symbol, (bid, ask)) in enumerate(sorted(scenario.quotes.items()))
    }
    positions = {
        symbol: {"quantity": Decimal(quantity), "avg_cost": scenario.quotes[symbol][0]}
        for symbol, quantity in scenario.positions.items()
    }
    faults: dict[str, Any] = {
        "fill_delay_secs": scenario.fill_delay_secs,
        "reject_symbols": sorted(scenario.reject_symbols),
        "drop_connections_after_orders": scenario.drop_connection_after_orders,
    }
    if scenario.partial_fill_symbols:
        # The simulator splits every fill in two and stops after the first part, for every
        # symbol (which the suite allows).
        faults.update(partial_fill_parts=2, partial_fill_stop_after=1)
    clock: dict[str, Any] = {} if scenario.market_open else {"time": WEEKEND, "always_open": False}
    return Scenario.from_dict(
        {
            "accounts": {ACCOUNT: {"cash": scenario.cash, "positions": positions}},
            "symbols": symbols,
            "clock": clock,
            "fills": {"commission_per_share": 0, "commission_min": 0},
            "faults": faults,
        }
    )


def _broker_order(order: SimOrder) -> BrokerOrder:
    sign = 1 if order.is_buy else -1
    return BrokerOrder(
        symbol=order.symbol,
        quantity=sign * int(order.quantity),
        order_ref=order.order_ref or None,
        filled_quantity=sign * int(order.filled),
        working=order.is_working,
    )


@pytest.mark.timeout(90)
class TestIBKRRebalancerConformance(RebalancerConformance):
    """Every rebalancer guarantee with IBKRRebalancer, IBKRClient and the simulator."""

    @pytest.fixture
    def allowed_ib_errors(self) -> list[str]:
        return PROVOKED

    @pytest.fixture
    async def build_broker(self, tmp_path: Path) -> AsyncIterator[BuildBroker]:
        async with AsyncExitStack() as stack:

            async def build(scenario: RebalanceScenario) -> ScenarioBroker:
                sim = await stack.enter_async_context(GatewaySimulator(sim_scenario(scenario)))
                client = IBKRClient(
                    IBKRConnectionConfig(
                        client_id=31,
                        port=sim.port,
                        connect_timeout_secs=2,
                        request_timeout_secs=5,
                        connect_retries=0,
                        data_dir=tmp_path,
                    )
                )
                stack.push_async_callback(client.disconnect)
                await client.connect()

                def clear() -> None:
                    sim.set_faults(
                        fill_delay_secs=0,
                        reject_symbols=[],
                        partial_fill_parts=1,
                        partial_fill_stop_after=None,
                        drop_connections_after_orders=None,
                    )

                def orders() -> list[BrokerOrder]:
                    return [_broker_order(o) for o in sim.orders()]

                return ScenarioBroker(client, ACCOUNT, orders, clear)

            yield build

    def make_rebalancer(
        self,
        client: BrokerClient,
        *,
        allocation_source: AllocationSource,
        replacement_service: ReplacementService | None = None,
        **options: Any,
    ) -> BaseRebalancer:
        options.setdefault("fill_timeout_secs", self.fill_timeout_secs)
        options.setdefault("cancel_timeout_secs", self.cancel_timeout_secs)
        options.setdefault("settle_timeout_secs", self.settle_timeout_secs)
        return IBKRRebalancer(
            client,
            allocation_service=allocation_source,
            replacement_service=replacement_service,
            **options,
        )


def test_sim_scenario_of_a_closed_market_is_a_weekend_without_commission() -> None:
    scenario = sim_scenario(
        RebalanceScenario(cash=Decimal(1000), positions={"SPY": 1}, market_open=False)
    )
    assert scenario.clock.time == dt.datetime.fromisoformat(WEEKEND)
    assert scenario.clock.always_open is False
    assert scenario.fills.commission_per_share == 0
    assert scenario.fills.commission_min == 0
    assert scenario.accounts[ACCOUNT].positions["SPY"].quantity == 1
