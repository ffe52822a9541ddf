"""Faults, switched from the scenario and at run time, observed through real ib_async."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
from ib_async import IB, MarketOrder, Stock, Trade
from ib_gateway_sim import GatewaySimulator, Scenario
from ib_gateway_sim.scenario import FaultSpec

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]
TradeUntil = Callable[..., Awaitable[None]]


async def _spy(ib: IB) -> Stock:
    contract = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    return contract


async def _disconnected(ib: IB, timeout_secs: float = 5.0) -> None:
    if ib.isConnected():
        await asyncio.wait_for(ib.disconnectedEvent, timeout_secs)


async def test_partial_fills_arrive_as_separate_executions_summing_to_quantity(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.set_faults(partial_fill_parts=3)
    ib = await connect()

    trade = ib.placeOrder(await _spy(ib), MarketOrder("BUY", 10, account="DU789012"))
    await trade_until(trade, Trade.isDone)

    assert [f.execution.shares for f in trade.fills] == [3.0, 3.0, 4.0]
    assert [f.execution.cumQty for f in trade.fills] == [3.0, 6.0, 10.0]
    assert trade.filled() == 10
    assert all(f.commissionReport.execId == f.execution.execId for f in trade.fills)
    assert sim.positions("DU789012") == {"SPY": Decimal(10)}


async def test_partial_fill_stop_leaves_remainder_working(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.set_faults(partial_fill_parts=4, partial_fill_stop_after=1)
    ib = await connect()

    trade = ib.placeOrder(await _spy(ib), MarketOrder("BUY", 8, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.filled == 2)

    assert trade.orderStatus.status == "Submitted"
    assert trade.orderStatus.remaining == 6
    assert trade in ib.openTrades()
    assert sim.orders()[0].filled == Decimal(2)


async def test_delayed_fill_acknowledges_first_and_fills_later(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    sim.set_faults(fill_delay_secs=0.3)
    ib = await connect()

    started = time.monotonic()
    trade = ib.placeOrder(await _spy(ib), MarketOrder("BUY", 1, account="DU789012"))
    await trade_until(trade, lambda t: t.orderStatus.status == "Submitted")
    assert not trade.fills
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Filled"
    assert time.monotonic() - started >= 0.25


async def test_rejected_symbol_orders_get_201(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors, trade_until: TradeUntil
) -> None:
    sim.set_faults(reject_symbols=["SPY"])
    ib = await connect()
    errors = ib_errors(ib)

    trade = ib.placeOrder(await _spy(ib), MarketOrder("BUY", 1, account="DU789012"))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.status == "Cancelled"
    assert [c for r, c, _ in errors if r == trade.order.orderId] == [201]
    assert sim.orders() == []


async def test_drop_after_nth_order_closes_every_connection(
    connect: Connect, sim: GatewaySimulator, allowed_ib_errors: list[str], trade_until: TradeUntil
) -> None:
    allowed_ib_errors.append("Peer closed connection")
    sim.set_faults(drop_connections_after_orders=2)
    trader = await connect(client_id=1)
    bystander = await connect(client_id=2)
    spy = await _spy(trader)

    first = trader.placeOrder(spy, MarketOrder("BUY", 1, account="DU789012"))
    await trade_until(first, Trade.isDone)
    assert trader.isConnected()
    trader.placeOrder(spy, MarketOrder("BUY", 1, account="DU789012"))

    await _disconnected(trader)
    await _disconnected(bystander)
    assert [o.status for o in sim.orders()] == ["Filled", "Filled"]


async def test_drop_at_moment_with_refusal_simulates_nightly_restart(
    connect: Connect, sim: GatewaySimulator, allowed_ib_errors: list[str]
) -> None:
    allowed_ib_errors.extend(
        ["Peer closed connection", "API connection failed", "Make sure API port"]
    )
    ib = await connect()
    sim.set_faults(
        refuse_connections_secs=1.5,
        drop_connections_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.2),
    )

    await _disconnected(ib)
    with pytest.raises(ConnectionRefusedError):
        await IB().connectAsync("127.0.0.1", sim.port, clientId=2, timeout=2)
    await sim.wait_for(lambda: sim.accepting, timeout_secs=10)

    again = await connect(client_id=1)
    assert again.isConnected()


async def test_pacing_limit_answers_error_100_and_drops_the_request(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    sim.set_faults(pacing_limit_per_sec=3)

    results = await asyncio.gather(
        *(
            ib.reqContractDetailsAsync(Stock(s, "SMART", "USD"))
            for s in ("SPY", "QQQ", "IWM", "EFA")
        )
    )

    assert [len(r) for r in results] == [1, 1, 1, 0]
    assert [code for _, code, _ in errors] == [100]


def test_faults_are_read_from_the_scenario() -> None:
    scenario = Scenario.from_yaml_text(
        """
