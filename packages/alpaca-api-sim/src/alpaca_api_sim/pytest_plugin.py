"""Pytest fixtures for suites that drive the simulator with the real alpaca-py SDK.

Import them into a ``conftest.py`` (this module imports pytest, so ``alpaca_api_sim`` itself
never does)::

    from alpaca_api_sim.pytest_plugin import alpaca_scenario, alpaca_sim

Override ``alpaca_scenario`` in a test module (or a class) for another scenario.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from alpaca_api_sim import AlpacaApiSimulator, Scenario

__all__ = ["EXAMPLE_ACCOUNT", "EXAMPLE_MARGIN_ACCOUNT", "alpaca_scenario", "alpaca_sim"]

EXAMPLE_ACCOUNT = "PA1SIM000001"
"""The example scenario's cash account: 100,000 cash, 50 SPY, 100 TLT, 20 GLD."""

EXAMPLE_MARGIN_ACCOUNT = "PA1SIM000002"
"""The example scenario's margin account: 20,000 cash, no positions, one day trade counted."""


@pytest.fixture
def alpaca_scenario() -> Scenario:
    """The built-in example scenario (override for another one)."""
    return Scenario.builtin("example")


@pytest.fixture
async def alpaca_sim(alpaca_scenario: Scenario) -> AsyncIterator[AlpacaApiSimulator]:
    """A running simulator on an ephemeral loopback port."""
    async with AlpacaApiSimulator(alpaca_scenario) as simulator:
        yield simulator
