"""Conformance test suite every ``BrokerClient`` implementation runs.

The suite turns the guarantees written in ``BrokerClient``'s docstrings into pytest tests, so
every connector (and the in-memory fake) is held to the same contract. It places real orders
on the account it is given: run it against a simulator or a paper account, never a live one.

How a connector uses it (in the connector's own ``tests/``)::

    from collections.abc import AsyncIterator

    import pytest

    from broker_connector_base.conformance import BrokerClientConformance, ConformanceEnv


    class TestMyBrokerConformance(BrokerClientConformance):
        timeout_secs = 15.0  # optional: the default is 10 s

        @pytest.fixture
        async def env(self) -> AsyncIterator[ConformanceEnv]:
            client = MyBrokerClient(...)  # e.g. IBKRClient against ib_gateway_sim
            await client.connect()
            try:
                yield ConformanceEnv(
                    client=client,
                    account_id="DU111111",
                    buy_symbol="SPY",
                    unknown_symbol="ZZZZQX",
                    unknown_account_id="DU999999",
                )
            finally:
                await client.disconnect()

The fixture must yield a *connected* client and should give each test a fresh broker state
(a new simulator scenario or fake) so tests do not depend on each other; the tests themselves
only compare states before and after their own orders and cancel what they leave resting.

Requirements: pytest and pytest-asyncio (the ``test`` extra of this package). The tests are
marked ``asyncio``; with ``asyncio_mode = "auto"`` a plain ``@pytest.fixture`` works for the
async ``env`` fixture, in strict mode decorate it with ``@pytest_asyncio.fixture``.

Tuning, as class attributes of the subclass:

* ``timeout_secs``: how long an order may take to fill or cancel, and the bound on every
  single call (a call that takes longer fails the test rather than hanging the suite);
* ``short_wait_secs``: the timeout of a ``wait_for_order`` that is meant to time out;
* ``quantity``: shares per test order (keep the account's cash enough for a few of them);
* ``resting_limit_factor``: a resting limit buy is priced at this fraction of the bid;
* ``value_tolerance``: allowed difference between ``market_value`` and
  ``quantity * market_price``.

A connector that cannot honour one guarantee overrides that test method with
``@pytest.mark.skip(reason=...)`` and says why; it does not weaken the suite for others.

Tests that need fills (market orders, round trips) are skipped when ``env.market_open`` is
False; the rest run in both states.
"""

from __future__ import annotations

import pytest

# Rewrite the suite's asserts like a test module's, so a failing guarantee shows the values
# that broke it. Must run before the modules are imported.
pytest.register_assert_rewrite(
    "broker_connector_base.conformance._orders",
    "broker_connector_base.conformance._session",
    "broker_connector_base.conformance._support",
)

from broker_connector_base.conformance._orders import OrderTests  # noqa: E402
from broker_connector_base.conformance._session import SessionTests  # noqa: E402
from broker_connector_base.conformance._support import ConformanceEnv  # noqa: E402

__all__ = ["BrokerClientConformance", "ConformanceEnv"]


class BrokerClientConformance(SessionTests, OrderTests):
    """Base class of a connector's conformance tests: subclass it and override ``env``."""
