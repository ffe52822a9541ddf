"""Streaming bid/ask of symbols from IB, as ``QuoteTick`` batches (the quote recorder's feed).

Streaming market data (``reqMktData`` without snapshot) pushes every change of bid, ask and
their sizes; ib_async gathers the tickers that changed since its last network read and emits
them once (``pendingTickersEvent``): each emission becomes one batch, so the consumer pays one
step per read, not per tick. The subscriptions are cancelled when the iteration ends.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, Iterable, Sequence
from decimal import Decimal

from broker_connector_base import BrokerConnectionError
from broker_connector_base.quote_tick import QuoteTick
from ib_async import Ticker

from ibkr_connector import _gateway
from ibkr_connector.client import IBKRClient
from ibkr_connector.translation import ib_price

__all__ = ["stream_quotes"]

_DELAYED = frozenset({3, 4})
"""IB's market data types of delayed quotes (delayed, delayed frozen)."""


def _size(value: float | Decimal | None) -> int | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if math.isfinite(number) and number >= 0 else None


def _ticks(tickers: Iterable[Ticker], wanted: dict[int, str]) -> list[QuoteTick]:
    now = time.time()
    out = []
    for ticker in tickers:
        symbol = wanted.get(ticker.contract.conId) if ticker.contract is not None else None
        if symbol is None:
            continue
        out.append(
            QuoteTick(
                now,
                symbol,
                ib_price(ticker.bid),
                ib_price(ticker.ask),
                _size(ticker.bidSize),
                _size(ticker.askSize),
                ticker.marketDataType in _DELAYED,
            )
        )
    return out


async def stream_quotes(
    client: IBKRClient, symbols: Sequence[str]
) -> AsyncGenerator[list[QuoteTick], None]:
    """Batches of bid/ask updates of ``symbols`` until the caller stops iterating.

    Raises:
        BrokerAPIError: A symbol is unknown or ambiguous (before anything streams).
        BrokerConnectionError: The connection is down, or is lost while streaming.
    """
    ib = client.ib
    contracts = await client.market.contracts(list(dict.fromkeys(symbols)))
    wanted = {c.conId: s for s, c in contracts.items()}
    batches: asyncio.Queue[list[QuoteTick] | None] = asyncio.Queue()

    def on_tickers(tickers: Iterable[Ticker]) -> None:
        batch = _ticks(tickers, wanted)
        if batch:
            batches.put_nowait(batch)

    def on_disconnect() -> None:
        batches.put_nowait(None)

    _gateway.require_connected(ib, "streaming quotes")
    ib.pendingTickersEvent += on_tickers
    ib.disconnectedEvent += on_disconnect
    for contract in contracts.values():
        ib.reqMktData(contract, "", False, False)
    try:
        while True:
            batch = await batches.get()
            if batch is None:
                raise BrokerConnectionError("connection to the IB gateway lost while streaming")
            yield batch
    finally:
        ib.pendingTickersEvent -= on_tickers
        ib.disconnectedEvent -= on_disconnect
        if ib.isConnected():
            for contract in contracts.values():
                ib.cancelMktData(contract)
