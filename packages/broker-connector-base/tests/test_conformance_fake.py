"""The in-memory fake broker passes the conformance suite, market open and closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from broker_connector_base.conformance import (
    BrokerClientConformance,
    ConformanceEnv,
    fake_faults,
)
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.models import ContractPrice


def _broker(*, market_open: bool) -> InMemoryBroker:
    exchange = FakeExchange(
        accounts={
            "DU111111": FakeAccount(
                cash=Decimal("100000"),
                positions={"VTI": 7},
                avg_costs={"VTI": Decimal("201.50")},
            )
        },
        quotes=[
            ContractPrice(symbol="SPY", bid=Decimal("449.98"), ask=Decimal("450.02")),
            ContractPrice(symbol="VTI", bid=Decimal("230.10"), ask=Decimal("230.13")),
            ContractPrice(symbol="BND", last=Decimal("72.345"), close=Decimal("72.30")),
        ],
        market_open=market_open,
        next_open=None if market_open else datetime(2026, 11, 23, 14, 30, tzinfo=UTC),
    )
    return InMemoryBroker(exchange)


class TestInMemoryBrokerConformance(BrokerClientConformance):
    timeout_secs = 2.0

    @pytest.fixture
    async def env(self) -> AsyncIterator[ConformanceEnv]:
        broker = _broker(market_open=True)
        await broker.connect()
        try:
            yield ConformanceEnv(
                client=broker,
                account_id="DU111111",
                buy_symbol="SPY",
                unknown_symbol="ZZZZQX",
                unknown_account_id="DU999999",
                extra_symbols=("VTI", "BND"),
                faults=fake_faults(broker),
                close_auction=broker.exchange.close_auction,
            )
        finally:
            await broker.disconnect()


class TestInMemoryBrokerClosedMarketConformance(BrokerClientConformance):
    timeout_secs = 2.0

    @pytest.fixture
    async def env(self) -> AsyncIterator[ConformanceEnv]:
        broker = _broker(market_open=False)
        await broker.connect()
        try:
            yield ConformanceEnv(
                client=broker,
                account_id="DU111111",
                buy_symbol="spy",
                unknown_symbol="ZZZZQX",
                unknown_account_id="DU999999",
                market_open=False,
                extra_symbols=("VTI",),
                faults=fake_faults(broker),
                close_auction=broker.exchange.close_auction,
            )
        finally:
            await broker.disconnect()
