"""The seed's integration checklist (Task 3.3) on the real stack, plus failure scenarios.

Real parts only: the IB Gateway simulator with the unmodified ``ib_async`` client in each
worker process, the real ``ably`` SDK against the fake realtime server, the daemon and
``tools/rebalance.sh`` as processes, journal/PDT/lock files in a temp ``DATA_DIR``.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

Stack = Any  # conftest.Stack (test modules cannot import conftest under importlib mode)
DaemonFactory = Callable[..., Awaitable[Any]]
ABLY_KEY = "fakeapp.fakekey:not-a-real-secret"  # the key the conftest's fake accepts


def _orders_of(stack: Stack, account: str) -> list[Any]:
    return [o for o in stack.sim.orders() if o.account == account]


async def _health_check(stack: Stack, env: dict[str, str]) -> Any:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.main",
        "--check",
        env=env,
        cwd=stack.workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return SimpleNamespace(code=process.returncode, stdout=out.decode() + err.decode())


# -- Test 1: preview ---------------------------------------------------------------------------


async def test_preview_of_paper_account_prints_trades_and_places_nothing(stack: Stack) -> None:
    out = await stack.cli("-account", "DUM959247")

    assert out.code == 0, out.stderr
    assert re.search(r"^DUM959247 +BUY +SPY +\d+ ", out.stdout, re.MULTILINE)
    assert re.search(r"DUM959247 preview \(run \S+\) succeeded: \d+ trades proposed", out.stdout)
    assert stack.sim.orders() == []


# -- Test 2: execute ---------------------------------------------------------------------------


async def test_execute_places_orders_tagged_with_run_id_and_updates_positions(
    stack: Stack,
) -> None:
    out = await stack.cli("-account", "DUM959247", "-exec", "rebalance")

    assert out.code == 0, out.stdout + out.stderr
    orders = _orders_of(stack, "DUM959247")
    assert {o.symbol for o in orders} == {"SPY", "QQQ", "TLT", "GLD", "DBC"}
    assert all(o.status == "Filled" for o in orders)
    (run_id,) = stack.journal_rows("SELECT run_id FROM runs WHERE status = 'succeeded'")
    assert {o.order_ref for o in orders} == {run_id[0]}
    bought = {o.symbol: o.filled for o in orders}
    assert stack.sim.positions("DUM959247")["QQQ"] == bought["QQQ"] > 0
    qqq = next(o for o in orders if o.symbol == "QQQ")
    row = re.search(
        rf"^DUM959247 +BUY +QQQ +\d+ .* {qqq.order_id} +FILLED +(\d+) +(\S+)$",
        out.stdout,
        re.MULTILINE,
    )
    assert row is not None, out.stdout
    assert (int(row[1]), row[2]) == (qqq.filled, f"{qqq.avg_fill_price:,.2f}")
    assert f"{len(orders)} orders placed, {len(orders)} filled" in out.stdout
    # The worker reports each order when acknowledged and when its wait ends: a line per
    # status it had then (WORKING, FILLED or just FILLED, as the fills race the ack), never the
    # same status twice.
    status_lines = re.findall(
        r"app\.worker\.run: Order (\d+) \S+ \S+ x\d+ status (\w+)", out.stderr
    )
    assert len(status_lines) == len(set(status_lines)), out.stderr
    assert {(str(o.order_id), "FILLED") for o in orders} <= set(status_lines), out.stderr


# -- Test 3: Ably event ------------------------------------------------------------------------


async def test_ably_event_rebalances_every_account_of_the_strategy(
    stack: Stack, daemon: DaemonFactory, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        "  - {account_id: DUM959247, type: paper, strategy_name: etf-blend-301-20}\n"
        "  - {account_id: DU789012, type: paper, strategy_name: etf-blend-301-20}\n"
        "  - {account_id: DU000001, type: paper, strategy_name: other, enabled: false}\n",
        encoding="utf-8",
    )
    running = await daemon(accounts_file=str(accounts))
    healthy = await _health_check(stack, running.env)

    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="signal-1:0")
    await running.wait_for_log("ran 2 accounts")

    assert {o.account for o in stack.sim.orders()} == {"DUM959247", "DU789012"}
    assert stack.journal_rows("SELECT channel, outcome FROM events") == [
        ("etf-blend-301-20", "ran 2 accounts: succeeded")
    ]
    assert sorted(stack.journal_rows("SELECT account_id, status FROM runs")) == [
        ("DU789012", "succeeded"),
        ("DUM959247", "succeeded"),
    ]
    assert healthy.code == 0, healthy.stdout
    assert "realtime connected" in healthy.stdout
    assert await running.stop() == 0
    assert (await _health_check(stack, running.env)).code == 1


# -- Test 4: PDT -------------------------------------------------------------------------------


async def test_second_rebalance_of_pdt_account_same_day_is_refused(stack: Stack) -> None:
    first = await stack.cli("-account", "DU789012", "-exec", "rebalance")
    orders_after_first = len(stack.sim.orders())
    second = await stack.cli("-account", "DU789012", "-exec", "rebalance")

    assert first.code == 0, first.stdout + first.stderr
    assert second.code == 1
    assert "PDT Protection: Account DU789012 was already rebalanced earlier today" in second.stdout
    assert "You can manually rebalance after" in second.stdout
    assert len(stack.sim.orders()) == orders_after_first
    assert stack.journal_rows("SELECT channel, outcome FROM events ORDER BY id") == [
        ("manual", "ran 1 accounts: succeeded"),
        ("manual", "ran 1 accounts: 1 of 1 failed"),
    ]


# -- Test 5: invalid account -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "message"),
    [("INVALID123", "account 'INVALID123' is not configured"), ("U1234567", "is disabled")],
)
async def test_unknown_or_disabled_account_exits_2_with_clear_message(
    stack: Stack, account: str, message: str
) -> None:
    out = await stack.cli("-account", account)

    assert out.code == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert stack.sim.orders() == []


# -- Test 6: price cache -----------------------------------------------------------------------


async def test_second_preview_uses_cached_prices(stack: Stack) -> None:
    first = await stack.cli("-account", "DUM959247")
    second = await stack.cli("-account", "DUM959247")

    assert first.code == 0
    assert second.code == 0
    assert "Using cached price" not in first.stderr  # asked the gateway for every quote
    assert "Using cached price for SPY" in second.stderr  # the price cache in DATA_DIR


# -- Test 7: parallel strategies ---------------------------------------------------------------


async def test_two_accounts_of_different_strategies_run_in_parallel_with_distinct_client_ids(
    stack: Stack,
) -> None:
    # Fills take a while, so each run lasts long enough for the two to overlap even when one
    # process starts late on a loaded machine.
    stack.sim.set_faults(fill_delay_secs=1.5)
    first, second = await asyncio.gather(
        stack.cli("-account", "DUM959247", "-exec", "rebalance"),
        stack.cli("-account", "DU789012", "-exec", "rebalance"),
    )

    assert first.code == 0, first.stdout + first.stderr
    assert second.code == 0, second.stdout + second.stderr
    client_ids = {o.account: {o.client_id} for o in stack.sim.orders()}
    assert client_ids == {"DUM959247": {959247}, "DU789012": {789012}}
    spans = stack.journal_rows("SELECT started_at, finished_at FROM runs ORDER BY started_at")
    assert len(spans) == 2
    assert str(spans[1][0]) < str(spans[0][1]), "the runs did not overlap"


# -- Extras ------------------------------------------------------------------------------------


async def test_duplicate_ably_message_runs_once(stack: Stack, daemon: DaemonFactory) -> None:
    running = await daemon()

    await stack.ably.publish("etf-blend-301-20", {"exec": "print-rebalance"}, id="dup:0")
    await running.wait_for_log("ran 1 accounts")
    await stack.ably.publish("etf-blend-301-20", {"exec": "print-rebalance"}, id="dup:0")
    await stack.ably.publish("etf-blend-301-20", {"exec": "print-rebalance"}, id="after:0")
    await running.wait_for_log("Event after:0")
    stopping = time.monotonic()
    await running.stop()
    stop_secs = time.monotonic() - stopping

    assert stack.journal_rows("SELECT event_id FROM events ORDER BY id") == [
        ("dup:0",),
        ("after:0",),
    ]
    assert stack.journal_rows("SELECT count(*) FROM runs") == [(2,)]
    assert stop_secs < 5, f"an idle daemon took {stop_secs:.1f} s to stop"


async def test_malformed_events_are_journalled_with_reason_and_trade_nothing(
    stack: Stack, daemon: DaemonFactory
) -> None:
    running = await daemon()

    await stack.ably.publish("etf-blend-301-20", "{not json", id="bad:0")
    await stack.ably.publish("etf-blend-301-20", {"exec": "sell-everything"}, id="bad:1")
    await stack.ably.publish("etf-blend-301-20", {"times_queued": 3}, id="bad:2")
    await running.wait_for_log("bad:2")
    await running.stop()

    outcomes = dict(stack.journal_rows("SELECT event_id, outcome FROM events"))
    assert "not valid JSON" in str(outcomes["bad:0"])
    assert outcomes["bad:1"] == "ignored: unknown exec 'sell-everything'"
    assert "malformed" in str(outcomes["bad:2"])
    assert "exec" in str(outcomes["bad:2"])
    assert stack.journal_rows("SELECT count(*) FROM runs") == [(0,)]
    assert stack.sim.orders() == []


async def test_invalid_accounts_file_stops_daemon_and_cli_with_clear_error(
    stack: Stack, daemon: DaemonFactory, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-accounts.yaml"
    broken.write_text(
        "accounts:\n  - {account_id: DUM959247, type: paper, strategy_name: s,"
        " cash_reserve_percent: 150}\n",
        encoding="utf-8",
    )
    running = await daemon(ably=False, accounts_file=str(broken))
    code = await running.wait_exit()
    stack.env["ACCOUNTS_FILE"] = str(broken)
    out = await stack.cli("-all")

    assert code == 2
    assert any("cash_reserve_percent" in line for line in running.log)
    assert out.code == 2
    assert "cash_reserve_percent" in out.stderr
    assert str(broken) in out.stderr
    assert stack.sim.orders() == []


async def test_daemon_without_realtime_key_runs_for_manual_triggers_only(
    stack: Stack, daemon: DaemonFactory
) -> None:
    running = await daemon(ably=False)

    line = await running.wait_for_log("REALTIME_API_KEY is not set")

    assert "manual triggers only" in line
    assert await running.stop(signal.SIGINT) == 0


async def test_daemon_killed_mid_run_is_reported_at_restart_and_next_signal_converges(
    stack: Stack, daemon: DaemonFactory
) -> None:
    start_positions = dict(stack.sim.positions("DUM959247"))
    stack.sim.set_faults(fill_delay_secs=600)  # orders stay working until the kill
    first = await daemon()
    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="before-kill:0")
    await stack.sim.wait_for_orders(5, timeout_secs=30)  # the demo plan buys 5 symbols

    assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    # The worker loses its lifeline (stdin) and exits: no orphan keeps trading.
    await stack.sim.wait_for(lambda: not stack.sim.client_ids(), timeout_secs=15)
    first_run = list(stack.sim.orders())
    plan = {o.symbol: o.quantity for o in first_run}
    stack.sim.set_faults(fill_delay_secs=0)
    second = await daemon()
    report = await second.wait_for_log("Unfinished run found at start-up")
    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="after-restart:0")
    await second.wait_for_log("Event after-restart:0 on etf-blend-301-20 done")
    await second.stop()

    assert f"{len(first_run)} orders were recorded" in report
    runs = stack.journal_rows("SELECT status FROM runs ORDER BY started_at")
    assert runs == [("abandoned",), ("succeeded",)]
    orders = _orders_of(stack, "DUM959247")
    assert all(o.status == "Cancelled" for o in first_run)
    filled: dict[str, Decimal] = {}
    for order in orders:
        filled[order.symbol] = filled.get(order.symbol, Decimal(0)) + order.filled
    assert filled == plan  # the same plan again from the same positions: nothing twice
    final = stack.sim.positions("DUM959247")
    for symbol, quantity in plan.items():
        assert final[symbol] == start_positions.get(symbol, Decimal(0)) + quantity


async def test_sigterm_waits_grace_then_terminates_running_account_without_orphans(
    stack: Stack, daemon: DaemonFactory
) -> None:
    stack.sim.set_faults(fill_delay_secs=600)
    running = await daemon(shutdown_grace_secs="1")
    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="at-shutdown:0")
    await stack.sim.wait_for_orders(1, timeout_secs=30)

    code = await running.stop(signal.SIGTERM)

    assert code == 0, "\n".join(running.log[-40:])
    await stack.sim.wait_for(lambda: not stack.sim.client_ids(), timeout_secs=10)
    assert stack.journal_rows("SELECT status, error FROM runs") == [
        ("failed", "run terminated at shutdown (SIGTERM/SIGINT)")
    ]
    assert any("Waiting up to 1 s for 1 account runs" in line for line in running.log)


async def test_daemon_logs_package_versions_and_never_the_realtime_secret(
    stack: Stack, daemon: DaemonFactory
) -> None:
    running = await daemon(log_level="DEBUG")
    await stack.ably.publish("etf-blend-301-20", {"exec": "print-rebalance"}, id="v:0")
    await running.wait_for_log("Event v:0 on etf-blend-301-20 done")
    await running.stop()

    versions = await running.wait_for_log("Event broker starting")
    assert "broker-connector-base 1.0.0" in versions
    assert "rebalance-calculator 1.0.0" in versions
    assert "ibkr-connector 1.0.0" in versions
    secret = ABLY_KEY.split(":")[1]
    assert not [line for line in running.log if secret in line]


async def test_rebalance_sh_uses_exec_prefix_from_rebalance_exec(stack: Stack) -> None:
    venv_bin = Path(sys.executable).parent
    stack.env["REBALANCE_EXEC"] = "env"
    stack.env["PATH"] = f"{venv_bin}:{stack.env.get('PATH', '')}"

    out = await stack.cli("-account", "INVALID123")

    assert out.code == 2
    assert "account 'INVALID123' is not configured" in out.stderr


async def test_daemon_exits_1_when_realtime_key_is_refused(
    stack: Stack, daemon: DaemonFactory
) -> None:
    running = await daemon(wait_connected=False, realtime_api_key="fakeapp.fakekey:wrong-secret")

    code = await running.wait_exit(timeout_secs=60)

    assert code == 1
    assert any("Realtime connection" in line and "exiting" in line for line in running.log)
    assert not [line for line in running.log if "wrong-secret" in line]


async def test_unusable_data_dir_gives_one_line_error_not_traceback(
    stack: Stack, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x", encoding="utf-8")
    stack.env["DATA_DIR"] = str(not_a_dir)

    out = await stack.cli("-account", "DUM959247")

    assert out.code == 2
    assert f"error: cannot use DATA_DIR {not_a_dir}" in out.stderr
    assert "Traceback" not in out.stderr
