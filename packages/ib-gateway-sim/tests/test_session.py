"""Handshake, startApi, several clients, accounts, positions and account data via real ib_async."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB, AccountValue, MarketOrder, Position, Stock
from ib_gateway_sim import GatewaySimulator

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]


async def test_connect_with_two_accounts_lists_both_and_loads_positions(connect: Connect) -> None:
    ib = await connect(client_id=7)

    assert ib.isConnected()
    assert ib.client.serverVersion() == 178
    assert ib.managedAccounts() == ["DUM959247", "DU789012"]
    held = {(p.account, p.contract.symbol): p.position for p in ib.positions()}
    assert held == {
        ("DUM959247", "SPY"): 50.0,
        ("DUM959247", "TLT"): 100.0,
        ("DUM959247", "GLD"): 20.0,
    }
    spy = next(p for p in ib.positions() if p.contract.symbol == "SPY")
    assert spy.contract.conId == 756733
    assert spy.avgCost == pytest.approx(540.25)


async def test_connect_syncs_account_values_from_multi_updates_for_every_account(
    connect: Connect,
) -> None:
    ib = await connect()

    values = {(v.account, v.tag, v.currency): v.value for v in ib.accountValues()}
    assert values[("DUM959247", "TotalCashValue", "USD")] == "100000.00"
    assert values[("DU789012", "TotalCashValue", "USD")] == "50000.00"
    assert values[("DU789012", "NetLiquidation", "USD")] == "50000.00"
    assert values[("DUM959247", "SettledCash", "USD")] == "100000.00"


async def test_connect_with_account_gets_portfolio_and_account_updates(connect: Connect) -> None:
    ib = await connect(account="DUM959247")

    portfolio = {item.contract.symbol: item for item in ib.portfolio()}
    assert set(portfolio) == {"SPY", "TLT", "GLD"}
    assert portfolio["SPY"].marketPrice == pytest.approx(589.11)
    assert portfolio["SPY"].contract.primaryExchange == "ARCA"
    net_liq = next(
        v.value
        for v in ib.accountValues("DUM959247")
        if v.tag == "NetLiquidation" and v.modelCode == ""
    )
    expected = (
        Decimal("100000") + 50 * Decimal("589.11") + 100 * Decimal("92.87") + 20 * Decimal("245.81")
    )
    assert Decimal(net_liq) == expected


async def test_account_summary_reports_rebalancer_tags_per_account(connect: Connect) -> None:
    ib = await connect()

    summary = await ib.accountSummaryAsync()

    tags = {(v.account, v.tag): v.value for v in summary}
    for account in ("DUM959247", "DU789012"):
        for tag in ("NetLiquidation", "TotalCashValue", "SettledCash", "BuyingPower"):
            assert (account, tag) in tags
    assert tags[("DU789012", "BuyingPower")] == "50000.00"
    assert tags[("DUM959247", "AccountType")] == "CASH"


async def test_several_clients_with_distinct_ids_connect_at_once(
    connect: Connect, sim: GatewaySimulator
) -> None:
    clients = await asyncio.gather(*(connect(client_id=i) for i in (1, 2, 3)))

    assert all(ib.isConnected() for ib in clients)
    assert sim.client_ids() == [1, 2, 3]


async def test_duplicate_client_id_is_refused_with_326(
    connect: Connect, sim: GatewaySimulator, allowed_ib_errors: list[str]
) -> None:
    allowed_ib_errors.extend(["already in use", "API connection failed"])
    await connect(client_id=5)
    second = IB()
    codes: list[int] = []

    def _on_error(req_id: int, code: int, text: str, contract: Any) -> None:
        codes.append(code)

    second.errorEvent += _on_error

    with pytest.raises((TimeoutError, ConnectionError)):
        await second.connectAsync("127.0.0.1", sim.port, clientId=5, timeout=2)

    second.disconnect()
    assert 326 in codes
    assert sim.client_ids() == [5]


async def test_disconnect_frees_client_id_for_reuse(
    connect: Connect, sim: GatewaySimulator
) -> None:
    ib = await connect(client_id=9)
    ib.disconnect()
    await sim.wait_for_clients(0)

    again = await connect(client_id=9)

    assert again.isConnected()


async def test_current_time_follows_the_frozen_clock(
    connect: Connect, sim: GatewaySimulator
) -> None:
    when = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
    sim.set_clock(when)
    ib = await connect()

    assert await ib.reqCurrentTimeAsync() == when


async def test_position_stream_reflects_trade_on_other_client(connect: Connect) -> None:
    watcher = await connect(client_id=1)
    trader = await connect(client_id=2)
    contract = Stock("QQQ", "SMART", "USD")
    await trader.qualifyContractsAsync(contract)
    seen: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def _on_position(position: Position) -> None:
        if position.contract.symbol == "QQQ" and not seen.done():
            seen.set_result(position.position)

    watcher.positionEvent += _on_position

    trader.placeOrder(contract, MarketOrder("BUY", 3, account="DU789012"))

    assert await asyncio.wait_for(seen, 5) == 3.0
    assert [p.position for p in watcher.positions("DU789012") if p.contract.symbol == "QQQ"] == [
        3.0
    ]


async def test_account_summary_cache_is_updated_after_a_fill(
    connect: Connect, sim: GatewaySimulator
) -> None:
    ib = await connect()
    await ib.accountSummaryAsync()
    contract = Stock("SHY", "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    updated: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def _on_summary(value: AccountValue) -> None:
        if value.account == "DU789012" and value.tag == "TotalCashValue" and not updated.done():
            updated.set_result(value.value)

    ib.accountSummaryEvent += _on_summary
    ib.placeOrder(contract, MarketOrder("BUY", 10, account="DU789012"))

    assert await asyncio.wait_for(updated, 5) == str(sim.cash("DU789012"))
    summary = {(v.account, v.tag): v.value for v in await ib.accountSummaryAsync()}
    assert summary[("DU789012", "TotalCashValue")] == "49174.40"


async def test_third_open_account_summary_subscription_gets_322(
    connect: Connect, ib_errors: Errors
) -> None:
    ib = await connect()
    errors = ib_errors(ib)
    req_ids = [ib.client.getReqId() for _ in range(4)]
    futures = [ib.wrapper.startReq(r) for r in req_ids]  # type: ignore[no-untyped-call]
    for req_id in req_ids[:3]:
        ib.client.reqAccountSummary(req_id, "All", "NetLiquidation")  # type: ignore[no-untyped-call]
    await asyncio.wait_for(asyncio.gather(*futures[:3]), 5)

    ib.client.cancelAccountSummary(req_ids[0])  # type: ignore[no-untyped-call]
    ib.client.reqAccountSummary(req_ids[3], "All", "NetLiquidation")  # type: ignore[no-untyped-call]
    await asyncio.wait_for(futures[3], 5)

    assert [(r, c) for r, c, _ in errors] == [(req_ids[2], 322)]


async def test_received_counts_each_clients_messages_by_message_id(
    sim: GatewaySimulator, connect: Connect
) -> None:
    first = await connect(client_id=7)
    second = await connect(client_id=8)
    before = dict(sim.received)

    await first.reqCurrentTimeAsync()
    await first.reqCurrentTimeAsync()
    await second.reqCurrentTimeAsync()

    sent = {key: n - before.get(key, 0) for key, n in sim.received.items()}
    assert {key: n for key, n in sent.items() if n} == {(7, 49): 2, (8, 49): 1}
    assert sim.received[None, 71] == 2  # one startApi per connection
