"""Risk limits and the kill switch through the operator's path, on the real stack.

``tools/rebalance.sh`` as a process, worker processes with the real ``ib_async`` against the
IB Gateway simulator, the journal in a temp ``DATA_DIR``, notifications through Apprise to a
real receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from app.store.files import JOURNAL_FILE
from app.store.halt import HALT_FILE
from app.store.journal import Journal
from app.store.status import DaemonStatus, write_status
from broker_connector_base import Trade

pytestmark = pytest.mark.timeout(180)

Stack = Any  # conftest.Stack (test modules cannot import conftest under importlib mode)
Receiver = Any  # conftest.Receiver

REPO = Path(__file__).resolve().parents[2]


def _accounts_with_limits(stack: Stack, tmp_path: Path, limits: str) -> None:
    """The repository's accounts, DUM959247 with ``risk_limits`` (YAML flow mapping)."""
    text = (REPO / "accounts.yaml").read_text(encoding="utf-8")
    marker = "    strategy_name: etf-blend-301-20\n"
    path = tmp_path / "accounts.yaml"
    path.write_text(text.replace(marker, f"{marker}    risk_limits: {limits}\n", 1))
    stack.env["ACCOUNTS_FILE"] = str(path)


def _notify_to(stack: Stack, receiver: Receiver) -> None:
    stack.env["NOTIFICATION_URLS"] = receiver.url().get_secret_value()


async def test_risk_limit_refuses_the_whole_plan_before_any_order_preview_says_the_same(
    stack: Stack, tmp_path: Path, receiver: Receiver
) -> None:
    # etf-blend-301-20 puts 40 % in SPY; the owner allows at most 30 % in one symbol.
    _accounts_with_limits(stack, tmp_path, "{max_symbol_weight_percent: 30}")
    _notify_to(stack, receiver)

    preview = await stack.cli("-account", "DUM959247")
    done = await stack.cli("-account", "DUM959247", "-exec", "rebalance")

    assert stack.sim.orders() == []
    message = "max_symbol_weight_percent: target weight of SPY 39.60% is above the limit 30.00%"
    assert preview.code == 1
    assert message in preview.stdout
    assert done.code == 1
    assert message in done.stdout
    rows = stack.journal_rows("SELECT mode, status, error FROM runs ORDER BY started_at")
    assert [(mode, status) for mode, status, _ in rows] == [
        ("print-rebalance", "refused"),
        ("rebalance", "refused"),
    ]
    assert all(message in str(error) for _, _, error in rows)
    assert stack.journal_rows("SELECT count(*) FROM orders") == [(0,)]
    skipped = [b for b in receiver.bodies if b["title"] == "Rebalance skipped: DUM959247"]
    assert len(skipped) == 1
    assert message in skipped[0]["message"]


async def test_orders_per_day_counts_earlier_orders_in_the_journal(
    stack: Stack, tmp_path: Path
) -> None:
    _accounts_with_limits(stack, tmp_path, "{max_orders_per_day: 6}")
    alone = await stack.cli("-account", "DUM959247")
    assert alone.code == 0, alone.stdout  # the run needs 5 orders: within 6 on its own
    _journal_earlier_orders(stack.data_dir, "DUM959247", count=2)

    done = await stack.cli("-account", "DUM959247", "-exec", "rebalance")

    assert done.code == 1, done.stdout + done.stderr
    assert "the account would place 7 orders today (2 before this run), above the limit 6" in (
        done.stdout
    )
    assert stack.sim.orders() == []


def _journal_earlier_orders(data_dir: Path, account: str, *, count: int) -> None:
    """Orders of an earlier run today, as a worker journals them."""
    with Journal(data_dir / JOURNAL_FILE) as journal:
        journal.start_run(run_id="earlier", account_id=account, mode="rebalance", client_id=1)
        for number in range(count):
            journal.record_order(
                run_id="earlier",
                trade=Trade(
                    symbol="SPY",
                    quantity=1 + number,
                    current_shares=Decimal(0),
                    target_value=Decimal(0),
                    current_value=Decimal(0),
                    price=Decimal("589.14"),
                    order_id=str(100 + number),
                ),
            )


