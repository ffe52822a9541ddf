"""An account following two strategies, on the real stack: signals of either strategy reach
it, and two signals in quick succession trade once.

Real parts: the daemon as a process subscribed through the real ``ably`` SDK to the fake
realtime server, workers trading the IB Gateway simulator with ``ib_async``, the demo's
allocations (``file://``), the journal in a temp ``DATA_DIR``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

Stack = Any  # conftest.Stack (test modules cannot import conftest under importlib mode)
DaemonFactory = Callable[..., Awaitable[Any]]

GROWTH, BLEND = "etf-blend-301-20", "etf-blend-100-20"


def _two_strategy_accounts(folder: Path, *, pdt: bool) -> Path:
    path = folder / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        "  - account_id: DUM959247\n"
        "    type: paper\n"
        f"    pdt_protection_enabled: {str(pdt).lower()}\n"
        "    strategies:\n"
        f"      - {{name: {GROWTH}, weight: 0.6}}\n"
        f"      - {{name: {BLEND}, weight: 0.4}}\n",
        encoding="utf-8",
    )
    return path


async def _both_signals(stack: Stack, running: Any) -> list[tuple[Any, ...]]:
    """Publish a rebalance on each strategy's channel back to back; the runs, in lock order."""
    await stack.ably.publish(GROWTH, {"exec": "rebalance"}, id="growth-signal:0")
    await stack.ably.publish(BLEND, {"exec": "rebalance"}, id="blend-signal:0")
    await running.wait_for_log(f"Event growth-signal:0 on {GROWTH} done")
    await running.wait_for_log(f"Event blend-signal:0 on {BLEND} done")
    # Runs are journalled as started once they hold the account lock: this is lock order.
    rows: list[tuple[Any, ...]] = stack.journal_rows(
        "SELECT r.run_id, r.status, r.error, e.channel, r.result_json FROM runs r"
        " JOIN events e ON e.id = r.event_row ORDER BY r.started_at"
    )
    return rows


async def test_signal_on_either_strategy_channel_rebalances_the_two_strategy_account_once(
    stack: Stack, daemon: DaemonFactory, tmp_path: Path
) -> None:
    running = await daemon(accounts_file=str(_two_strategy_accounts(tmp_path, pdt=False)))

    runs = await _both_signals(stack, running)

    assert [(status, error) for _, status, error, _, _ in runs] == [
        ("succeeded", None),
        ("succeeded", None),
    ]
    assert {channel for *_, channel, _ in runs} == {GROWTH, BLEND}
    (first_id, *_, first_json), (second_id, *_, second_json) = runs
    orders = stack.sim.orders()
    # The first run traded to the blend of both strategies; the second, a moment later, found
    # the account on that blend and placed nothing.
    assert {o.symbol for o in orders} == {"SPY", "QQQ", "TLT", "GLD", "DBC"}
    assert {o.order_ref for o in orders} == {first_id}
    assert json.loads(second_json)["trades"] == []
    assert stack.journal_rows(f"SELECT count(*) FROM orders WHERE run_id = '{second_id}'") == [(0,)]
    # Each order row of the journal carries the strategies it is for.
    stored = dict(
        stack.journal_rows(f"SELECT symbol, attribution FROM orders WHERE run_id = '{first_id}'")
    )
    assert stored["QQQ"] == json.dumps({GROWTH: "1"}, separators=(",", ":"))
    assert set(json.loads(stored["SPY"])) == {GROWTH, BLEND}
    first_trades = json.loads(first_json)["trades"]
    shares = {t["symbol"]: t["attribution"]["shares"] for t in first_trades}
    assert shares["QQQ"] == {GROWTH: "1"}
    # SPY: 0.6 x 40 % for growth, 0.4 x 30 % for the blend: two thirds and one third.
    assert {k: Decimal(v).quantize(Decimal("0.000001")) for k, v in shares["SPY"].items()} == {
        GROWTH: Decimal("0.666667"),
        BLEND: Decimal("0.333333"),
    }


async def test_pdt_account_of_two_strategies_gets_one_rebalance_a_day_whichever_signals(
    stack: Stack, daemon: DaemonFactory, tmp_path: Path
) -> None:
    running = await daemon(accounts_file=str(_two_strategy_accounts(tmp_path, pdt=True)))

    runs = await _both_signals(stack, running)

    (first_id, first_status, _, _, _), (_, second_status, second_error, _, second_json) = runs
    assert (first_status, second_status) == ("succeeded", "refused")
    # PDT protection counts executed rebalances of the account, not of each strategy.
    assert second_error.startswith(
        "PDT Protection: Account DUM959247 was already rebalanced earlier today"
    )
    assert json.loads(second_json)["trades"] == []
    assert {o.order_ref for o in stack.sim.orders()} == {first_id}
