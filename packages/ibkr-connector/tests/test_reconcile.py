"""Finding a run's orders again through the simulator: restarts that reuse order ids, fills
while disconnected, the 10148 cancel race, warnings on live orders, quiet own cancels."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from broker_connector_base import OrderSpec, OrderStatus
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient
from ibkr_connector.testing import ACCOUNT, MakeClient

pytestmark = pytest.mark.timeout(30)

DROPPED = [r"^Peer closed connection\.$"]
RESTARTED = [*DROPPED, r"API connection failed", r"Make sure API port"]


async def _restart(sim: GatewaySimulator, client: IBKRClient) -> None:
    gone = asyncio.Event()
    client.ib.disconnectedEvent += gone.set
    sim.restart(refuse_secs=0)
    await asyncio.wait_for(gone.wait(), 5)
    await client.disconnect()


@pytest.mark.parametrize("allowed_ib_errors", [RESTARTED])
@pytest.mark.parametrize("keep_completed", [True, False], ids=["completed-kept", "forgotten"])
async def test_orders_by_ref_after_restart_reusing_order_ids_keep_runs_apart(
    sim: GatewaySimulator,
    make_client: MakeClient,
    allowed_ib_errors: list[str],
    keep_completed: bool,
) -> None:
    sim.set_faults(restart_keeps_completed_orders=keep_completed)
    client = await make_client(client_id=21)
    first = await client.place_order(ACCOUNT, "AGG", 3, order_ref="run-before")
    await client.wait_for_order(first.order_id, timeout_secs=5)
    await _restart(sim, client)
    again = await make_client(client_id=21)  # a new worker process after the restart

    second = await again.place_order(ACCOUNT, "IEF", -2 + 4, order_ref="run-after")
    await again.wait_for_order(second.order_id, timeout_secs=5)

    assert second.order_id == first.order_id  # the trap: the gateway reused the id
    [before] = await again.get_orders_by_ref(ACCOUNT, "run-before")
    [after] = await again.get_orders_by_ref(ACCOUNT, "run-after")
    assert before.perm_id == first.perm_id != after.perm_id == second.perm_id
    assert (before.symbol, before.filled_quantity, before.status) == ("AGG", 3, OrderStatus.FILLED)
    # Without the completed order only its executions tell what it was.
    assert before.quantity == (3 if keep_completed else None)
    assert (after.symbol, after.quantity, after.filled_quantity) == ("IEF", 2, 2)
    sim_before = sim.order_by_perm_id(int(before.perm_id))
    assert before.avg_fill_price == sim_before.avg_fill_price


@pytest.mark.parametrize("allowed_ib_errors", [DROPPED])
async def test_orders_by_ref_finds_fill_that_happened_while_disconnected(
    sim: GatewaySimulator, make_client: MakeClient, allowed_ib_errors: list[str]
) -> None:
    client = await make_client(client_id=22)
    placed = await client.place_order(
        ACCOUNT,
        "SPY",
        2,
        order=OrderSpec(type="LIMIT", limit_price=Decimal("580.00")),
        order_ref="run-gone",
    )
    await client.disconnect()
    sim.set_price("SPY", bid=Decimal("579.98"), ask=Decimal("580.00"))
    await sim.wait_for(lambda: sim.orders()[0].status == "Filled")

    back = await make_client(client_id=22)
    [record] = await back.get_orders_by_ref(ACCOUNT, "run-gone")

    assert (record.order_id, record.perm_id) == (placed.order_id, placed.perm_id)
    assert record.status is OrderStatus.FILLED
    assert (record.quantity, record.filled_quantity) == (2, 2)
    assert record.avg_fill_price == Decimal("580.00")


@pytest.mark.parametrize(
    ("race", "fill_after_secs"), [("error_first", 0.5), ("error_first", 0), ("fill_first", 0)]
)
async def test_cancel_losing_race_to_fill_reports_the_fill(
    sim: GatewaySimulator, client: IBKRClient, race: str, fill_after_secs: float
) -> None:
    # error_first with a delay: ib_async shows Cancelled (done) for half a second before the
    # fill report turns the trade Filled.
    sim.set_faults(cancel_races_fill=race, fill_delay_secs=fill_after_secs)
    placed = await client.place_order(
        ACCOUNT,
        "AGG",
        5,
        order=OrderSpec(type="LIMIT", limit_price=Decimal("90.00")),
        order_ref="run-race",
    )

    await client.cancel_order(placed.order_id)
    fill = await client.wait_for_order(placed.order_id, timeout_secs=5)

    assert fill.status is OrderStatus.FILLED, fill
    assert (fill.filled_quantity, fill.remaining_quantity) == (5, 0)
    assert fill.avg_fill_price == Decimal("90.0")
    assert await client.get_order_status(placed.order_id) is OrderStatus.FILLED
    [record] = await client.get_orders_by_ref(ACCOUNT, "run-race")
    assert (record.status, record.filled_quantity) == (OrderStatus.FILLED, 5)
    assert sim.orders()[0].status == "Filled"


@pytest.mark.parametrize("code", [2109, 404])
async def test_order_with_warning_stays_working_and_fills(
    sim: GatewaySimulator, client: IBKRClient, code: int
) -> None:
    sim.set_faults(order_warning_code=code, fill_delay_secs=0.3)

    placed = await client.place_order(ACCOUNT, "AGG", 4, order_ref="run-warned")
    fill = await client.wait_for_order(placed.order_id, timeout_secs=5)

    assert placed.status is OrderStatus.WORKING
    assert (fill.status, fill.filled_quantity) == (OrderStatus.FILLED, 4)


async def test_own_cancel_is_logged_as_info_not_error(
    client: IBKRClient, caplog: pytest.LogCaptureFixture
) -> None:
    placed = await client.place_order(
        ACCOUNT,
        "AGG",
        1,
        order=OrderSpec(type="LIMIT", limit_price=Decimal("50.00")),
        order_ref="run-cancel",
    )
    caplog.set_level(logging.INFO)

    await client.cancel_order(placed.order_id)
    fill = await client.wait_for_order(placed.order_id, timeout_secs=5)

    assert fill.status is OrderStatus.CANCELLED
    about_it = [r for r in caplog.records if r.name.startswith("ib_async") and "202" in r.message]
    assert about_it, caplog.text
    assert all(r.levelno <= logging.INFO for r in about_it), caplog.text
    cancelled_lines = [r for r in caplog.records if r.getMessage().startswith("Canceled order")]
    assert all(r.levelno <= logging.INFO for r in cancelled_lines), caplog.text