async def test_halt_refuses_every_rebalance_until_resume_journalled_notified_and_checked(
    stack: Stack, receiver: Receiver
) -> None:
    _notify_to(stack, receiver)

    halted = await stack.cli("-halt", "allocations API served garbage")
    refused = await stack.cli("-account", "DUM959247", "-exec", "rebalance")
    preview = await stack.cli("-account", "DUM959247")
    check = await _check(stack)

    assert halted.code == 0, halted.stderr
    assert "TRADING HALTED since " in halted.stdout
    assert json.loads((stack.data_dir / HALT_FILE).read_text())["reason"] == (
        "allocations API served garbage"
    )
    assert refused.code == 1
    assert "TRADING HALTED since" in refused.stdout
    assert stack.sim.orders() == []
    assert preview.code == 0  # a preview places nothing and still shows the plan
    assert check.returncode == 0
    assert "TRADING HALTED since" in check.stdout
    assert ": allocations API served garbage" in check.stdout
    titles = [b["title"] for b in receiver.bodies]
    assert titles[:3] == [
        "Trading HALTED",
        "[HALTED] Rebalance skipped: DUM959247",
        "[HALTED] Preview finished: DUM959247 (5 proposed trade(s))",
    ]
    assert all(b["message"].startswith("TRADING HALTED since") for b in receiver.bodies)

    resumed = await stack.cli("-resume")
    done = await stack.cli("-account", "DUM959247", "-exec", "rebalance")

    assert resumed.code == 0
    assert resumed.stdout.startswith("Trading resumed (was TRADING HALTED since")
    assert done.code == 0, done.stdout
    assert stack.sim.orders() != []
    assert receiver.bodies[3]["title"] == "Trading resumed"
    assert receiver.bodies[-1]["title"].startswith("Rebalance finished: DUM959247")
    control = stack.journal_rows(
        "SELECT payload, outcome FROM events WHERE channel = 'control' ORDER BY id"
    )
    assert [json.loads(str(p))["action"] for p, _ in control] == ["halt", "resume"]
    assert control[0][1] == "trading halted: allocations API served garbage"
    assert str(control[1][1]).startswith("trading resumed (halted TRADING HALTED since")


async def test_halt_during_a_run_cancels_its_working_orders_nothing_fills(
    stack: Stack,
) -> None:
    stack.sim.set_faults(fill_delay_secs=60)  # orders rest, working, long after the halt
    run = asyncio.create_task(stack.cli("-account", "DUM959247", "-exec", "rebalance"))
    await stack.sim.wait_for_orders(1, timeout_secs=60)

    halted = await stack.cli("-halt", "flash crash")
    done = await run

    assert halted.code == 0
    assert done.code == 1
    assert "trading halted (flash crash)" in done.stdout
    orders = stack.sim.orders()
    assert orders
    assert [(o.status, o.filled) for o in orders] == [("Cancelled", 0) for _ in orders]
    statuses = stack.journal_rows("SELECT status FROM orders WHERE order_id IS NOT NULL")
    assert statuses
    assert {s for (s,) in statuses} == {"CANCELLED"}
    assert stack.journal_rows("SELECT status FROM runs") == [("refused",)]


