"""IBKRClient specifics beyond the conformance suite, against the simulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
from decimal import Decimal

import pytest
from broker_connector_base import (
    BrokerAPIError,
    BrokerConnectionError,
    InvalidInputError,
    OrderExecutionError,
    OrderSpec,
)
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient, IBKRConnectionConfig
from ibkr_connector.testing import ACCOUNT, OTHER_ACCOUNT, MakeClient

pytestmark = pytest.mark.timeout(30)

NEW_YORK = dt.timezone(dt.timedelta(hours=-5))
SATURDAY_NOON = dt.datetime(2026, 11, 21, 12, 0, tzinfo=NEW_YORK)
CONNECT_FAILURES = [r"API connection failed", r"Make sure API port", r"already in use"]
DROPPED = [r"^Peer closed connection\.$"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_config_default_ports_follow_trading_mode_and_can_be_overridden() -> None:
    assert IBKRConnectionConfig(client_id=1).effective_port == 4002
    assert IBKRConnectionConfig(client_id=1, trading_mode="live").effective_port == 4001
    assert IBKRConnectionConfig(client_id=1, trading_mode="live", port=7496).effective_port == 7496


def test_seed_constructor_with_client_id_only_builds_paper_localhost_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    client = IBKRClient(client_id=9999)
    assert client.config.client_id == 9999
    assert (client.config.host, client.config.effective_port) == ("127.0.0.1", 4002)
    assert client.is_connected() is False
    assert "IBKRClient v1.0.0 with broker-connector-base v1.0.0" in caplog.text


def test_constructor_conflicting_client_ids_raises() -> None:
    with pytest.raises(InvalidInputError, match="client_id 2 differs"):
        IBKRClient(IBKRConnectionConfig(client_id=1), client_id=2)


@pytest.mark.parametrize("allowed_ib_errors", [CONNECT_FAILURES])
async def test_connect_gateway_down_raises_connection_error_after_all_retries(
    allowed_ib_errors: list[str],
) -> None:
    client = IBKRClient(
        IBKRConnectionConfig(
            client_id=3, port=_free_port(), connect_retries=2, connect_backoff_secs=0.01
        )
    )
    with pytest.raises(BrokerConnectionError) as caught:
        await client.connect()
    message = str(caught.value)
    assert "after 3 attempts" in message
    assert "connection refused" in message
    assert client.is_connected() is False


@pytest.mark.parametrize("allowed_ib_errors", [CONNECT_FAILURES])
async def test_connect_gateway_accepting_but_silent_raises_handshake_timeout(
    allowed_ib_errors: list[str],
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # a gateway still starting: accepts the socket, never answers
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = IBKRClient(
        IBKRConnectionConfig(client_id=4, port=port, connect_timeout_secs=0.3, connect_retries=0)
    )
    try:
        with pytest.raises(BrokerConnectionError, match="no API handshake in time"):
            await client.connect()
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("allowed_ib_errors", [CONNECT_FAILURES])
async def test_connect_client_id_in_use_raises_naming_error_326(
    make_client: MakeClient, allowed_ib_errors: list[str]
) -> None:
    await make_client(client_id=5)
    with pytest.raises(BrokerConnectionError, match=r"client id 5 is already in use.*326"):
        await make_client(client_id=5, connect_retries=1)


@pytest.mark.parametrize("allowed_ib_errors", [CONNECT_FAILURES])
async def test_connect_while_gateway_restarts_retries_until_it_is_back(
    sim: GatewaySimulator, make_client: MakeClient, allowed_ib_errors: list[str]
) -> None:
    sim.drop_connections(refuse_secs=0.4)
    client = await make_client(connect_retries=6, connect_backoff_secs=0.1)
    assert client.is_connected()
    assert sim.accepting


@pytest.mark.parametrize("allowed_ib_errors", [DROPPED])
async def test_calls_after_gateway_drop_raise_connection_error(
    sim: GatewaySimulator, client: IBKRClient, allowed_ib_errors: list[str]
) -> None:
    gone = asyncio.Event()
    client.ib.disconnectedEvent += gone.set
    sim.drop_connections()
    await asyncio.wait_for(gone.wait(), 5)
    with pytest.raises(BrokerConnectionError):
        await client.get_account_snapshot(ACCOUNT)
    with pytest.raises(BrokerConnectionError):
        await client.place_order(ACCOUNT, "SPY", 1)


async def test_snapshot_values_positions_at_market_not_average_cost(client: IBKRClient) -> None:
    snap = await client.get_account_snapshot(ACCOUNT)
    spy = snap.position("SPY")
    assert spy is not None
    assert spy.quantity == 50
    assert spy.avg_cost == Decimal("540.25")
    assert spy.market_price == Decimal("589.11")  # mid of 589.10 / 589.12
    assert spy.market_value == Decimal("29455.5")
    assert snap.cash_balance == Decimal("100000.00")
    assert snap.settled_cash == Decimal("100000.00")
    assert snap.total_value == snap.cash_balance + sum(p.market_value for p in snap.positions)


async def test_snapshot_second_managed_account_on_same_gateway(client: IBKRClient) -> None:
    snap = await client.get_account_snapshot(OTHER_ACCOUNT)
    assert snap.account_id == OTHER_ACCOUNT
    assert snap.positions == []
    assert snap.total_value == snap.cash_balance == Decimal("50000.00")


async def test_snapshot_unknown_account_names_it_and_managed_accounts(client: IBKRClient) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await client.get_account_snapshot("INVALID123")
    assert "'INVALID123' is not managed" in str(caught.value)
    assert ACCOUNT in str(caught.value)


async def test_prices_many_symbols_in_one_batch_keep_request_order(client: IBKRClient) -> None:
    symbols = ["SPY", "QQQ", "IWM", "EFA", "EEM", "VNQ", "TLT", "IEF", "AGG", "LQD", "GLD", "BIL"]
    sent: list[int] = []
    original = client.ib.client.reqMktData

    def spy(*args: object) -> None:  # records how many quotes had arrived at each request
        sent.append(len([t for t in client.ib.wrapper.reqId2Ticker.values() if t.bid == t.bid]))
        original(*args)  # type: ignore[no-untyped-call]

    client.ib.client.reqMktData = spy  # type: ignore[method-assign]
    prices = await client.get_multiple_market_prices(symbols)
    assert [p.symbol for p in prices] == symbols
    assert len(sent) == len(symbols)
    assert set(sent) == {0}, "every request went out before the first answer"


async def test_prices_delayed_only_account_still_gets_quotes(
    sim: GatewaySimulator, make_client: MakeClient
) -> None:
    sim.set_faults(delayed_market_data_only=True)
    client = await make_client(market_data_type=1)
    [quote] = await client.get_multiple_market_prices(["AGG"])
    assert (quote.bid, quote.ask) == (Decimal("99.02"), Decimal("99.03"))


async def test_prices_symbol_without_bid_ask_falls_back_to_last_with_warning(
    sim: GatewaySimulator, client: IBKRClient, caplog: pytest.LogCaptureFixture
) -> None:
    spec = sim.engine.symbols["DBC"]
    sim.engine.symbols["DBC"] = spec.model_copy(update={"bid": None, "ask": None})
    [quote] = await client.get_multiple_market_prices(["DBC"])
    assert quote.bid == quote.ask == quote.last == Decimal("22.64")
    assert any("DBC: no bid/ask quote, using last trade 22.64" in w for w in client.price_warnings)
    assert "DBC: no bid/ask quote" in caplog.text


async def test_prices_no_market_data_raises_naming_symbol(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    sim.set_faults(no_market_data_symbols=["IEF"])
    with pytest.raises(BrokerAPIError, match="IEF") as caught:
        await client.get_multiple_market_prices(["SPY", "IEF"])
    assert isinstance(caught.value, BrokerAPIError)
    assert caught.value.api_code == "354"


async def test_prices_with_cache_serve_cached_quote_and_log_it(
    sim: GatewaySimulator, client: IBKRClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await client.get_multiple_market_prices(["SPY"])
    sim.set_price("SPY", bid="600.00", ask="600.02")
    [cached] = await client.get_multiple_market_prices(["SPY"], use_cache=True)
    [fresh] = await client.get_multiple_market_prices(["SPY"])
    assert cached.bid == Decimal("589.1")
    assert fresh.bid == Decimal("600")
    assert "Using cached price for SPY" in caplog.text


async def test_trading_hours_outside_liquid_hours_reports_next_open(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    sim.set_always_open(False)
    sim.set_clock(SATURDAY_NOON)
    status = await client.get_trading_hours_status(["SPY", "AGG"])
    assert status.is_open is False
    assert status.closed_symbols == ["SPY", "AGG"]
    assert status.checked_at == SATURDAY_NOON
    assert status.next_open == dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC)


async def test_trading_hours_inside_liquid_hours_is_open(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    sim.set_always_open(False)
    sim.set_clock(dt.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK))
    status = await client.get_trading_hours_status(["SPY"])
    assert (status.is_open, status.closed_symbols, status.next_open) == (True, [], None)


async def test_place_order_rejected_raises_with_ib_code_and_order_id(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    sim.set_faults(reject_symbols=["QQQ"])
    with pytest.raises(OrderExecutionError, match="IB error 201") as caught:
        await client.place_order(ACCOUNT, "QQQ", 1)
    assert caught.value.order_id is not None
    assert caught.value.order_id.isdigit()


async def test_place_order_stores_order_ref_at_the_gateway(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    result = await client.place_order(ACCOUNT, "AGG", 2, order_ref="run-42")
    [order] = sim.orders()
    assert order.order_ref == "run-42"
    assert str(order.order_id) == result.order_id
    assert order.tif == "DAY"


@pytest.mark.parametrize("allowed_ib_errors", [DROPPED])
async def test_wait_for_order_gateway_drop_raises_connection_error(
    sim: GatewaySimulator, client: IBKRClient, allowed_ib_errors: list[str]
) -> None:
    result = await client.place_order(
        ACCOUNT, "SPY", 1, order=OrderSpec(type="LIMIT", limit_price=Decimal("100.00"))
    )
    waiting = asyncio.create_task(client.wait_for_order(result.order_id, timeout_secs=10))
    await asyncio.sleep(0)
    sim.drop_connections()
    with pytest.raises(BrokerConnectionError, match="lost while waiting"):
        await waiting


async def test_concurrent_snapshots_and_order_listings_on_one_client_all_answer(
    client: IBKRClient,
) -> None:
    # ib_async keys positions and open-order requests by name; the client serialises them.
    snapshots = await asyncio.gather(
        *(client.get_account_snapshot(a) for a in (ACCOUNT, OTHER_ACCOUNT, ACCOUNT, OTHER_ACCOUNT))
    )
    assert [s.account_id for s in snapshots] == [ACCOUNT, OTHER_ACCOUNT] * 2
    listings = await asyncio.gather(*(client.get_open_orders(ACCOUNT) for _ in range(3)))
    assert listings == [[], [], []]


async def test_symbols_bought_today_come_from_todays_buy_executions_of_that_account(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    # 23:59 New York on Monday: the buy and the sell fall on Monday there (Tuesday in UTC).
    sim.set_clock(dt.datetime(2026, 11, 23, 23, 59, tzinfo=NEW_YORK))
    for quantity, symbol, account in (
        (1, "SPY", ACCOUNT),
        (-1, "TLT", ACCOUNT),
        (1, "QQQ", OTHER_ACCOUNT),
    ):
        placed = await client.place_order(account, symbol, quantity)
        assert (await client.wait_for_order(placed.order_id, timeout_secs=10)).status.is_final

    assert await client.get_symbols_bought_today(ACCOUNT) == {"SPY"}
    assert await client.get_symbols_bought_today(OTHER_ACCOUNT) == {"QQQ"}

    sim.advance_clock(dt.timedelta(minutes=2))  # Tuesday in New York
    assert await client.get_symbols_bought_today(ACCOUNT) == frozenset()


async def test_symbols_bought_today_unknown_account_raises(client: IBKRClient) -> None:
    with pytest.raises(InvalidInputError, match="DU000000"):
        await client.get_symbols_bought_today("DU000000")
