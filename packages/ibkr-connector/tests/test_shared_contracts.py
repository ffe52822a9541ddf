"""Contract lookups shared by the clients of one gateway (``ContractCache.look_up``), on the
simulator.

Two ``IBKRClient``s with two client ids and one ``data_dir`` stand for two worker processes:
the lock and the cache are files, and ``flock`` locks belong to open files, so two clients of
one process exclude each other exactly as two processes do. What each client really sent is
counted by the simulator per client id (``sim.received``; message id 9 = reqContractDetails).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import logging
import os
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient
from ibkr_connector._gateway_lock import gateway_file
from ibkr_connector.testing import MakeClient

SYMBOLS = ["SPY", "QQQ", "TLT"]
CON_IDS = {"SPY": 756733, "QQQ": 320227571, "TLT": 15547841}
REQ_CONTRACT_DETAILS = 9
NEW_YORK = ZoneInfo("America/New_York")
# A weekday days away from the machine's clock: stamps and the same-day rule follow the
# gateway's clock, not the local one (the daemon's bench moves the simulator a day a round).
MONDAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)


def _lookups(sim: GatewaySimulator, client: IBKRClient) -> int:
    """reqContractDetails messages the simulator received from ``client``'s connection."""
    return sim.received[client.config.client_id, REQ_CONTRACT_DETAILS]


def _lock_path(tmp_path: Path, sim: GatewaySimulator) -> Path:
    return gateway_file(tmp_path / "data", "contracts", "127.0.0.1", sim.port, ".lock")


async def _con_ids(client: IBKRClient) -> dict[str, int]:
    return {s: c.conId for s, c in (await client.market.contracts(SYMBOLS)).items()}


@pytest.mark.parametrize("entry", ["hours check", "quotes"])
async def test_two_clients_at_once_look_each_contract_up_once_in_total(
    make_client: MakeClient, sim: GatewaySimulator, entry: str
) -> None:
    first = await make_client(client_id=21)
    second = await make_client(client_id=22)

    if entry == "hours check":
        statuses = await asyncio.gather(
            *(c.get_trading_hours_status(SYMBOLS) for c in (first, second))
        )
        assert [s.is_open for s in statuses] == [True, True]
    else:
        quotes = await asyncio.gather(
            *(c.get_multiple_market_prices(SYMBOLS) for c in (first, second))
        )
        assert [[p.symbol for p in q] for q in quotes] == [SYMBOLS, SYMBOLS]

    assert _lookups(sim, first) + _lookups(sim, second) == len(SYMBOLS)
    assert await _con_ids(first) == await _con_ids(second) == CON_IDS


async def test_later_client_uses_todays_stored_details_and_looks_up_again_next_day(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    sim.set_clock(MONDAY)
    first = await make_client(client_id=21)
    await first.get_trading_hours_status(SYMBOLS)
    second = await make_client(client_id=22)

    assert (await second.get_trading_hours_status(SYMBOLS)).is_open
    assert await _con_ids(second) == CON_IDS
    assert (_lookups(sim, first), _lookups(sim, second)) == (len(SYMBOLS), 0)

    # Exactly a day later (within the contract TTL): liquid hours are announced per day.
    sim.advance_clock(dt.timedelta(days=1))
    third = await make_client(client_id=23)
    assert (await third.get_trading_hours_status(SYMBOLS)).is_open
    fourth = await make_client(client_id=24)
    assert await _con_ids(fourth) == CON_IDS
    assert (_lookups(sim, third), _lookups(sim, fourth)) == (len(SYMBOLS), 0)


async def test_lock_held_past_the_request_timeout_looks_up_without_waiting(
    make_client: MakeClient, sim: GatewaySimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(client_id=21, request_timeout_secs=2.0)
    fd = os.open(_lock_path(tmp_path, sim), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a stuck sibling
        with caplog.at_level(logging.WARNING, logger="ibkr_connector.contract_cache"):
            status = await client.get_trading_hours_status(SYMBOLS)
    finally:
        os.close(fd)

    assert status.is_open
    assert await _con_ids(client) == CON_IDS
    assert _lookups(sim, client) == len(SYMBOLS)
    assert "held the lock for over 2 s" in caplog.text


def _corrupt_rows(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "data" / "contract_cache.sqlite3") as db:
        db.execute("UPDATE contracts SET fetched_at = 'yesterday-ish'")
    db.close()


@pytest.mark.parametrize(
    ("broken", "second_lookups"),
    [
        ("corrupt cache file", len(SYMBOLS)),  # each client caches in its memory only
        ("unreadable cached entry", len(SYMBOLS)),
        ("lock path is a directory", 0),  # the cache itself still serves
    ],
)
async def test_unusable_cache_or_lock_still_looks_up_with_a_warning(
    make_client: MakeClient,
    sim: GatewaySimulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    broken: str,
    second_lookups: int,
) -> None:
    path = tmp_path / "data" / "contract_cache.sqlite3"
    path.parent.mkdir(parents=True)
    if broken == "corrupt cache file":
        path.write_bytes(b"not a database" * 100)
    elif broken == "lock path is a directory":
        _lock_path(tmp_path, sim).mkdir()
    with caplog.at_level(logging.WARNING, logger="ibkr_connector.contract_cache"):
        first = await make_client(client_id=21)
        await first.get_trading_hours_status(SYMBOLS)
        if broken == "unreadable cached entry":
            _corrupt_rows(tmp_path)
        second = await make_client(client_id=22)
        status = await second.get_trading_hours_status(SYMBOLS)

    assert status.is_open
    assert await _con_ids(second) == CON_IDS
    assert (_lookups(sim, first), _lookups(sim, second)) == (len(SYMBOLS), second_lookups)
    shown = _lock_path(tmp_path, sim) if broken == "lock path is a directory" else path
    assert str(shown) in caplog.text