async def test_halt_outlives_a_daemon_restart_and_refuses_every_signal_until_resumed(
    stack: Stack, daemon: Any
) -> None:
    halted = await stack.cli("-halt", "allocations API served garbage")
    assert halted.code == 0, halted.stderr
    first = await daemon()
    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="halted:0")
    await first.wait_for_log("Event halted:0 on etf-blend-301-20 done")
    assert await first.stop() == 0

    second = await daemon()  # a new process: only the file in DATA_DIR remembers the halt
    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="halted:1")
    await second.wait_for_log("Event halted:1 on etf-blend-301-20 done")
    check = await _check_live(stack, second.env)

    assert stack.sim.orders() == []
    refused = stack.journal_rows("SELECT account_id, status, error FROM runs")
    assert [(account, status) for account, status, _ in refused] == [
        ("DUM959247", "refused"),
        ("DUM959247", "refused"),
    ]
    assert all("TRADING HALTED since" in str(error) for _, _, error in refused)
    assert ": allocations API served garbage" in check.stdout

    resumed = await stack.cli("-resume")
    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="resumed:0")
    await second.wait_for_log("Event resumed:0 on etf-blend-301-20 done")

    assert resumed.code == 0
    assert {o.account for o in stack.sim.orders()} == {"DUM959247"}
    last = stack.journal_rows("SELECT status FROM runs ORDER BY started_at DESC LIMIT 1")
    assert last == [("succeeded",)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-halt", "  "), "-halt needs a reason"),
        (("-halt",), "argument -halt/--halt: expected one argument"),
        (("-halt", "x", "-resume"), "-halt is a command of its own; not with -resume"),
        (("-resume", "-exec", "rebalance"), "-resume is a command of its own; not with -exec"),
        (("-halt", "x", "-account", "DU1"), "-halt is a command of its own; not with -account"),
        (("-halt", "x", "-halt", "y"), "argument -halt: given more than once"),
        (("-hal", "x"), "unrecognized arguments: -hal (flags are never abbreviated)"),
    ],
)
async def test_halt_and_resume_bad_arguments_exit_2_naming_them(
    stack: Stack, args: tuple[str, ...], message: str
) -> None:
    out = await stack.cli(*args)

    assert out.code == 2
    assert message in out.stderr
    assert not (stack.data_dir / HALT_FILE).exists()


async def test_unreadable_halt_file_still_halts(stack: Stack) -> None:
    stack.data_dir.mkdir(parents=True, exist_ok=True)
    (stack.data_dir / HALT_FILE).write_text("{not json")

    refused = await stack.cli("-account", "DUM959247", "-exec", "rebalance")

    assert refused.code == 1
    assert "is not a halt record" in refused.stdout
    assert stack.sim.orders() == []


async def _check(stack: Stack) -> Any:
    """``python -m app.main --check`` with a fresh status file of a live process."""
    write_status(
        stack.data_dir,
        DaemonStatus(
            pid=os.getpid(), updated_at=time.time(), started_at=time.time(), ably="disabled"
        ),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.main",
        "--check",
        env=stack.env,
        cwd=stack.workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return SimpleNamespace(returncode=process.returncode, stdout=out.decode() + err.decode())


async def test_daemon_with_one_bad_accounts_entry_serves_the_others_and_says_so_loudly(
    stack: Stack, daemon: Any, tmp_path: Path, receiver: Receiver
) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        "  - {account_id: DUM959247, type: paper, strategy_name: etf-blend-301-20}\n"
        "  - {account_id: DU789012, type: paper, strategy_name: etf-blend-100-20,"
        " cash_reserve_percent: '2'}\n",
        encoding="utf-8",
    )
    running = await daemon(
        accounts_file=str(accounts), notification_urls=receiver.url().get_secret_value()
    )
    critical = await running.wait_for_log("accounts[1] (account DU789012) is not served")
    check = await _check_live(stack, running.env)

    await stack.ably.publish("etf-blend-100-20", {"exec": "rebalance"}, id="broken:0")
    await running.wait_for_log("refused for 1 not served (fix accounts.yaml)")
    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="served:0")
    await running.wait_for_log("Event served:0 on etf-blend-301-20 done")

    assert "CRITICAL" in critical
    assert "cash_reserve_percent: '2' is text, not a number" in "\n".join(running.log)
    assert check.returncode == 0
    assert "NOT SERVED (fix accounts.yaml): accounts[1] (account DU789012)" in check.stdout
    assert {o.account for o in stack.sim.orders()} == {"DUM959247"}
    runs = dict(stack.journal_rows("SELECT account_id, status FROM runs"))
    assert runs == {"DU789012": "refused", "DUM959247": "succeeded"}
    titles = [b["title"] for b in receiver.bodies]
    assert "1 account(s) in accounts.yaml not served until fixed" in titles
    assert "Rebalance skipped: DU789012" in titles


async def _check_live(stack: Stack, env: dict[str, str]) -> Any:
    """``--check`` against the running daemon's own status file."""
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
    return SimpleNamespace(returncode=process.returncode, stdout=out.decode() + err.decode())


async def test_rebalance_sh_without_arguments_exits_2_with_usage_on_stderr(stack: Stack) -> None:
    out = await stack.cli()

    assert out.code == 2
    assert out.stdout == ""
    assert "tools/rebalance.sh -account DUM959247" in out.stderr
