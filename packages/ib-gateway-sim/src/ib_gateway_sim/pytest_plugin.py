"""Pytest fixtures for suites that drive the simulator with the real ``ib_async`` client.

Import them into a ``conftest.py`` (this module imports pytest, so ``ib_gateway_sim`` itself
never does)::

    from ib_gateway_sim.pytest_plugin import (
        allowed_ib_errors, fail_on_ib_async_errors, scenario, sim,
    )

``fail_on_ib_async_errors`` is autouse: a test fails when ib_async logged an ERROR other than an
error message the gateway sent on purpose, because a message ib_async could not decode is a
simulator bug even when the test's own assertions pass.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from ib_gateway_sim import GatewaySimulator, Scenario

__all__ = ["allowed_ib_errors", "fail_on_ib_async_errors", "scenario", "sim"]

# ib_async's wrapper logs every error message the gateway sends as "Error <code>, reqId ...";
# tests provoke those on purpose. Anything else at ERROR (decoder exceptions, unknown reqIds,
# "No order found", request timeouts) means ib_async could not read what was sent.
_SERVER_ERROR = re.compile(r"^(Error|Warning) -?\d+, reqId -?\d+")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def allowed_ib_errors() -> list[str]:
    """Regexes of ib_async ERROR lines a test expects (override to allow provoked failures)."""
    return []


@pytest.fixture(autouse=True)
def fail_on_ib_async_errors(allowed_ib_errors: list[str]) -> Iterator[None]:
    """Fail the test when ib_async logged an error other than a gateway error message."""
    collector = _Collector()
    root = logging.getLogger("ib_async")
    root.addHandler(collector)
    try:
        yield
    finally:
        root.removeHandler(collector)
    unexpected = []
    for record in collector.records:
        message = record.getMessage()
        if record.name != "ib_async.Decoder" and _SERVER_ERROR.match(message):
            continue
        if any(re.search(pattern, message) for pattern in allowed_ib_errors):
            continue
        unexpected.append(f"{record.name}: {message}")
    if unexpected:
        pytest.fail("ib_async logged errors:\n" + "\n".join(unexpected))


@pytest.fixture
def scenario() -> Scenario:
    """The built-in example scenario (override in a test module for another one)."""
    return Scenario.builtin("example")


@pytest.fixture
async def sim(scenario: Scenario) -> AsyncIterator[GatewaySimulator]:
    """A running simulator on an ephemeral loopback port."""
    async with GatewaySimulator(scenario) as simulator:
        yield simulator