accounts: {DU1: {cash: 10}}
faults:
  partial_fill_parts: 2
  reject_symbols: [XYZ]
  pacing_limit_per_sec: 40
  refuse_connections_secs: 2.5
"""
    )

    assert scenario.faults == FaultSpec(
        partial_fill_parts=2,
        reject_symbols=["XYZ"],
        pacing_limit_per_sec=40,
        refuse_connections_secs=2.5,
    )


def test_new_fills_and_faults_are_read_from_the_scenario() -> None:
    scenario = Scenario.from_yaml_text(
        """
accounts: {DU1: {cash: 10}}
fills:
  moc_cutoff: "15:45"
  midprice_rounding: against
  adaptive_patient_delay_secs: 2
faults:
  pacing_scope: gateway
  historical_pacing: true
  cancel_races_fill: error_first
  order_warning_code: 404
  restart_after_orders: 3
  restart_resets_order_ids: false
history_seed: 7
"""
    )

    assert scenario.fills.moc_cutoff == dt.time(15, 45)
    assert scenario.fills.midprice_rounding == "against"
    assert scenario.fills.adaptive_patient_delay_secs == 2
    assert scenario.faults.pacing_scope == "gateway"
    assert scenario.faults.cancel_races_fill == "error_first"
    assert (scenario.faults.order_warning_code, scenario.faults.restart_after_orders) == (404, 3)
    assert scenario.faults.historical_pacing
    assert not scenario.faults.restart_resets_order_ids
    assert scenario.history_seed == 7


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("fills: {moc_cutoff: 15:50}", 'quoted "HH:MM" string, not 950'),
        ("fills: {midprice_rounding: up}", "midprice_rounding"),
        ("faults: {pacing_scope: account}", "pacing_scope"),
        ("faults: {cancel_races_fill: sometimes}", "cancel_races_fill"),
        ("faults: {historical_pacing_max_requests: 0}", "historical_pacing_max_requests"),
    ],
)
def test_bad_new_settings_are_refused_naming_the_field(section: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scenario.from_yaml_text(f"accounts: {{DU1: {{cash: 10}}}}\n{section}\n")


async def test_invalid_runtime_fault_is_refused(sim: GatewaySimulator) -> None:
    with pytest.raises(ValueError, match="partial_fill_parts"):
        sim.set_faults(partial_fill_parts=0)

    assert sim.faults.partial_fill_parts == 1


async def test_faults_from_the_scenario_apply_from_the_start(
    ib_errors: Errors, trade_until: TradeUntil
) -> None:
    scenario = Scenario.from_yaml_text(
        """
accounts: {DU1: {cash: 100000.00}}
symbols:
  SPY: {con_id: 756733, bid: 589.10, ask: 589.12, last: 589.11}
  QQQ: {con_id: 320227571, bid: 509.45, ask: 509.48, last: 509.46}
faults:
  partial_fill_parts: 2
  reject_symbols: [QQQ]
"""
    )
    async with GatewaySimulator(scenario) as sim:
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5)
        errors = ib_errors(ib)
        spy, qqq = Stock("SPY", "SMART", "USD"), Stock("QQQ", "SMART", "USD")
        await ib.qualifyContractsAsync(spy, qqq)

        split = ib.placeOrder(spy, MarketOrder("BUY", 4))
        rejected = ib.placeOrder(qqq, MarketOrder("BUY", 1))
        await trade_until(split, Trade.isDone)
        await trade_until(rejected, Trade.isDone)
        ib.disconnect()

    assert [f.execution.shares for f in split.fills] == [2.0, 2.0]
    assert rejected.orderStatus.status == "Cancelled"
    assert (rejected.order.orderId, 201) in [(r, c) for r, c, _ in errors]
