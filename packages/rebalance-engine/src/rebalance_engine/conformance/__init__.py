"""Conformance suite for rebalancers: the engine's guarantees, run on a connector's broker.

``broker_connector_base.conformance`` certifies a connector's methods one by one; this suite
certifies that the rebalance engine works on it: sell first, partial fills, rejections, a
connection lost mid-run, replacement sets, the cash reserve, run twice and nothing more,
nothing sold that was bought today, several strategies blended and attributed. It places real
orders: run it against a simulator, a fake or a paper account, never a live one.

A connector supplies one fixture, ``build_broker``: a factory that builds a fresh broker in a
described starting state (``RebalanceScenario``: cash, positions, quotes, market hours,
faults) and returns a ``ScenarioBroker`` (a connected client, the account id, the broker's own
record of the orders it received, a way to clear the faults)::

    from collections.abc import AsyncIterator
    from contextlib import AsyncExitStack

    import pytest
    from rebalance_engine.conformance import (
        BuildBroker, RebalanceScenario, RebalancerConformance, ScenarioBroker,
    )


    class TestMyBrokerRebalances(RebalancerConformance):
        @pytest.fixture
        async def build_broker(self) -> AsyncIterator[BuildBroker]:
            async with AsyncExitStack() as stack:

                async def build(scenario: RebalanceScenario) -> ScenarioBroker:
                    sim = await stack.enter_async_context(MySimulator(...from scenario...))
                    client = MyBrokerClient(...)  # pointed at sim
                    await client.connect()
                    stack.push_async_callback(client.disconnect)
                    return ScenarioBroker(client, "ACCOUNT", orders=..., clear_faults=...)

                yield build

``fake_scenario_broker`` is the reference implementation on the in-memory fake; the IB
connector's lives in ``packages/ibkr-connector/tests/test_rebalancer_conformance.py``. Tuning,
as class attributes: ``run_timeout_secs`` (60: bound on one run), ``fill_timeout_secs`` (10),
``cancel_timeout_secs`` (5), ``settle_timeout_secs`` (5); ``make_rebalancer`` may be
overridden to test a connector's own ``Rebalancer`` subclass.

A subclass may override a suite test only to skip it with a reason
(``@pytest.mark.skip(reason=...)``); any other override is refused when the class is defined,
and ``test_no_overrides_DO_NOT_OVERRIDE`` checks again when the suite runs.
"""

from __future__ import annotations

import pytest

# Rewrite the suite's asserts like a test module's, so a failing guarantee shows its values.
pytest.register_assert_rewrite(
    "rebalance_engine.conformance._faults",
    "rebalance_engine.conformance._runs",
    "rebalance_engine.conformance._strategies",
    "rebalance_engine.conformance._support",
)

from rebalance_engine.conformance._faults import FaultTests  # noqa: E402
from rebalance_engine.conformance._runs import RunTests  # noqa: E402
from rebalance_engine.conformance._scenario import (  # noqa: E402
    STANDARD_QUOTES,
    BrokerOrder,
    BuildBroker,
    RebalanceScenario,
    ScenarioBroker,
    fake_scenario_broker,
)
from rebalance_engine.conformance._strategies import StrategyTests  # noqa: E402
from rebalance_engine.conformance._support import overridden_tests  # noqa: E402

__all__ = [
    "STANDARD_QUOTES",
    "BrokerOrder",
    "BuildBroker",
    "RebalanceScenario",
    "RebalancerConformance",
    "ScenarioBroker",
    "fake_scenario_broker",
]


class RebalancerConformance(RunTests, FaultTests, StrategyTests):
    """Base class of a connector's rebalancer tests: subclass it and override
    ``build_broker``."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        bad = overridden_tests(cls, RebalancerConformance)
        if bad:
            raise TypeError(
                f"{cls.__name__} overrides rebalancer conformance tests {bad} without "
                "@pytest.mark.skip(reason=...): a connector supplies the broker, never the "
                "guarantees"
            )

    async def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """The suite's tests run as written (or are skipped with a stated reason)."""
        assert overridden_tests(type(self), RebalancerConformance) == []
