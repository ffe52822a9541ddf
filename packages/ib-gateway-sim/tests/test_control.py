"""HTTP control endpoint and the command line, driven from outside the simulator's process."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ib_async import IB, MarketOrder, Order, Stock, Trade
from ib_gateway_sim import GatewaySimulator, Scenario

TradeUntil = Callable[..., Awaitable[None]]
_READY = re.compile(r"listening on ([\d.]+):(\d+), control http://([\d.]+):(\d+)")


@pytest.fixture
async def controlled(scenario: Scenario) -> AsyncIterator[GatewaySimulator]:
    """A simulator with its control endpoint on an ephemeral loopback port."""
    async with GatewaySimulator(scenario, control_port=0) as sim:
        yield sim


async def _get(port: int, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def _post(port: int, path: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}{path}", json=body) as r,
    ):
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, await r.text()


async def test_control_reads_orders_positions_and_cash_after_a_fill(
    controlled: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = IB()
    await ib.connectAsync("127.0.0.1", controlled.port, clientId=4, timeout=5)
    spy = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(spy)
    trade = ib.placeOrder(spy, MarketOrder("BUY", 10, account="DUM959247", orderRef="run-7"))
    await trade_until(trade, Trade.isDone)
    assert controlled.control_port is not None

    orders = await _get(controlled.control_port, "/orders")
    positions = await _get(controlled.control_port, "/positions")
    accounts = await _get(controlled.control_port, "/accounts")
    state = await _get(controlled.control_port, "/state")
    ib.disconnect()

    [order] = orders
    assert order["order_ref"] == "run-7"
    assert order["status"] == "Filled"
    assert order["client_id"] == 4
    assert order["fills"][0]["price"] == "589.12"
    assert positions["DUM959247"]["SPY"] == "60"
    assert accounts["DUM959247"]["cash"] == "94107.80"
    assert state["clients"] == [4]
    assert state["server_version"] == 178


async def test_control_changes_prices_faults_and_clock(controlled: GatewaySimulator) -> None:
    port = controlled.control_port
    assert port is not None

    status, quotes = await _post(port, "/prices", {"SPY": {"bid": "600.00", "ask": "600.02"}})
    assert status == 200
    assert quotes["SPY"]["bid"] == "600.00"
    status, faults = await _post(port, "/faults", {"reject_symbols": ["QQQ"]})
    assert status == 200
    assert faults["reject_symbols"] == ["QQQ"]
    status, clock = await _post(
        port, "/clock", {"always_open": False, "time": "2026-11-28T15:00:00+00:00"}
    )
    assert status == 200
    assert clock["liquid"] is False

    assert controlled.engine.symbols["SPY"].ask == Decimal("600.02")
    assert controlled.faults.reject_symbols == ["QQQ"]
    status, _ = await _post(port, "/reset", {})
    assert status == 200
    assert controlled.engine.symbols["SPY"].ask == Decimal("589.12")
    assert controlled.clock.is_liquid()


async def test_control_rejects_bad_input_with_400(controlled: GatewaySimulator) -> None:
    port = controlled.control_port
    assert port is not None

    assert (await _post(port, "/prices", {"NOPE": {"bid": "1"}}))[0] == 400
    assert (await _post(port, "/faults", {"partial_fill_parts": 0}))[0] == 400
    assert (await _post(port, "/faults", {"no_such_fault": 1}))[0] == 400
    assert (await _post(port, "/clock", {"time": "not a time"}))[0] == 400
    assert (await _post(port, "/prices", {"SPY": {"bid": "abc"}}))[0] == 400


async def test_control_fills_auction_and_restart_routes(
    controlled: GatewaySimulator, trade_until: TradeUntil, allowed_ib_errors: list[str]
) -> None:
    allowed_ib_errors.append("Peer closed connection")
    port = controlled.control_port
    assert port is not None
    ib = IB()
    await ib.connectAsync("127.0.0.1", controlled.port, clientId=4, timeout=5)
    spy = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(spy)
    moc = ib.placeOrder(spy, Order(action="BUY", totalQuantity=2, orderType="MOC"))
    await trade_until(moc, lambda t: t.orderStatus.status == "Submitted")

    status, fills = await _post(port, "/fills", {"midprice_rounding": "favour"})
    assert (status, fills["midprice_rounding"], fills["moc_cutoff"]) == (200, "favour", "15:50:00")
    status, auctioned = await _post(port, "/auction", {})
    await trade_until(moc, Trade.isDone)
    assert status == 200
    assert [(o["order_type"], o["status"], o["avg_fill_price"]) for o in auctioned] == [
        ("MOC", "Filled", "587.40")
    ]
    status, body = await _post(port, "/restart", {"refuse_secs": 0})
    assert (status, body) == (200, {"restarted": True})
    if ib.isConnected():
        await asyncio.wait_for(ib.disconnectedEvent, 5)
    assert controlled.engine.archive[0].perm_id == moc.order.permId


async def test_control_refuses_bad_fills_and_restart_bodies_with_400(
    controlled: GatewaySimulator,
) -> None:
    port = controlled.control_port
    assert port is not None

    assert (await _post(port, "/fills", {"midprice_rounding": "up"}))[0] == 400
    assert (await _post(port, "/fills", {"moc_cutoff": "25:00"}))[0] == 400
    assert (await _post(port, "/restart", {"refuse_secs": "soon"}))[0] == 400
    assert (await _post(port, "/restart", {"refuse_secs": -1}))[0] == 400
    assert (await _post(port, "/restart", {"wait": 1}))[0] == 400
    assert controlled.engine.fill_spec.midprice_rounding == "exact"
    assert controlled.accepting


async def test_control_null_price_clears_that_side(controlled: GatewaySimulator) -> None:
    port = controlled.control_port
    assert port is not None

    status, quotes = await _post(port, "/prices", {"SPY": {"bid": None, "last": "590.5"}})

    assert status == 200
    assert quotes["SPY"]["bid"] is None
    assert quotes["SPY"]["last"] == "590.5"
    assert controlled.engine.symbols["SPY"].ask == Decimal("589.12")


async def test_command_line_serves_api_and_control_from_another_process(
    tmp_path: Path, trade_until: TradeUntil
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "accounts: {DU111111: {cash: 1000.00}}\n"
        "symbols: {BIL: {con_id: 43475541, bid: 91.52, ask: 91.53, last: 91.52}}\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ib_gateway_sim",
        "--port",
        "0",
        "--control-port",
        "0",
        "--scenario",
        str(scenario),
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        ready = _READY.search(line)
        assert ready, line
        api_port, control_port = int(ready.group(2)), int(ready.group(4))
        assert ready.group(1) == "127.0.0.1"
        assert ready.group(3) == "127.0.0.1"

        ib = IB()
        await ib.connectAsync("127.0.0.1", api_port, clientId=1, timeout=5)
        bil = Stock("BIL", "SMART", "USD")
        await ib.qualifyContractsAsync(bil)
        trade = ib.placeOrder(bil, MarketOrder("BUY", 10))
        await trade_until(trade, Trade.isDone)
        ib.disconnect()

        orders = await _get(control_port, "/orders")
        assert [(o["account"], o["symbol"], o["status"]) for o in orders] == [
            ("DU111111", "BIL", "Filled")
        ]
        accounts = await _get(control_port, "/accounts")
        assert accounts["DU111111"]["cash"] == "83.70"
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 20) == 0


async def test_command_line_reports_a_missing_scenario() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ib_gateway_sim",
        "--scenario",
        "no-such-scenario",
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 20)

    assert process.returncode == 2
    assert b"no-such-scenario" in stderr
