"""The engine's rebalancer conformance suite on the backtest broker: the backtest trades
through the same ``Rebalancer`` as the daemon, and it behaves here as on a real broker."""

from __future__ import annotations

import pytest
from rebalance_backtest.testing import backtest_scenario_broker
from rebalance_engine.conformance import BuildBroker, RebalancerConformance


@pytest.mark.timeout(60)
class TestRebalancerOnBacktestBroker(RebalancerConformance):
    fill_timeout_secs = 2.0
    cancel_timeout_secs = 1.0
    settle_timeout_secs = 1.0

    @pytest.fixture
    def build_broker(self) -> BuildBroker:
        return backtest_scenario_broker
