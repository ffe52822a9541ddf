"""How many requests the client sends: IB allows 50 messages per second, ib_async sends 45.

Counted at ib_async's ``Client.sendMsg`` (the real messages still go to the simulator), by
the message's leading type id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from broker_connector_base import BrokerAPIError
from ib_async import Contract, ContractDetails
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient
from ibkr_connector.contract_cache import CachedContract, ContractCache
from ibkr_connector.testing import ACCOUNT, MakeClient

pytestmark = pytest.mark.timeout(30)

REQ_MKT_DATA = "1"
REQ_CONTRACT_DETAILS = "9"
REQ_ALL_OPEN_ORDERS = "16"
REQ_CURRENT_TIME = "49"
REQ_POSITIONS = "61"
SUB_ACCOUNT_UPDATES = "76"


def _count_requests(client: IBKRClient) -> Counter[str]:
    """A counter of the messages ``client`` sends from now on, by message type id."""
    sent: Counter[str] = Counter()
    inner = client.ib.client.sendMsg

    def counting(msg: str | None) -> None:
        if msg:
            sent[msg.split("\0", 1)[0]] += 1
        inner(msg)  # type: ignore[arg-type]  # ib_async passes None to flush its queue

    client.ib.client.sendMsg = counting  # type: ignore[method-assign]
    return sent


async def test_connect_skips_ib_async_start_up_fetch_of_every_managed_account(
    make_client: MakeClient,
) -> None:
    client = await make_client(connect=False)
    sent = _count_requests(client)
    await client.connect()
    assert sent[SUB_ACCOUNT_UPDATES] == 0
    assert sent[REQ_POSITIONS] == 1  # ib_async always subscribes to positions


async def test_concurrent_quotes_for_the_same_symbols_share_one_request_each(
    client: IBKRClient,
) -> None:
    sent = _count_requests(client)
    first, second = await asyncio.gather(
        client.get_multiple_market_prices(["SPY", "TLT"]),
        client.get_multiple_market_prices(["TLT", "SPY", "GLD"]),
    )
    assert [p.symbol for p in first] == ["SPY", "TLT"]
    assert [p.symbol for p in second] == ["TLT", "SPY", "GLD"]
    assert sent[REQ_MKT_DATA] == 3


async def test_quote_joined_to_a_failing_request_is_asked_for_again_and_served(
    client: IBKRClient,
) -> None:
    failing, joined = await asyncio.gather(
        client.get_multiple_market_prices(["SPY", "NOSUCHSYM"]),
        client.get_multiple_market_prices(["SPY"]),
        return_exceptions=True,
    )
    assert isinstance(failing, BrokerAPIError)
    assert "NOSUCHSYM" in str(failing)
    assert isinstance(joined, list)
    assert [p.symbol for p in joined] == ["SPY"]


async def test_second_connection_with_same_data_dir_looks_up_no_contracts(
    make_client: MakeClient,
) -> None:
    first = await make_client(client_id=21)
    await first.get_trading_hours_status(["SPY", "TLT"])
    second = await make_client(client_id=22)
    sent = _count_requests(second)
    status = await second.get_trading_hours_status(["SPY", "TLT"])
    await second.get_multiple_market_prices(["SPY", "TLT"])
    assert status.is_open
    assert sent[REQ_CONTRACT_DETAILS] == 0
    assert sent[REQ_MKT_DATA] == 2


async def test_contract_cache_disabled_looks_up_contracts_on_every_connection(
    make_client: MakeClient,
) -> None:
    first = await make_client(client_id=21, contract_cache_ttl_secs=0)
    await first.get_trading_hours_status(["SPY"])
    second = await make_client(client_id=22, contract_cache_ttl_secs=0)
    sent = _count_requests(second)
    await second.get_trading_hours_status(["SPY"])
    assert sent[REQ_CONTRACT_DETAILS] == 1


async def test_cold_hours_check_and_quotes_at_once_look_up_each_contract_once(
    client: IBKRClient,
) -> None:
    sent = _count_requests(client)
    await asyncio.gather(
        client.get_trading_hours_status(["AGG", "QQQ"]),
        client.get_multiple_market_prices(["QQQ", "AGG", "IEF"]),
    )
    assert sent[REQ_CONTRACT_DETAILS] == 3


async def test_hours_check_and_todays_buys_at_once_read_the_gateway_time_once(
    client: IBKRClient,
) -> None:
    sent = _count_requests(client)
    hours, bought = await asyncio.gather(
        client.get_trading_hours_status(["SPY"]),
        client.get_symbols_bought_today(ACCOUNT),
    )
    assert hours.is_open
    assert bought == frozenset()
    assert sent[REQ_CURRENT_TIME] == 1
    await client.get_trading_hours_status(["SPY"])
    assert sent[REQ_CURRENT_TIME] == 2  # a later call asks again: the clock is not cached


async def test_snapshot_reads_streamed_positions_without_a_positions_request(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    sent = _count_requests(client)
    snapshot = await client.get_account_snapshot(ACCOUNT)
    assert {p.symbol: p.quantity for p in snapshot.positions} == sim.positions(ACCOUNT)
    assert sent[REQ_POSITIONS] == 0


async def test_cancel_all_orders_with_none_open_lists_open_orders_once(
    client: IBKRClient,
) -> None:
    sent = _count_requests(client)
    assert await client.cancel_all_orders(ACCOUNT, timeout_secs=2.0) == []
    assert sent[REQ_ALL_OPEN_ORDERS] == 1


async def test_wait_for_positions_returns_on_the_pushed_update_of_a_fill(
    client: IBKRClient,
) -> None:
    held = (await client.get_account_snapshot(ACCOUNT)).positions
    spy = next(p.quantity for p in held if p.symbol == "SPY")
    sent = _count_requests(client)
    order = await client.place_order(ACCOUNT, "SPY", -1)
    seen = await client.wait_for_positions(ACCOUNT, {"SPY": spy - 1}, timeout_secs=5.0)
    assert seen == {"SPY": spy - 1}, order
    assert sent[REQ_POSITIONS] == 0


async def test_wait_for_positions_gives_up_at_the_timeout_with_what_it_saw(
    client: IBKRClient,
) -> None:
    seen = await client.wait_for_positions(
        ACCOUNT, {"SPY": Decimal(1), "NOTHELD": Decimal(0)}, timeout_secs=0.2
    )
    assert seen["NOTHELD"] == 0
    assert seen["SPY"] != 1


def _details(zone: str = "US/Eastern") -> ContractDetails:
    contract = Contract(secType="STK", conId=756733, symbol="SPY", exchange="SMART")
    return ContractDetails(contract=contract, timeZoneId=zone, liquidHours="20261123:0930-1600")


def test_cached_contract_serves_hours_only_on_the_exchange_day_it_was_fetched() -> None:
    # 23:30 UTC on 23 Nov is 18:30 in New York (same day); 05:30 UTC on 24 Nov is the next.
    fetched = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
    entry = CachedContract(_details(), fetched)
    assert entry.same_exchange_day(dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC))
    assert not entry.same_exchange_day(dt.datetime(2026, 11, 24, 5, 30, tzinfo=dt.UTC))
    assert not entry.same_exchange_day(fetched - dt.timedelta(days=1))


def test_cached_contract_serves_a_lookup_same_day_within_ttl_either_side_of_now() -> None:
    now = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
    # A sibling read the gateway's clock a moment after us and stamped its lookup with it.
    assert CachedContract(_details(), now + dt.timedelta(seconds=2)).serves_lookup(60, now)
    assert CachedContract(_details(), now - dt.timedelta(seconds=59)).serves_lookup(60, now)
    assert not CachedContract(_details(), now - dt.timedelta(seconds=61)).serves_lookup(60, now)
    # Within the TTL but fetched the exchange day before: liquid hours are per day.
    yesterday = now - dt.timedelta(hours=16)
    assert not CachedContract(_details(), yesterday).serves_lookup(86_400, now)


def test_cached_contract_with_unknown_zone_never_serves_hours() -> None:
    fetched = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
    assert not CachedContract(_details("Mars/Olympus"), fetched).same_exchange_day(fetched)


def test_contract_cache_file_serves_a_new_instance_the_same_contract(tmp_path: Path) -> None:
    path = tmp_path / "data" / "contract_cache.sqlite3"
    fetched = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
    ContractCache(path, ttl_secs=60).put({"SPY": _details()}, fetched)
    entry = ContractCache(path, ttl_secs=60).get(["SPY", "TLT"])
    assert list(entry) == ["SPY"]
    assert entry["SPY"].fetched_at == fetched
    assert entry["SPY"].details.contract is not None
    assert entry["SPY"].details.contract.conId == 756733
    assert entry["SPY"].details.liquidHours == "20261123:0930-1600"
    assert entry["SPY"].younger_than(60, fetched + dt.timedelta(seconds=59))
    assert not entry["SPY"].younger_than(60, fetched + dt.timedelta(seconds=61))
