"""Fresh quotes shared by the clients of one gateway (``shared_quotes``), on the simulator.

Two ``IBKRClient``s with two client ids and one ``data_dir`` stand for two worker processes:
the lock and the cache are files, and ``flock`` locks belong to open files, so two clients of
one process exclude each other exactly as two processes do. What each client really sent is
counted by the simulator per client id (``sim.received``; message id 1 = reqMktData).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from decimal import Decimal
from pathlib import Path

import pytest
from broker_connector_base import ContractPrice
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient
from ibkr_connector.shared_quotes import SharedQuotes, shared_quote_paths
from ibkr_connector.testing import MakeClient

SYMBOLS = ["SPY", "QQQ", "TLT"]
SIM_PRICES = {
    "SPY": (Decimal("589.10"), Decimal("589.12")),
    "QQQ": (Decimal("509.45"), Decimal("509.48")),
    "TLT": (Decimal("92.87"), Decimal("92.88")),
}
NOW = 1_800_000_000.0
REQ_MKT_DATA = 1


def _snapshot_requests(sim: GatewaySimulator, client: IBKRClient) -> int:
    """reqMktData messages the simulator received from ``client``'s connection."""
    return sim.received[client.config.client_id, REQ_MKT_DATA]


def _shared(client: IBKRClient, clock: float) -> SharedQuotes:
    """``client``'s shared quotes, its clock frozen at ``clock``."""
    shared = client.market.shared
    assert shared is not None
    shared.clock = lambda: clock
    return shared


def _bid_ask(prices: list[ContractPrice]) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    return {p.symbol: (p.bid, p.ask) for p in prices}


async def _pair(make_client: MakeClient, **config: object) -> tuple[IBKRClient, IBKRClient]:
    first = await make_client(client_id=21, **config)
    second = await make_client(client_id=22, **config)
    # Contracts looked up beforehand: only quote requests are counted below.
    for client in (first, second):
        await client.market.contracts(SYMBOLS)
    return first, second


