"""The engine's rebalancer conformance suite on Alpaca: the engine's ``Rebalancer`` and
``AlpacaClient`` over real alpaca-py against a fresh Alpaca API stand-in per scenario."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Any

import pytest
from alpaca_api_sim import AlpacaApiSimulator, Scenario
from alpaca_api_sim.state import SimOrder
from alpaca_connector import AlpacaClient
from alpaca_connector.testing import stand_in_config
from alpaca_connector.translation import order_ref_of
from rebalance_engine.conformance import (
    BrokerOrder,
    BuildBroker,
    RebalancerConformance,
    RebalanceScenario,
    ScenarioBroker,
)

ACCOUNT = "PA1CONF00001"
KEY_ID, SECRET = "PKCONFORMANCE0000001", "conformance-stand-in-secret-0001"
# Saturday noon in New York: the market is closed whatever the real time is.
WEEKEND = "2026-11-21T12:00:00-05:00"


def sim_scenario(scenario: RebalanceScenario) -> Scenario:
    """The stand-in's scenario for ``scenario``: one cash account (Alpaca charges no
    commission), buys filled at the ask and sells at the bid."""
    symbols = {
        symbol: {"exchange": "ARCA", "name": f"{symbol} ETF", "bid": bid, "ask": ask}
        for symbol, (bid, ask) in sorted(scenario.quotes.items())
    }
    positions = {
        symbol: {"quantity": quantity, "avg_entry_price": scenario.quotes[symbol][0]}
        for symbol, quantity in scenario.positions.items()
    }
    faults: dict[str, Any] = {
        "fill_delay_secs": scenario.fill_delay_secs,
        "reject_symbols": sorted(scenario.reject_symbols),
        "drop_connections_after_orders": scenario.drop_connection_after_orders,
    }
    if scenario.partial_fill_symbols:
        # The stand-in splits every fill in two and stops after the first part, for every
        # symbol (which the suite allows).
        faults.update(partial_fill_parts=2, partial_fill_stop_after=1)
    clock: dict[str, Any] = {"always_open": True}
    if not scenario.market_open:
        clock = {"time": WEEKEND, "always_open": False}
    return Scenario.model_validate(
        {
            "accounts": {
                ACCOUNT: {
                    "key_id": KEY_ID,
                    "secret_key": SECRET,
                    "cash": scenario.cash,
                    "account_type": "cash",
                    "positions": positions,
                }
            },
            "symbols": symbols,
            "clock": clock,
            "faults": faults,
        }
    )


def _broker_order(order: SimOrder) -> BrokerOrder:
    sign = 1 if order.side == "buy" else -1
    return BrokerOrder(
        symbol=order.symbol,
        quantity=sign * order.qty,
        order_ref=order_ref_of(order.client_order_id),
        filled_quantity=sign * order.filled_qty,
        working=order.is_open,
    )


@pytest.mark.timeout(90)
class TestAlpacaRebalancerConformance(RebalancerConformance):
    """Every rebalancer guarantee with the engine's Rebalancer, AlpacaClient and the stand-in."""

    @pytest.fixture
    async def build_broker(self) -> AsyncIterator[BuildBroker]:
        async with AsyncExitStack() as stack:

            async def build(scenario: RebalanceScenario) -> ScenarioBroker:
                sim = await stack.enter_async_context(AlpacaApiSimulator(sim_scenario(scenario)))
                client = AlpacaClient(stand_in_config(sim.base_url, (KEY_ID, SECRET)))
                stack.push_async_callback(client.disconnect)
                await client.connect()

                async def clear() -> None:
                    sim.set_faults(
                        fill_delay_secs=0,
                        reject_symbols=[],
                        partial_fill_parts=1,
                        partial_fill_stop_after=None,
                        drop_connections_after_orders=None,
                    )
                    await sim.accept_connections()

                def orders() -> list[BrokerOrder]:
                    return [_broker_order(o) for o in sim.orders()]

                return ScenarioBroker(client, ACCOUNT, orders, clear)

            yield build


def test_sim_scenario_of_a_closed_market_is_a_frozen_weekend() -> None:
    scenario = sim_scenario(
        RebalanceScenario(cash=Decimal(1000), positions={"SPY": 1}, market_open=False)
    )

    assert scenario.clock.time == dt.datetime.fromisoformat(WEEKEND)
    assert scenario.clock.always_open is False
    assert scenario.accounts[ACCOUNT].positions["SPY"].quantity == 1
    assert scenario.accounts[ACCOUNT].account_type == "cash"
