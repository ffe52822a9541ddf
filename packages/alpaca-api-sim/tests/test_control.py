"""The ``/sim/`` control routes over HTTP (what another process uses), keys required."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.pytest_plugin import EXAMPLE_ACCOUNT


@pytest.fixture
async def control(alpaca_sim: AlpacaApiSimulator) -> AsyncIterator[aiohttp.ClientSession]:
    key, secret = alpaca_sim.credentials(EXAMPLE_ACCOUNT)
    headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
    async with aiohttp.ClientSession(alpaca_sim.base_url, headers=headers) as session:
        yield session


async def post(session: aiohttp.ClientSession, path: str, body: Any) -> Any:
    async with session.post(path, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_health_answers_without_key_but_state_needs_one(
    alpaca_sim: AlpacaApiSimulator,
) -> None:
    async with aiohttp.ClientSession(alpaca_sim.base_url) as anonymous:
        async with anonymous.get("/sim/health") as health:
            assert await health.json() == {"ok": True}
        async with anonymous.get("/sim/state") as state:
            assert state.status == 401
            assert await state.json() == {
                "code": 40110000,
                "message": "request is not authorized",
            }


async def test_prices_route_changes_quote_and_fills_resting_order(
    alpaca_sim: AlpacaApiSimulator, control: aiohttp.ClientSession
) -> None:
    order = await post(
        control,
        "/v2/orders",
        {
            "symbol": "SPY",
            "qty": 1,
            "side": "buy",
            "type": "limit",
            "time_in_force": "day",
            "limit_price": 580.5,
        },
    )
    symbols = await post(control, "/sim/prices", {"SPY": {"bid": "580.00", "ask": "580.02"}})
    assert symbols["SPY"]["ask"] == "580.02"
    await alpaca_sim.wait_for(lambda: alpaca_sim.order(order["id"]).status == "filled")
    async with control.get("/sim/orders") as response:
        [listed] = await response.json()
    assert listed["filled_avg_price"] == "580.02"
    assert listed["account"] == EXAMPLE_ACCOUNT


async def test_clock_route_closes_and_reopens_the_market(
    alpaca_sim: AlpacaApiSimulator, control: aiohttp.ClientSession
) -> None:
    closed = await post(control, "/sim/clock", {"market": "closed"})
    assert closed["is_open"] is False
    async with control.get("/v2/clock") as response:
        assert (await response.json())["is_open"] is False
    reopened = await post(control, "/sim/clock", {"market": None})
    assert reopened["is_open"] is True


async def test_faults_and_account_routes_apply_and_bad_input_answers_400(
    alpaca_sim: AlpacaApiSimulator, control: aiohttp.ClientSession
) -> None:
    faults = await post(control, "/sim/faults", {"reject_symbols": ["QQQ"]})
    assert faults["reject_symbols"] == ["QQQ"]
    account = await post(control, f"/sim/accounts/{EXAMPLE_ACCOUNT}", {"daytrade_count": 2})
    assert account["daytrade_count"] == 2
    for path, body in [
        ("/sim/faults", {"partial_fill_parts": 0}),
        ("/sim/clock", {"market": "maybe"}),
        ("/sim/prices", {"NOPE": {"bid": "1"}}),
        ("/sim/accounts/NOPE", {"daytrade_count": 1}),
    ]:
        async with control.post(path, json=body) as response:
            assert response.status == 400, (path, await response.text())


async def test_reset_route_restores_the_scenario(
    alpaca_sim: AlpacaApiSimulator, control: aiohttp.ClientSession
) -> None:
    alpaca_sim.set_price("SPY", bid="1.00", ask="1.01")
    await post(
        control,
        "/v2/orders",
        {"symbol": "SPY", "qty": 3, "side": "buy", "type": "market", "time_in_force": "day"},
    )
    await alpaca_sim.wait_for(lambda: alpaca_sim.positions(EXAMPLE_ACCOUNT)["SPY"] == 53)
    assert await post(control, "/sim/reset", {}) == {"reset": True}
    assert alpaca_sim.orders() == []
    assert alpaca_sim.positions(EXAMPLE_ACCOUNT)["SPY"] == 50
    assert alpaca_sim.cash(EXAMPLE_ACCOUNT) == Decimal(100000)
    assert alpaca_sim.engine.symbols["SPY"].ask == Decimal("589.12")


async def test_unknown_api_route_answers_alpaca_404_body(control: aiohttp.ClientSession) -> None:
    async with control.get("/v2/watchlists") as response:
        assert response.status == 404
        assert (await response.json())["code"] == 40410000
