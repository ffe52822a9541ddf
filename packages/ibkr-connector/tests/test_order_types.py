"""Each ``OrderSpec`` as IB receives it (real ib_async against the simulator), the mapping
back for open orders, commissions from IB's commission reports, and the session's close."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from broker_connector_base import OrderExecutionError, OrderSpec, OrderStatus
from ib_async import CommissionReport, Execution, Fill, Order, TagValue
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient
from ibkr_connector.order_types import commission_of, ib_order, order_spec_of
from ibkr_connector.testing import ACCOUNT

# (spec, IB order type, limit price on the wire, algo strategy, algo params)
_SENT = [
    pytest.param(OrderSpec(), "MKT", None, "", (), id="market"),
    pytest.param(
        OrderSpec(type="LIMIT", limit_price=Decimal("589.50")),
        "LMT",
        Decimal("589.5"),
        "",
        (),
        id="limit",
    ),
    pytest.param(OrderSpec(type="MIDPRICE"), "MIDPRICE", None, "", (), id="midprice"),
    pytest.param(
        OrderSpec(type="MIDPRICE", limit_price=Decimal("589.2")),
        "MIDPRICE",
        Decimal("589.2"),
        "",
        (),
        id="midprice-capped",
    ),
    pytest.param(OrderSpec(type="MOC"), "MOC", None, "", (), id="moc"),
    pytest.param(
        OrderSpec.of("ADAPTIVE", priority="Patient"),
        "MKT",
        None,
        "Adaptive",
        (("adaptivePriority", "Patient"),),
        id="adaptive-patient",
    ),
    pytest.param(
        OrderSpec.of("ADAPTIVE", priority="Urgent", limit_price=Decimal("590")),
        "LMT",
        Decimal("590"),
        "Adaptive",
        (("adaptivePriority", "Urgent"),),
        id="adaptive-urgent-limit",
    ),
]


@pytest.mark.parametrize(("spec", "ib_type", "limit", "algo", "params"), _SENT)
async def test_order_spec_reaches_the_gateway_as_its_ib_order_and_lists_back_as_itself(
    sim: GatewaySimulator,
    client: IBKRClient,
    spec: OrderSpec,
    ib_type: str,
    limit: Decimal | None,
    algo: str,
    params: tuple[tuple[str, str], ...],
) -> None:
    # Saturday noon in New York: every type rests (PreSubmitted) while we look at it.
    sim.set_always_open(False)
    sim.set_clock(dt.datetime(2026, 11, 21, 17, 0, tzinfo=dt.UTC))

    result = await client.place_order(ACCOUNT, "SPY", 1, order=spec, order_ref="run-types")
    listed = await client.get_open_orders(ACCOUNT)

    [seen] = sim.orders()
    assert (seen.order_type, seen.limit_price, seen.tif) == (ib_type, limit, "DAY")
    assert (seen.algo_strategy, seen.algo_params, seen.order_ref) == (algo, params, "run-types")
    [order] = [o for o in listed if o.order_id == result.order_id]
    assert (order.order_type, order.limit_price) == (spec.type, spec.limit_price)
    await client.cancel_order(result.order_id)


async def test_moc_after_the_cutoff_is_rejected_by_ib_with_its_error(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    sim.set_always_open(False)
    sim.set_clock(dt.datetime(2026, 11, 23, 20, 51, tzinfo=dt.UTC))  # 15:51 New York

    with pytest.raises(OrderExecutionError, match=r"IB error 201.*cut-off"):
        await client.place_order(ACCOUNT, "SPY", 1, order=OrderSpec(type="MOC"))

    assert sim.orders() == []


async def test_filled_order_reports_the_commission_of_its_executions(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    sim.set_faults(partial_fill_parts=3)  # three executions, one commission report each
    result = await client.place_order(ACCOUNT, "AGG", 300)

    fill = await client.wait_for_order(result.order_id, timeout_secs=5)

    assert fill.status is OrderStatus.FILLED
    # IB fixed: 100 shares at $0.005 is under the $1 minimum, three times.
    assert fill.commission == Decimal("3.00")
    assert sum(f.commission for f in sim.orders()[0].fills) == Decimal("3.00")


async def test_trading_hours_say_when_the_session_closes(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    sim.set_always_open(False)
    sim.set_clock(dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC))  # Monday 15:00 New York

    hours = await client.get_trading_hours_status(["SPY", "QQQ"])

    assert hours.is_open
    assert hours.closes_at == dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.UTC)


def _fill(exec_id: str, commission: float, report_id: str) -> Fill:
    return Fill(
        contract=None,  # type: ignore[arg-type]
        execution=Execution(execId=exec_id),
        commissionReport=CommissionReport(execId=report_id, commission=commission),
        time=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )


def test_commission_is_the_sum_of_reports_and_unknown_until_every_report_came() -> None:
    both = [_fill("a", 1.0, "a"), _fill("b", 0.35, "b")]
    assert commission_of(both) == Decimal("1.35")
    assert commission_of([_fill("a", 1.0, "a"), _fill("b", 0.0, "")]) is None
    assert commission_of([]) == Decimal(0)


@pytest.mark.parametrize(
    "order",
    [
        Order(orderType="STP", auxPrice=500),
        Order(orderType="MKT", algoStrategy="Vwap"),
        Order(orderType="LMT"),  # no limit price: not a LIMIT of the contract
    ],
)
def test_orders_outside_the_contract_have_no_spec(order: Order) -> None:
    assert order_spec_of(order) is None


def test_adaptive_limit_round_trips_through_ib_order() -> None:
    spec = OrderSpec.of("ADAPTIVE", priority="Patient", limit_price=Decimal("12.34"))
    order = ib_order("SELL", 5, spec)
    assert (order.orderType, order.lmtPrice, order.tif) == ("LMT", 12.34, "DAY")
    assert order.algoParams == [TagValue("adaptivePriority", "Patient")]
    assert order_spec_of(order) == spec
