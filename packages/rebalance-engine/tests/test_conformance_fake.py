"""The rebalancer conformance suite on the in-memory fake broker (the reference
``build_broker``)."""

from __future__ import annotations

import pytest
from rebalance_engine.conformance import BuildBroker, RebalancerConformance, fake_scenario_broker


@pytest.mark.timeout(60)
class TestRebalancerOnFakeBroker(RebalancerConformance):
    fill_timeout_secs = 2.0
    cancel_timeout_secs = 1.0
    settle_timeout_secs = 1.0

    @pytest.fixture
    def build_broker(self) -> BuildBroker:
        return fake_scenario_broker
