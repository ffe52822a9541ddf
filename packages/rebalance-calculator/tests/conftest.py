"""Fixtures of Appendix E.6 (seed 000): a two-ETF account and its quotes."""

from __future__ import annotations

import pytest
from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    ContractPrice,
)


@pytest.fixture
def account_config() -> AccountConfig:
    return AccountConfig(
        account_id="TEST123", type="paper", strategy_name="test-strategy", cash_reserve_percent=1.0
    )


@pytest.fixture
def account_snapshot() -> AccountSnapshot:
    return AccountSnapshot(
        account_id="TEST123",
        total_value=10000.0,
        cash_balance=1000.0,
        settled_cash=1000.0,
        positions=[
            AccountPosition(symbol="SPY", quantity=10.0, market_price=450.0, market_value=4500.0),
            AccountPosition(symbol="AGG", quantity=20.0, market_price=110.0, market_value=2200.0),
        ],
    )


@pytest.fixture
def target_allocations() -> list[AllocationItem]:
    return [
        AllocationItem(symbol="SPY", allocation=0.6),
        AllocationItem(symbol="AGG", allocation=0.4),
    ]


@pytest.fixture
def market_prices() -> list[ContractPrice]:
    return [
        ContractPrice(symbol="SPY", bid=449.0, ask=451.0, last=450.0, close=449.5),
        ContractPrice(symbol="AGG", bid=109.5, ask=110.5, last=110.0, close=110.0),
    ]