async def test_sibling_fresh_quotes_serve_second_client_without_any_snapshot_request(
    make_client: MakeClient, sim: GatewaySimulator, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await _pair(make_client)
    _shared(first, NOW)
    _shared(second, NOW + 0.9)  # within the default 1 s

    taken = await first.get_multiple_market_prices(SYMBOLS)
    with caplog.at_level(logging.DEBUG, logger="ibkr_connector.shared_quotes"):
        reused = await second.get_multiple_market_prices(SYMBOLS)

    assert _bid_ask(taken) == _bid_ask(reused) == SIM_PRICES
    assert all(type(p.bid) is Decimal for p in reused)
    assert _snapshot_requests(sim, first) == len(SYMBOLS)
    assert _snapshot_requests(sim, second) == 0
    assert "3 shared by another client of the gateway, 0 requested" in caplog.text


async def test_single_client_never_reuses_its_own_quote_and_sees_the_new_price(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    client = await make_client(client_id=21)
    _shared(client, NOW)  # the same instant: only "taken after its own" can refuse the reuse

    await client.get_multiple_market_prices(SYMBOLS)
    sim.set_price("SPY", bid="590.00", ask="590.02")
    again = await client.get_multiple_market_prices(SYMBOLS)

    assert _bid_ask(again)["SPY"] == (Decimal("590.00"), Decimal("590.02"))
    assert _snapshot_requests(sim, client) == 2 * len(SYMBOLS)


async def test_client_reuses_a_sibling_quote_newer_than_its_own_but_never_twice(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    first, second = await _pair(make_client)
    _shared(second, NOW)
    await second.get_multiple_market_prices(SYMBOLS)  # second's own quotes at NOW
    _shared(first, NOW + 2)  # second's quotes are too old for first by then
    sim.set_price("SPY", bid="590.00", ask="590.02")
    await first.get_multiple_market_prices(SYMBOLS)  # newer, taken by first at NOW + 2
    _shared(second, NOW + 2.5)

    reused = await second.get_multiple_market_prices(SYMBOLS)
    again = await second.get_multiple_market_prices(SYMBOLS)

    assert (
        _bid_ask(reused)["SPY"] == _bid_ask(again)["SPY"] == (Decimal("590.00"), Decimal("590.02"))
    )
    # First round its own, second round first's newer quotes, third round its own again.
    assert _snapshot_requests(sim, second) == 2 * len(SYMBOLS)


async def test_sibling_quote_older_than_max_age_is_not_used(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    first, second = await _pair(make_client)
    _shared(first, NOW)
    _shared(second, NOW + 1.01)

    await first.get_multiple_market_prices(SYMBOLS)
    sim.set_price("SPY", bid="590.00", ask="590.02")
    prices = await second.get_multiple_market_prices(SYMBOLS)

    assert _bid_ask(prices)["SPY"] == (Decimal("590.00"), Decimal("590.02"))
    assert _snapshot_requests(sim, second) == len(SYMBOLS)


async def test_max_age_zero_disables_sharing_and_its_files(
    make_client: MakeClient, sim: GatewaySimulator, tmp_path: Path
) -> None:
    first, second = await _pair(make_client, shared_quote_max_age_secs=0)

    await first.get_multiple_market_prices(SYMBOLS)
    await second.get_multiple_market_prices(SYMBOLS)

    assert first.market.shared is None
    assert _snapshot_requests(sim, first) == _snapshot_requests(sim, second) == len(SYMBOLS)
    assert not list((tmp_path / "data").glob("ib-quotes-*"))


async def test_quote_taken_for_delayed_data_setting_does_not_serve_a_live_data_client(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    delayed = await make_client(client_id=21, market_data_type=3)
    live = await make_client(client_id=22, market_data_type=1)
    _shared(delayed, NOW)
    _shared(live, NOW + 0.1)

    await delayed.get_multiple_market_prices(SYMBOLS)
    await live.get_multiple_market_prices(SYMBOLS)

    assert _snapshot_requests(sim, live) == len(SYMBOLS)


async def test_concurrent_fetches_of_the_same_symbols_request_each_snapshot_once(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    first, second = await _pair(make_client)
    _shared(first, NOW)
    _shared(second, NOW)

    both = await asyncio.gather(
        first.get_multiple_market_prices(SYMBOLS), second.get_multiple_market_prices(SYMBOLS)
    )

    assert [_bid_ask(prices) for prices in both] == [SIM_PRICES, SIM_PRICES]
    assert _snapshot_requests(sim, first) + _snapshot_requests(sim, second) == len(SYMBOLS)


async def test_lock_held_past_the_request_timeout_fetches_without_sharing(
    make_client: MakeClient, sim: GatewaySimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(client_id=21, request_timeout_secs=2.0)
    _, lock_path = shared_quote_paths(tmp_path / "data", "127.0.0.1", sim.port)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a stuck sibling
        prices = await client.get_multiple_market_prices(SYMBOLS)
    finally:
        os.close(fd)

    assert _bid_ask(prices) == SIM_PRICES
    assert _snapshot_requests(sim, client) == len(SYMBOLS)
    assert "held the lock for over 2 s" in caplog.text


@pytest.mark.parametrize("broken", ["corrupt cache file", "lock path is a directory"])
async def test_unusable_cache_or_lock_still_fetches_quotes_with_a_warning(
    make_client: MakeClient,
    sim: GatewaySimulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    broken: str,
) -> None:
    path, lock_path = shared_quote_paths(tmp_path / "data", "127.0.0.1", sim.port)
    path.parent.mkdir(parents=True)
    if broken == "corrupt cache file":
        path.write_bytes(b"not a database" * 100)
    else:
        lock_path.mkdir()
    first, second = await _pair(make_client)

    with caplog.at_level(logging.WARNING, logger="ibkr_connector.shared_quotes"):
        taken = await first.get_multiple_market_prices(SYMBOLS)
        again = await second.get_multiple_market_prices(SYMBOLS)

    assert _bid_ask(taken) == _bid_ask(again) == SIM_PRICES
    assert _snapshot_requests(sim, second) == len(SYMBOLS)
    assert [r.levelno for r in caplog.records if r.name == "ibkr_connector.shared_quotes"]
    assert str(path if broken == "corrupt cache file" else lock_path) in caplog.text
