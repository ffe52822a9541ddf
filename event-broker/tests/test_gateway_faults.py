"""The gateway misbehaving under the real stack (daemon or CLI, workers with real ``ib_async``,
the simulator's faults): refused connections, a cancel that loses the race to its fill; and
the position check noticing a change made outside the daemon. (A restart in the middle of a
run: ``test_crash_recovery``; pacing: ``test_gateway_pacing_daemon``.)

The demo scenario's ``DUM959247`` (strategy etf-blend-301-20) only buys: SPY, QQQ, TLT, GLD,
DBC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(180)

Stack = Any  # conftest.Stack (test modules cannot import conftest under importlib mode)
DaemonFactory = Callable[..., Awaitable[Any]]
ACCOUNT = "DUM959247"
STRATEGY = "etf-blend-301-20"
FINAL = ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")


async def _signal(stack: Stack, daemon: Any, number: int = 1) -> None:
    await stack.ably.publish(STRATEGY, {"exec": "rebalance"}, id=f"signal-{number}:0")
    await daemon.wait_for_count(f"Event signal-{number}:0 on {STRATEGY} done", 1, timeout_secs=120)


def _run_statuses(stack: Stack) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = stack.journal_rows(
        "SELECT status, error, result_json FROM runs WHERE account_id = 'DUM959247'"
    )
    return rows


def _assert_bought_once_and_journal_resolved(stack: Stack) -> None:
    orders = [o for o in stack.sim.orders() if o.account == ACCOUNT]
    assert orders
    assert {o.action for o in orders} == {"BUY"}
    # Every buy of the plan went out once in shares: what the account holds is what the
    # plan's targets allow (a buy sent twice would exceed its target weight).
    value = Decimal(stack.sim.snapshot()["accounts"][ACCOUNT]["net_liquidation"])
    weights = {"SPY": "0.4", "QQQ": "0.2", "TLT": "0.2", "GLD": "0.1", "DBC": "0.1"}
    held = stack.sim.positions(ACCOUNT)
    for symbol, weight in weights.items():
        price = Decimal(stack.sim.snapshot()["symbols"][symbol]["ask"])
        assert held[symbol] * price <= Decimal(weight) * value + price, (symbol, held)
    marks = ", ".join(f"'{s}'" for s in FINAL)
    unresolved = stack.journal_rows(
        f"SELECT symbol, status FROM orders WHERE status IS NULL OR status NOT IN ({marks})"
    )
    assert unresolved == []


async def test_gateway_refusing_connections_at_the_signal_is_waited_for_then_run_once(
    stack: Stack, daemon: DaemonFactory
) -> None:
    running = await daemon(gateway_retry_secs="60")
    # Longer than the connector's own connect retries (1 + 2 + 4 s): the run waits on.
    stack.sim.restart(refuse_secs=10)  # the gateway restarts just as the signal comes

    await _signal(stack, running)

    [(status, error, _)] = _run_statuses(stack)
    assert (status, error) == ("succeeded", None)
    await running.wait_for_log("the broker cannot be reached")
    _assert_bought_once_and_journal_resolved(stack)


async def test_gateway_down_past_the_retry_budget_fails_the_run_saying_so(
    stack: Stack, daemon: DaemonFactory
) -> None:
    running = await daemon(gateway_retry_secs="2")
    stack.sim.restart(refuse_secs=60)

    await _signal(stack, running)

    [(status, error, _)] = _run_statuses(stack)
    assert status == "failed"
    assert "gave up waiting for the broker" in str(error)
    assert "GATEWAY_RETRY_SECS 2" in str(error)
    assert stack.sim.orders() == []


async def test_cancel_losing_the_race_to_its_fill_is_journalled_filled(stack: Stack) -> None:
    # Fills come after 3 s, the run cancels what has not filled after 1 s, and IB answers
    # the cancel with 10148 before the fill report (the ib_async trap).
    stack.sim.set_faults(fill_delay_secs=3, cancel_races_fill="error_first")
    stack.env["FILL_TIMEOUT_SECS"] = "1"

    out = await stack.cli("-account", ACCOUNT, "-exec", "rebalance")

    assert out.code == 0, out.stdout + out.stderr
    statuses = stack.journal_rows("SELECT DISTINCT status FROM orders")
    assert statuses == [("FILLED",)]
    assert {o.status for o in stack.sim.orders()} == {"Filled"}
    assert "ERROR ib_async" not in out.stderr  # the refused cancels are handled, not errors
    _assert_bought_once_and_journal_resolved(stack)


async def test_position_check_tells_once_of_a_change_made_outside_the_daemon(
    stack: Stack, daemon: DaemonFactory, receiver: Any
) -> None:
    running = await daemon(
        position_check_interval_secs="1",
        position_check_any_time="true",
        notification_urls=receiver.url().get_secret_value(),
    )
    await running.wait_for_count(f"Reconciled {ACCOUNT}", 1)  # the first check: a baseline
    stack.sim.account(ACCOUNT).positions["SPY"].quantity += Decimal(5)  # shares moved in

    await running.wait_for_count(f"Reconciled {ACCOUNT}", 4)

    told = [b for b in receiver.bodies if "changed outside the daemon" in b["title"]]
    assert len(told) == 1, receiver.bodies
    assert "SPY: 55.0 held, 50.0 expected (+5.0)" in told[0]["message"]
    assert "nothing was traded" in told[0]["message"]
    assert stack.sim.orders() == []
    checks = stack.journal_rows(
        f"SELECT notified FROM position_checks WHERE account_id = '{ACCOUNT}' ORDER BY id"
    )
    assert [n for (n,) in checks[:4]] == [0, 1, 0, 0]
