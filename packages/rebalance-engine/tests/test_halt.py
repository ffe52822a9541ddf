"""The kill switch in the engine: asked before every order, watched while orders work."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from broker_connector_base import OrderStatus, Trade
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from rebalance_engine import HaltSwitch, Rebalancer, StaticAllocationSource
from rebalance_engine.testing import account_config

pytestmark = pytest.mark.timeout(30)

WEIGHTS = {"SPY": "0.1", "AGG": "0.4", "QQQ": "0.3", "IEF": "0.2"}


class Switch:
    """A switch the test turns on."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._on = asyncio.Event()

    def halt(self, reason: str) -> None:
        self.reason = reason
        self._on.set()

    def halted(self) -> str | None:
        return self.reason

    async def wait_halted(self) -> str:
        await self._on.wait()
        assert self.reason is not None
        return self.reason


def _rebalancer(broker: InMemoryBroker, switch: Switch, **kwargs: Any) -> Rebalancer:
    return Rebalancer(
        broker,
        allocation_source=StaticAllocationSource({"etf-blend": WEIGHTS}),
        fill_timeout_secs=5.0,
        cancel_timeout_secs=1.0,
        settle_timeout_secs=1.0,
        halt=switch,
        **kwargs,
    )


def test_switch_is_a_halt_switch() -> None:
    assert isinstance(Switch(), HaltSwitch)


async def test_halted_before_the_run_places_nothing_and_says_why(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    switch = Switch()
    switch.halt("bad data from the allocations API")

    done = await _rebalancer(broker, switch).rebalance_account(account_config())

    assert exchange.order_log == []
    assert done.success is False
    assert done.refusal is not None
    assert done.refusal.startswith("trading halted (bad data from the allocations API): 3 of 3")


async def test_halt_between_two_orders_stops_the_next_one(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    switch = Switch()

    def on_order(trade: Trade) -> None:
        switch.halt("owner pressed halt")  # as the first sell is about to be sent

    done = await _rebalancer(broker, switch, on_order=on_order).rebalance_account(account_config())

    assert len(exchange.order_log) == 1  # the first of three sells only
    assert [t.symbol for t in done.orders] == [exchange.order_log[0].symbol]
    assert done.refusal is not None
    assert "trading halted (owner pressed halt): 2 of 3 planned orders not placed" in (done.refusal)


async def test_halt_while_orders_work_cancels_them_and_places_no_buy(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    switch = Switch()
    exchange.set_auto_fill(False)  # the sells rest until cancelled
    acked: list[Trade] = []

    def on_order(trade: Trade) -> None:
        if trade.order_id is None:
            return  # the intent, recorded before the order is sent
        acked.append(trade)
        if len(acked) == 3:  # the three sells working: the rebalancer now waits for fills
            asyncio.get_running_loop().call_soon(switch.halt, "market looks wrong")

    done = await _rebalancer(broker, switch, on_order=on_order).rebalance_account(account_config())

    assert [r.quantity < 0 for r in exchange.order_log] == [True] * 3  # no buy placed
    assert [t.status for t in done.orders] == [OrderStatus.CANCELLED] * 3
    assert [r.status for r in exchange.order_log] == [OrderStatus.CANCELLED] * 3
    assert done.refusal is not None
    assert "trading halted (market looks wrong) while orders were working" in done.refusal
    # The journal callback saw the cancellations too.
    assert [t.status for t in acked[-3:]] == [OrderStatus.CANCELLED] * 3
