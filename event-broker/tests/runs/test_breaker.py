"""The gateway circuit breaker: opens after consecutive unreachable runs, refuses meanwhile,
tells the owner once, probes after the cool-down, and closes when the gateway answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from app.config.settings import load_settings
from app.models import AccountExecutionResult
from app.runs.breaker import GatewayBreaker
from broker_connector_base import InvalidInputError

GATEWAY = ("127.0.0.1", 4002)


def _run(*, unreachable: bool, error: str = "connection refused") -> AccountExecutionResult:
    now = datetime.now(UTC)
    return AccountExecutionResult(
        account_id="DU1",
        run_id="r",
        mode="rebalance",
        status="failed",
        success=False,
        error=error,
        broker_unreachable=unreachable,
        started_at=now,
        finished_at=now,
    )


class _Owner:
    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    async def notify(self, title: str, body: str) -> None:
        self.told.append((title, body))


class _Gateway:
    """A probe the test answers: up or down."""

    def __init__(self) -> None:
        self.up = False
        self.probed = asyncio.Event()

    async def probe(self, gateway: Any) -> bool:
        self.probed.set()
        return self.up


def _breaker(owner: _Owner, gateway: _Gateway, **kwargs: Any) -> GatewayBreaker:
    kwargs.setdefault("failures", 3)
    kwargs.setdefault("cooldown_secs", 0.05)
    return GatewayBreaker(notify=owner.notify, probe=gateway.probe, **kwargs)


async def test_opens_after_consecutive_unreachable_runs_and_tells_the_owner_once() -> None:
    owner, gateway = _Owner(), _Gateway()
    breaker = _breaker(owner, gateway, cooldown_secs=60)

    for _ in range(2):
        await breaker.record(GATEWAY, _run(unreachable=True))
    assert breaker.refusal(GATEWAY) is None
    await breaker.record(GATEWAY, _run(unreachable=True))
    await breaker.record(GATEWAY, _run(unreachable=True))  # still open: no second message

    refusal = breaker.refusal(GATEWAY)
    assert refusal is not None
    assert "the broker gateway at 127.0.0.1:4002 refused 3 runs in a row" in refusal
    assert [title for title, _ in owner.told] == [
        "Broker gateway 127.0.0.1:4002 unreachable: runs stopped"
    ]
    assert "connection refused" in owner.told[0][1]
    assert breaker.refusal(("127.0.0.1", 4001)) is None  # another gateway is not affected
    await breaker.close()


async def test_a_failure_that_reached_the_gateway_resets_the_count() -> None:
    owner, gateway = _Owner(), _Gateway()
    breaker = _breaker(owner, gateway)

    for unreachable in (True, True, False, True, True):
        await breaker.record(GATEWAY, _run(unreachable=unreachable, error="order rejected"))

    assert breaker.refusal(GATEWAY) is None
    assert owner.told == []


async def test_probe_after_the_cooldown_keeps_it_open_while_down_and_closes_it_when_up() -> None:
    owner, gateway = _Owner(), _Gateway()
    breaker = _breaker(owner, gateway, failures=1)
    await breaker.record(GATEWAY, _run(unreachable=True))

    await gateway.probed.wait()  # the cool-down passed, the gateway is still down
    assert breaker.is_open(GATEWAY)
    gateway.up = True
    await asyncio.wait_for(breaker.wait_closed(GATEWAY), 5)

    assert breaker.refusal(GATEWAY) is None
    assert [title for title, _ in owner.told] == [
        "Broker gateway 127.0.0.1:4002 unreachable: runs stopped",
        "Broker gateway 127.0.0.1:4002 reachable again: runs resume",
    ]
    await breaker.close()


async def test_a_run_that_reaches_the_gateway_closes_an_open_breaker() -> None:
    owner, gateway = _Owner(), _Gateway()
    breaker = _breaker(owner, gateway, failures=1, cooldown_secs=60)
    await breaker.record(GATEWAY, _run(unreachable=True))

    await breaker.record(GATEWAY, _run(unreachable=False))

    assert not breaker.is_open(GATEWAY)
    assert len(owner.told) == 2
    await breaker.close()


@pytest.mark.parametrize("failures", [0, 101])
def test_settings_bound_the_failure_count(failures: int) -> None:
    env = {"ALLOCATIONS_API_URL": "file:///tmp", "GATEWAY_BREAKER_FAILURES": str(failures)}
    with pytest.raises(InvalidInputError, match="GATEWAY_BREAKER_FAILURES"):
        load_settings(env_file=None, environ=env)
