"""Fixtures: the in-memory fake broker in the IB simulator's example state, and a local
allocations API (real aiohttp server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.models import ContractPrice
from rebalance_engine.pytest_plugin import allocations_api  # noqa: F401  (fixture)
from rebalance_engine.testing import ACCOUNT

# Bid and ask of the IB simulator's example scenario, so figures compare across brokers.
QUOTES = {
    "SPY": ("589.10", "589.12"),
    "QQQ": ("509.45", "509.48"),
    "IWM": ("228.31", "228.33"),
    "EFA": ("81.52", "81.53"),
    "TLT": ("92.87", "92.88"),
    "IEF": ("95.41", "95.42"),
    "AGG": ("99.02", "99.03"),
    "GLD": ("245.80", "245.83"),
    "IAU": ("49.90", "49.92"),
    "DBC": ("22.64", "22.65"),
    "PDBC": ("13.41", "13.42"),
    "BIL": ("91.52", "91.53"),
}


def example_exchange() -> FakeExchange:
    """``ACCOUNT``: 100,000 cash, 50 SPY, 100 TLT, 20 GLD; quotes for ``QUOTES``."""
    return FakeExchange(
        accounts={
            ACCOUNT: FakeAccount(
                cash=Decimal("100000.00"), positions={"SPY": 50, "TLT": 100, "GLD": 20}
            )
        },
        quotes=[
            ContractPrice(symbol=s, bid=Decimal(bid), ask=Decimal(ask))
            for s, (bid, ask) in QUOTES.items()
        ],
    )


@pytest.fixture
def exchange() -> FakeExchange:
    return example_exchange()


@pytest.fixture
async def broker(exchange: FakeExchange) -> AsyncIterator[InMemoryBroker]:
    """A connected fake broker on ``exchange``."""
    client = InMemoryBroker(exchange)
    await client.connect()
    yield client
    await client.disconnect()
