"""Waiting for an unreachable broker: the deadline (``GATEWAY_RETRY_SECS``, never past the
regular close) and the retries within it. The daemon-level behaviour against the simulator
refusing connections is in ``tests/test_gateway_faults.py``; here the connect is a stand-in
that refuses a given number of times, since only the waiting is under test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from app.runs.market_hours import in_regular_hours, retry_deadline
from app.trading.gateway_wait import RetryBudget, connect_within
from broker_connector_base import BrokerClient, BrokerConnectionError
from broker_connector_base.types import NEW_YORK


class RefusingBroker:
    """``connect`` refuses ``refusals`` times, then succeeds; counts the attempts."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.attempts = 0

    async def connect(self) -> None:
        self.attempts += 1
        if self.attempts <= self.refusals:
            raise BrokerConnectionError("connection refused (gateway restarting)")


def _broker(refusals: int) -> tuple[RefusingBroker, BrokerClient]:
    broker = RefusingBroker(refusals)
    return broker, cast("BrokerClient", cast("Any", broker))


def _new_york(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("now", "wait_secs", "until"),
    [
        ("2026-12-02T10:00:00", 600, "2026-12-02T10:10:00"),  # a Wednesday morning
        ("2026-12-02T15:55:00", 600, "2026-12-02T16:00:00"),  # the close comes first
        ("2026-12-02T17:00:00", 60, "2026-12-02T17:01:00"),  # after the close: next close
        ("2026-12-05T12:00:00", 86400 * 3, "2026-12-07T16:00:00"),  # Saturday: Monday's
    ],
)
def test_retry_deadline_is_the_wait_or_the_next_regular_close_whichever_first(
    now: str, wait_secs: float, until: str
) -> None:
    assert retry_deadline(_new_york(now), wait_secs) == _new_york(until)


def test_retry_deadline_of_a_naive_time_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="2026-12-02T10:00:00 has no time zone"):
        retry_deadline(datetime(2026, 12, 2, 10), 600)


def test_regular_hours_are_weekdays_from_0930_to_1600_new_york() -> None:
    assert in_regular_hours(_new_york("2026-12-02T09:30:00"))
    assert not in_regular_hours(_new_york("2026-12-02T16:00:00"))
    assert not in_regular_hours(_new_york("2026-12-05T12:00:00"))  # Saturday
    assert in_regular_hours(datetime(2026, 12, 2, 15, 0, tzinfo=UTC))  # 10:00 New York


async def test_connect_within_waits_and_connects_once_the_broker_answers() -> None:
    broker, client = _broker(refusals=1)
    budget = RetryBudget(600)

    await connect_within(client, budget, "account DU1 run r1")

    assert broker.attempts == 2
    assert budget.waits == 1
    assert budget.spent_secs >= 1.0  # the first pause


async def test_connect_within_with_no_budget_tries_once_and_says_why_it_gave_up() -> None:
    broker, client = _broker(refusals=5)
    budget = RetryBudget(0)

    with pytest.raises(BrokerConnectionError, match=r"GATEWAY_RETRY_SECS 0\b") as raised:
        await connect_within(client, budget, "account DU1 run r1")

    assert broker.attempts == 1
    assert "connection refused (gateway restarting)" in str(raised.value)


async def test_connect_within_charges_the_budget_across_calls_of_one_run() -> None:
    broker, client = _broker(refusals=100)
    budget = RetryBudget(1.5)

    with pytest.raises(BrokerConnectionError, match="gave up waiting for the broker"):
        await connect_within(client, budget, "account DU1 run r1")
    # Pauses of 1 s then the 0.5 s left: three tries, and nothing left for a later wait.
    assert broker.attempts == 3
    attempts = broker.attempts
    with pytest.raises(BrokerConnectionError):
        await connect_within(client, budget, "account DU1 run r1")
    assert broker.attempts == attempts + 1
