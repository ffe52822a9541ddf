"""Streaming quotes (``stream_quotes``, the quote recorder's feed) through real ib_async."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from decimal import Decimal

import pytest
from broker_connector_base import BrokerConnectionError, QuoteTick
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import IBKRClient, stream_quotes
from ibkr_connector.testing import MakeClient


async def _next(stream: AsyncGenerator[list[QuoteTick], None]) -> list[QuoteTick]:
    return await asyncio.wait_for(anext(stream), 10)


async def test_stream_gives_the_current_quotes_then_each_change_exactly(
    client: IBKRClient, sim: GatewaySimulator
) -> None:
    stream = stream_quotes(client, ["SPY", "QQQ"])
    first = await _next(stream)
    seen = {t.symbol: t for t in first}
    while set(seen) != {"SPY", "QQQ"}:
        seen.update((t.symbol, t) for t in await _next(stream))
    spy = seen["SPY"]
    assert (spy.bid, spy.ask, spy.bid_size, spy.ask_size) == (
        sim.engine.symbols["SPY"].bid,
        sim.engine.symbols["SPY"].ask,
        sim.engine.symbols["SPY"].bid_size,
        sim.engine.symbols["SPY"].ask_size,
    )

    sim.set_price("QQQ", bid="0.1", ask="0.3", clear=())
    changed = [t for t in await _next(stream) if t.symbol == "QQQ"]

    assert [(t.bid, t.ask) for t in changed][-1] == (Decimal("0.1"), Decimal("0.3"))
    await stream.aclose()
    assert client.ib.isConnected()


@pytest.mark.parametrize("allowed_ib_errors", [["Peer closed connection"]])
async def test_stream_ends_with_a_connection_error_when_the_gateway_drops_it(
    client: IBKRClient, sim: GatewaySimulator, allowed_ib_errors: list[str]
) -> None:
    stream = stream_quotes(client, ["SPY"])
    await _next(stream)

    sim.drop_connections()

    async def drain() -> None:
        while True:
            await _next(stream)

    with pytest.raises(BrokerConnectionError, match="lost while streaming"):
        await drain()


async def test_stream_marks_delayed_quotes_where_the_login_has_no_live_data(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    sim.set_faults(delayed_market_data_only=True)
    client = await make_client()
    stream = stream_quotes(client, ["TLT"])

    ticks = await _next(stream)

    assert [(t.symbol, t.delayed) for t in ticks][-1] == ("TLT", True)
    await stream.aclose()


async def test_stream_marks_live_quotes_as_not_delayed(make_client: MakeClient) -> None:
    # Live data asked for as such: the simulator answers type 3 (live where subscribed) with
    # delayed data even for a login that has live data; IB sends live data there.
    client = await make_client(market_data_type=1)
    stream = stream_quotes(client, ["TLT"])

    ticks = await _next(stream)

    assert [(t.symbol, t.delayed) for t in ticks][-1] == ("TLT", False)
    await stream.aclose()
