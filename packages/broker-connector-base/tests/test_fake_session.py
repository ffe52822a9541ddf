"""InMemoryBroker: connection, injected failures, snapshots, quotes and trading hours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from broker_connector_base import OrderSpec
from broker_connector_base.exceptions import (
    BrokerAPIError,
    BrokerConnectionError,
    InvalidInputError,
    RateLimitError,
)
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.models import OrderStatus

ACCOUNT = "DU100"


async def test_new_broker_is_disconnected_and_refuses_calls() -> None:
    broker = InMemoryBroker(FakeExchange())
    assert broker.is_connected() is False
    with pytest.raises(BrokerConnectionError, match="not connected"):
        await broker.get_multiple_market_prices([])


async def test_fail_next_raises_injected_error_once_then_recovers(
    broker: InMemoryBroker,
) -> None:
    broker.fail_next("get_account_snapshot", RateLimitError("pacing", api_code="100"), times=2)
    for _ in range(2):
        with pytest.raises(RateLimitError) as caught:
            await broker.get_account_snapshot(ACCOUNT)
        assert caught.value.api_code == "100"
    snap = await broker.get_account_snapshot(ACCOUNT)
    assert snap.account_id == ACCOUNT
    assert broker.calls["get_account_snapshot"] == 3


async def test_fail_next_connect_makes_connect_raise(exchange: FakeExchange) -> None:
    broker = InMemoryBroker(exchange)
    broker.fail_next("connect", BrokerConnectionError("refused"))
    with pytest.raises(BrokerConnectionError, match="refused"):
        await broker.connect()
    assert broker.is_connected() is False
    assert await broker.connect() is True


def test_fail_next_unknown_method_raises_value_error() -> None:
    with pytest.raises(ValueError, match="not a BrokerClient method"):
        InMemoryBroker().fail_next("is_connected", BrokerConnectionError("x"))


async def test_drop_connection_fails_pending_wait_and_keeps_orders(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    result = await broker.place_order(
        ACCOUNT, "SPY", 1, order=OrderSpec(type="LIMIT", limit_price=Decimal("50"))
    )
    waiting = asyncio.create_task(broker.wait_for_order(result.order_id, timeout_secs=30))
    order = exchange.orders[result.order_id]
    for _ in range(100):  # yield until the wait has registered (no wall-clock sleep)
        if order.waiters:
            break
        await asyncio.sleep(0)
    assert order.waiters
    broker.drop_connection()
    with pytest.raises(BrokerConnectionError, match="lost"):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(BrokerConnectionError):
        await broker.get_order_status(result.order_id)
    await broker.connect()
    assert await broker.get_order_status(result.order_id) == OrderStatus.WORKING


async def test_snapshot_values_at_last_else_mid_else_close_and_totals_exactly(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    await broker.place_order(
        ACCOUNT, "BND", 1, order=OrderSpec(type="LIMIT", limit_price=Decimal("1"))
    )
    exchange.fill_order(exchange.order_log[-1].order_id, price=Decimal("72.00"))
    snap = await broker.get_account_snapshot(ACCOUNT)
    vti = snap.position("VTI")
    bnd = snap.position("BND")
    assert vti is not None
    assert bnd is not None
    assert vti.market_price == Decimal("230.12")  # mid of 230.10 / 230.14
    assert vti.market_value == Decimal("2301.20")
    assert bnd.market_price == Decimal("72.345")  # last
    assert snap.cash_balance == Decimal("928.00")
    assert snap.total_value == Decimal("928.00") + Decimal("2301.20") + Decimal("72.345")
    exchange.set_quote("BND", close=Decimal("72.30"))
    again = await broker.get_account_snapshot(ACCOUNT)
    bnd_close = again.position("BND")
    assert bnd_close is not None
    assert bnd_close.market_price == Decimal("72.30")


async def test_snapshot_of_position_without_any_price_raises_broker_api_error(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_quote("VTI")
    with pytest.raises(BrokerAPIError, match="VTI"):
        await broker.get_account_snapshot(ACCOUNT)


async def test_snapshot_unknown_account_raises_invalid_input(broker: InMemoryBroker) -> None:
    with pytest.raises(InvalidInputError, match="'DU999'"):
        await broker.get_account_snapshot("DU999")


async def test_prices_normalise_symbols_and_refuse_missing_data(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    prices = await broker.get_multiple_market_prices([" spy ", "bnd"])
    assert [p.symbol for p in prices] == ["SPY", "BND"]
    assert prices[0].ask == Decimal("100.01")
    exchange.set_quote("HALTED")
    with pytest.raises(BrokerAPIError, match="no usable price for HALTED"):
        await broker.get_multiple_market_prices(["SPY", "HALTED"])


async def test_trading_hours_closed_market_reports_every_symbol_and_next_open(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    opens = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    exchange.set_market_open(False, next_open=opens)
    status = await broker.get_trading_hours_status(["SPY", "vti", "SPY"])
    assert status.is_open is False
    assert status.closed_symbols == ["SPY", "VTI"]
    assert status.next_open == opens
    # conftest's clock starts at 15:00:00 and ticks a second per reading; this is the first.
    assert status.checked_at == datetime(2026, 11, 23, 15, 0, 1, tzinfo=UTC)


async def test_trading_hours_halted_symbol_only_closes_that_symbol(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_symbol_open("VTI", False)
    assert (await broker.get_trading_hours_status(["SPY"])).is_open is True
    status = await broker.get_trading_hours_status(["SPY", "VTI"])
    assert (status.is_open, status.closed_symbols) == (False, ["VTI"])
    exchange.set_symbol_open("VTI", True)
    assert (await broker.get_trading_hours_status(["SPY", "VTI"])).is_open is True


async def test_trading_hours_unknown_symbol_raises_broker_api_error(
    broker: InMemoryBroker,
) -> None:
    with pytest.raises(BrokerAPIError, match="ZZZQ"):
        await broker.get_trading_hours_status(["SPY", "zzzq"])


@pytest.mark.parametrize("bad_id", ["abc", "", "-1", "1.0", " 1", "١٢"])
async def test_order_id_not_ascii_digits_raises_invalid_input(
    broker: InMemoryBroker, bad_id: str
) -> None:
    with pytest.raises(InvalidInputError, match="not a decimal number"):
        await broker.get_order_status(bad_id)


@pytest.mark.parametrize("quantity", [1.5, True, 0])
async def test_place_order_bad_quantity_raises_invalid_input_and_places_nothing(
    broker: InMemoryBroker, exchange: FakeExchange, quantity: object
) -> None:
    with pytest.raises(InvalidInputError, match="quantity"):
        await broker.place_order(ACCOUNT, "SPY", quantity)  # type: ignore[arg-type]
    assert exchange.order_log == []


async def test_place_order_adaptive_is_refused_as_undeclared_and_places_nothing(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    with pytest.raises(InvalidInputError, match="cannot place ADAPTIVE orders"):
        await broker.place_order(ACCOUNT, "SPY", 1, order=OrderSpec(type="ADAPTIVE"))
    assert exchange.order_log == []


async def test_place_order_unknown_account_raises_invalid_input(broker: InMemoryBroker) -> None:
    with pytest.raises(InvalidInputError, match="DU999"):
        await broker.place_order("DU999", "SPY", 1)


async def test_fake_account_float_holdings_are_exact_and_nan_refused(
    exchange: FakeExchange,
) -> None:
    exchange.add_account("DU400", FakeAccount(cash=Decimal(0), positions={"VTI": 0.1}))
    broker = InMemoryBroker(exchange)
    await broker.connect()
    snap = await broker.get_account_snapshot("DU400")
    vti = snap.position("VTI")
    assert vti is not None
    assert vti.quantity == Decimal("0.1")
    assert vti.market_value == Decimal("23.012")
    with pytest.raises(ValueError, match="not a finite number"):
        exchange.add_account("DU401", FakeAccount(cash=Decimal("NaN")))
