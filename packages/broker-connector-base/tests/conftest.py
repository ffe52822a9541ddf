"""Shared fixtures: a small fake exchange and a connected client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.models import ContractPrice

ACCOUNT = "DU100"
START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class StepClock:
    """A clock that advances one second per reading, so log timestamps are distinct."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.readings: list[datetime] = []

    def __call__(self) -> datetime:
        self.now = self.now + timedelta(seconds=1)
        self.readings.append(self.now)
        return self.now


@pytest.fixture
def clock() -> StepClock:
    return StepClock(START)


@pytest.fixture
def exchange(clock: StepClock) -> FakeExchange:
    """Account DU100: 1000.00 cash, 10 VTI at avg 200.00; quotes for SPY, VTI, BND."""
    return FakeExchange(
        accounts={
            ACCOUNT: FakeAccount(
                cash=Decimal("1000.00"),
                positions={"VTI": 10},
                avg_costs={"VTI": Decimal("200.00")},
            )
        },
        quotes=[
            ContractPrice(symbol="SPY", bid=Decimal("99.99"), ask=Decimal("100.01")),
            ContractPrice(symbol="VTI", bid=Decimal("230.10"), ask=Decimal("230.14")),
            ContractPrice(symbol="BND", last=Decimal("72.345"), close=Decimal("72.30")),
        ],
        clock=clock,
    )


@pytest.fixture
async def broker(exchange: FakeExchange) -> AsyncIterator[InMemoryBroker]:
    client = InMemoryBroker(exchange)
    await client.connect()
    yield client
    await client.disconnect()
