"""IB's pacing error 100 slows the client down and repeats what was dropped, never an order
IB took: requests, orders and cancels against the simulator's message limit."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from broker_connector_base import OrderSpec, OrderStatus
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient
from ibkr_connector.testing import ACCOUNT, OTHER_ACCOUNT, MakeClient

pytestmark = pytest.mark.timeout(60)

SYMBOLS = ["SPY", "QQQ", "IWM", "EFA", "EEM", "VNQ", "TLT", "IEF", "AGG", "LQD", "GLD"]


def _paced(sim: GatewaySimulator, limit: int = 10) -> None:
    # Across every client of the gateway, as when the daemon runs several accounts at once.
    sim.set_faults(pacing_limit_per_sec=limit, pacing_scope="gateway")


async def test_reads_paced_out_are_slowed_down_and_asked_again(
    sim: GatewaySimulator, make_client: MakeClient
) -> None:
    first, second = await make_client(client_id=41), await make_client(client_id=42)
    _paced(sim)

    snapshot, _, prices, back = await asyncio.gather(
        first.get_account_snapshot(ACCOUNT),
        second.get_account_snapshot(OTHER_ACCOUNT),
        first.get_multiple_market_prices(SYMBOLS),
        second.get_multiple_market_prices(list(reversed(SYMBOLS))),
    )
    records, bought, hours, listed = await asyncio.gather(
        first.get_orders_by_ref(ACCOUNT, "run-none"),
        second.get_symbols_bought_today(OTHER_ACCOUNT),
        first.get_trading_hours_status(SYMBOLS),
        second.get_open_orders(OTHER_ACCOUNT),
    )

    assert {p.symbol for p in snapshot.positions} == {"SPY", "TLT", "GLD"}
    assert [p.symbol for p in prices] == SYMBOLS
    assert [p.symbol for p in back] == list(reversed(SYMBOLS))
    assert (records, bought, listed) == ([], frozenset(), [])
    assert hours.is_open
    # At least one client was told to slow down (ib_async's own throttle is 45 per second).
    assert min(first.ib.client.MaxRequests, second.ib.client.MaxRequests) < 45


async def test_orders_paced_out_are_placed_once_each(
    sim: GatewaySimulator, client: IBKRClient
) -> None:

    await client.get_multiple_market_prices(SYMBOLS[:6])  # contracts known: orders only
    _paced(sim, limit=3)
    placed = await asyncio.gather(
        *(client.place_order(ACCOUNT, s, 1, order_ref="run-paced") for s in SYMBOLS[:6])
    )
    fills = [await client.wait_for_order(p.order_id, timeout_secs=10) for p in placed]

    assert all(f.status is OrderStatus.FILLED for f in fills), fills
    orders = sim.orders()
    assert sorted(o.symbol for o in orders) == sorted(SYMBOLS[:6])  # none twice, none missing
    assert {str(o.order_id) for o in orders} == {p.order_id for p in placed}
    records = await client.get_orders_by_ref(ACCOUNT, "run-paced")
    assert sorted(r.symbol for r in records) == sorted(SYMBOLS[:6])


async def test_cancels_paced_out_are_sent_again(sim: GatewaySimulator, client: IBKRClient) -> None:
    placed = [
        await client.place_order(
            ACCOUNT,
            symbol,
            1,
            order=OrderSpec(type="LIMIT", limit_price=Decimal("1.00")),
            order_ref="run-rest",
        )
        for symbol in SYMBOLS[:6]
    ]
    _paced(sim, limit=2)

    cancelled = await client.cancel_all_orders(ACCOUNT, timeout_secs=20)

    assert sorted(cancelled) == sorted(p.order_id for p in placed)
    assert {o.status for o in sim.orders()} == {"Cancelled"}
    for order in placed:
        assert await client.get_order_status(order.order_id) is OrderStatus.CANCELLED
