"""Rebalance runs with each order type, through real ib_async against the simulator: the
market-on-close round on a margin account, its cut-off, marketable limits, midprice, the
adaptive algo, and the execution report with IB's commission reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import OrderStatus
from ib_gateway_sim import GatewaySimulator, Scenario
from ib_gateway_sim.scenario import AccountSpec, PositionSpec
from ibkr_connector import IBKRClient
from ibkr_connector.testing import account_config
from rebalance_engine import Rebalancer, StaticAllocationSource

pytestmark = pytest.mark.timeout(60)

WEIGHTS = {"SPY": "0.3", "AGG": "0.4", "IEF": "0.3"}
MARGIN = "DUMARGIN1"
# Monday 2026-11-23 15:00 New York: in the session, before the 15:50 MOC cut-off.
AFTERNOON = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)


@pytest.fixture
def scenario() -> Scenario:
    """The example, plus a margin account holding TLT only."""
    base = Scenario.builtin("example")
    margin = AccountSpec(
        cash=Decimal("5000.00"),
        account_type="margin",
        positions={"TLT": PositionSpec(quantity=Decimal(300), avg_cost=Decimal("90.00"))},
    )
    return base.model_copy(update={"accounts": {**base.accounts, MARGIN: margin}})


def _rebalancer(client: IBKRClient, **kwargs: Any) -> Rebalancer:
    return Rebalancer(
        client,
        allocation_source=StaticAllocationSource({"etf-blend": WEIGHTS}),
        fill_timeout_secs=10.0,
        cancel_timeout_secs=5.0,
        **kwargs,
    )


def _ask(sim: GatewaySimulator, symbol: str) -> Decimal:
    ask = sim.engine.symbols[symbol].ask
    assert ask is not None
    return ask


def _afternoon(sim: GatewaySimulator, at: dt.datetime = AFTERNOON) -> None:
    sim.set_always_open(False)
    sim.set_clock(at)


async def test_moc_round_on_a_margin_account_buys_from_the_sells_expected_proceeds(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    _afternoon(sim)

    result = await _rebalancer(client).rebalance_account(
        account_config(account_id=MARGIN, order_type="moc")
    )

    assert result.success, result.error
    orders = sim.orders()
    assert {o.order_type for o in orders} == {"MOC"}
    assert [o.action for o in orders] == ["SELL", "BUY", "BUY", "BUY"]  # sells first
    assert {o.status for o in orders} == {"Submitted"}  # nothing fills before the auction
    bought = sum((o.quantity * _ask(sim, o.symbol) for o in orders[1:]), Decimal(0))
    assert bought > Decimal(5000)  # paid by the TLT sell's proceeds, not the cash alone
    report = result.execution
    assert report is not None
    assert report.pending_close == 4
    assert {o.arrival_source for o in report.orders} == {"plan"}

    sim.close_auction()
    await client.get_open_orders(MARGIN)  # the fills have reached the client
    held = sim.positions(MARGIN)
    assert sorted(held) == ["AGG", "IEF", "SPY"]  # TLT sold, every target bought
    assert sim.cash(MARGIN) > 0  # the reserve absorbed the closing prices


async def test_moc_run_after_the_1550_cutoff_is_refused_before_any_order(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    _afternoon(sim, dt.datetime(2026, 11, 23, 20, 49, 30, tzinfo=dt.UTC))  # 15:49:30

    result = await _rebalancer(client).rebalance_account(
        account_config(account_id=MARGIN, order_type="moc")
    )

    assert not result.success
    assert "taken until 15:50 New York" in (result.error or "")
    assert "it is 15:49:30 by the broker's clock. Nothing was placed." in (result.error or "")
    assert sim.orders() == []


async def test_limit_run_sends_marketable_lmt_orders_and_reports_ibs_commissions(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    result = await _rebalancer(client).rebalance_account(account_config(order_type="limit"))

    assert result.success, result.error
    orders = sim.orders()
    assert {o.order_type for o in orders} == {"LMT"}
    limits = {o.symbol: (o.action, o.limit_price) for o in orders}
    # 5 bps beyond the far side, to the cent away from the market.
    assert limits["TLT"] == ("SELL", Decimal("92.82"))  # 92.87 * 0.9995 = 92.8236
    assert limits["AGG"] == ("BUY", Decimal("99.08"))  # 99.03 * 1.0005 = 99.0795
    report = result.execution
    assert report is not None
    # What IB's commission reports said, order by order (the simulator's fixed pricing).
    charged = {str(o.order_id): sum((f.commission for f in o.fills), Decimal(0)) for o in orders}
    assert {o.order_id: o.commission for o in report.orders} == charged
    assert report.commission == sum(charged.values())
    # Filled at the far side: half the spread, a cost (positive).
    assert all(o.slippage_bps is not None and o.slippage_bps > 0 for o in report.orders)


@pytest.mark.parametrize(
    ("order_type", "ib_type", "algo"),
    [("midprice", "MIDPRICE", ""), ("adaptive", "MKT", "Adaptive")],
)
async def test_midprice_and_adaptive_runs_fill_inside_the_spread(
    sim: GatewaySimulator, client: IBKRClient, order_type: str, ib_type: str, algo: str
) -> None:
    config = account_config(order_type=order_type)

    result = await _rebalancer(client).rebalance_account(config)

    assert result.success, result.error
    orders = sim.orders()
    assert {(o.order_type, o.algo_strategy) for o in orders} == {(ib_type, algo)}
    report = result.execution
    assert report is not None
    # At the midpoint (Normal adaptive: rounded to the tick toward the far side): never the
    # full half spread a market order pays.
    for line in report.orders:
        assert line.status is OrderStatus.FILLED
        assert line.arrival_bid is not None
        assert line.arrival_ask is not None
        assert line.avg_fill_price is not None
        assert line.arrival_bid <= line.avg_fill_price <= line.arrival_ask
    assert report.slippage_bps is not None
    assert report.slippage_bps < Decimal("0.5")


async def test_market_run_report_ties_every_order_to_its_fill_and_the_drift_left(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    result = await _rebalancer(client).rebalance_account(account_config())

    assert result.success, result.error
    report = result.execution
    assert report is not None
    assert [o.order_id for o in report.orders] == [t.order_id for t in result.orders]
    for line in report.orders:
        assert line.status is OrderStatus.FILLED
        assert line.time_to_fill_secs is not None
        assert line.decision_price is not None
    assert report.drift_after is not None
    assert report.drift_after < Decimal("0.01")
