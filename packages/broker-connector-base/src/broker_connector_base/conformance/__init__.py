"""Conformance test suite every ``BrokerClient`` implementation runs.

The suite turns the guarantees written in ``BrokerClient``'s docstrings into pytest tests, so
every connector (and the in-memory fake) is held to the same contract. It places real orders
on the account it is given: run it against a simulator or a paper account, never a live one.

How a connector uses it (in the connector's own ``tests/``)::

    from collections.abc import AsyncIterator

    import pytest

    from broker_connector_base.conformance import (
        BrokerClientConformance,
        BrokerFaults,
        ConformanceEnv,
    )


    class TestMyBrokerConformance(BrokerClientConformance):
        timeout_secs = 15.0  # optional: the default is 10 s

        @pytest.fixture
        async def env(self) -> AsyncIterator[ConformanceEnv]:
            sim = ...  # e.g. ib_gateway_sim.GatewaySimulator, fresh per test
            client = MyBrokerClient(...)  # e.g. IBKRClient against the simulator
            await client.connect()
            try:
                yield ConformanceEnv(
                    client=client,
                    account_id="DU111111",
                    buy_symbol="SPY",
                    unknown_symbol="ZZZZQX",
                    unknown_account_id="DU999999",
                    faults=BrokerFaults(
                        reject_orders=lambda symbol: sim.set_faults(reject_symbols=[symbol]),
                        fill_partially=lambda symbol: sim.set_faults(
                            partial_fill_parts=2, partial_fill_stop_after=1
                        ),
                        drop_connection=sim.drop_connections,
                        unreachable_client=lambda: MyBrokerClient(port=closed_port, ...),
                    ),
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

``faults`` (a ``BrokerFaults``) tells the suite how to make the broker reject an order, fill
part of one, drop the connection, and how to build a client for a broker that is not there;
the unhappy-path tests fail while it is missing.

A connector that cannot honour one guarantee overrides that test method with
``@pytest.mark.skip(reason=...)`` and says why; it does not weaken the suite for others. Any
other override of a suite test is refused when the subclass is defined (``TypeError``), and
``test_no_overrides_DO_NOT_OVERRIDE`` checks it again when the suite runs.

Tests that need fills (market orders, round trips) are skipped when ``env.market_open`` is
False; the rest run in both states. Each order type the client declares
(``BrokerClient.supported_order_types``) is placed for real; every type it does not declare
must be refused with ``InvalidInputError`` before anything is sent. ``env.close_auction``
(optional) runs the stand-in's closing auction so that market-on-close orders fill.
"""

from __future__ import annotations

import pytest

# Rewrite the suite's asserts like a test module's, so a failing guarantee shows the values
# that broke it. Must run before the modules are imported.
pytest.register_assert_rewrite(
    "broker_connector_base.conformance._consistency",
    "broker_connector_base.conformance._faults",
    "broker_connector_base.conformance._order_types",
    "broker_connector_base.conformance._orders",
    "broker_connector_base.conformance._reconcile",
    "broker_connector_base.conformance._session",
    "broker_connector_base.conformance._support",
)

from broker_connector_base.conformance._consistency import ConsistencyTests  # noqa: E402
from broker_connector_base.conformance._faults import FaultTests  # noqa: E402
from broker_connector_base.conformance._order_types import OrderTypeTests  # noqa: E402
from broker_connector_base.conformance._orders import OrderTests  # noqa: E402
from broker_connector_base.conformance._reconcile import ReconcileTests  # noqa: E402
from broker_connector_base.conformance._session import SessionTests  # noqa: E402
from broker_connector_base.conformance._support import (  # noqa: E402
    BrokerFaults,
    ConformanceEnv,
    fake_faults,
    maybe_await,
    overridden_tests,
)

__all__ = [
    "BrokerClientConformance",
    "BrokerFaults",
    "ConformanceEnv",
    "fake_faults",
    "maybe_await",
    "overridden_tests",
]


class BrokerClientConformance(
    SessionTests, OrderTests, OrderTypeTests, FaultTests, ConsistencyTests, ReconcileTests
):
    """Base class of a connector's conformance tests: subclass it and override ``env``.

    Defining a subclass that replaces one of the suite's tests without
    ``@pytest.mark.skip(reason=...)`` (or ``xfail``) raises ``TypeError``; the suite's own
    ``test_no_overrides_DO_NOT_OVERRIDE`` checks the same when the tests run.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        bad = overridden_tests(cls, BrokerClientConformance)
        if bad:
            raise TypeError(
                f"{cls.__name__} overrides conformance tests {bad} without "
                "@pytest.mark.skip(reason=...): a connector tunes the fixtures and settings, "
                "never the guarantees"
            )

    async def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """The suite's tests run as written (or are skipped with a stated reason)."""
        assert overridden_tests(type(self), BrokerClientConformance) == []
