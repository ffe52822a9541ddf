"""One daemon trading IB and Alpaca accounts side by side, on the real stack.

The IB Gateway simulator with real ``ib_async``, the Alpaca stand-in with real alpaca-py, the
real ``ably`` SDK against the fake realtime server, the daemon and ``tools/rebalance.sh`` as
processes, the journal in a temp ``DATA_DIR`` (see ``conftest.stack``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

Stack = Any  # conftest.Stack (test modules cannot import conftest under importlib mode)
DaemonFactory = Callable[..., Awaitable[Any]]
IB_ACCOUNT, ALPACA_ACCOUNT = "DUM959247", "PA3DEMO00001"


async def test_signal_on_a_strategy_rebalances_its_ib_and_alpaca_accounts(
    stack: Stack, daemon: DaemonFactory, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        f"  - {{account_id: {IB_ACCOUNT}, type: paper, strategy_name: etf-blend-301-20}}\n"
        f"  - {{account_id: {ALPACA_ACCOUNT}, type: paper, strategy_name: etf-blend-301-20,"
        " broker: alpaca}\n",
        encoding="utf-8",
    )
    running = await daemon(accounts_file=str(accounts))

    await stack.ably.publish("etf-blend-301-20", {"exec": "rebalance"}, id="both-brokers:0")
    await running.wait_for_log("ran 2 accounts")
    await running.stop()

    runs = dict(stack.journal_rows("SELECT account_id, run_id FROM runs"))
    assert stack.journal_rows("SELECT channel, outcome FROM events") == [
        ("etf-blend-301-20", "ran 2 accounts: succeeded")
    ]
    assert sorted(stack.journal_rows("SELECT account_id, status FROM runs")) == [
        (IB_ACCOUNT, "succeeded"),
        (ALPACA_ACCOUNT, "succeeded"),
    ]
    ib_orders = stack.sim.orders()
    assert {o.account for o in ib_orders} == {IB_ACCOUNT}
    assert {o.symbol for o in ib_orders} == {"SPY", "QQQ", "TLT", "GLD", "DBC"}
    assert {o.order_ref for o in ib_orders} == {runs[IB_ACCOUNT]}
    alpaca_orders = stack.alpaca.orders()
    assert {o.account for o in alpaca_orders} == {ALPACA_ACCOUNT}
    assert {o.status for o in alpaca_orders} == {"filled"}
    assert {o.symbol for o in alpaca_orders} >= {"QQQ", "GLD", "DBC"}  # it held none of them
    assert all(o.client_order_id.startswith(f"{runs[ALPACA_ACCOUNT]}-rb") for o in alpaca_orders)
    for o in alpaca_orders:
        bought = stack.alpaca.positions(ALPACA_ACCOUNT)[o.symbol]
        assert bought >= o.filled_qty > 0
    journalled = stack.journal_rows("SELECT run_id, order_id FROM orders")
    assert {o for run, o in journalled if run == runs[ALPACA_ACCOUNT]} == {
        o.id for o in alpaca_orders
    }
    assert {o for run, o in journalled if run == runs[IB_ACCOUNT]} == {
        str(o.order_id) for o in ib_orders
    }
    # One fork server per broker, each with its own connector only.
    assert any("Fork server pid" in line and "(alpaca) ready" in line for line in running.log)
    assert any("Fork server pid" in line and "(ibkr) ready" in line for line in running.log)
    key_id, secret = stack.alpaca.credentials(ALPACA_ACCOUNT)
    assert not [line for line in running.log if secret in line or key_id in line]


async def test_rebalance_sh_previews_then_rebalances_the_alpaca_account(stack: Stack) -> None:
    preview = await stack.cli("-account", ALPACA_ACCOUNT)
    orders_after_preview = list(stack.alpaca.orders())
    executed = await stack.cli("-account", ALPACA_ACCOUNT, "-exec", "rebalance")
    again = await stack.cli("-account", ALPACA_ACCOUNT)

    assert preview.code == 0, preview.stdout + preview.stderr
    assert re.search(rf"^{ALPACA_ACCOUNT} +BUY +GLD +\d+ ", preview.stdout, re.MULTILINE)
    assert orders_after_preview == []
    assert executed.code == 0, executed.stdout + executed.stderr
    placed = stack.alpaca.orders(ALPACA_ACCOUNT)
    assert placed
    assert {o.status for o in placed} == {"filled"}
    assert f"{len(placed)} orders placed, {len(placed)} filled" in executed.stdout
    for order in placed:
        row = re.search(
            rf"^{ALPACA_ACCOUNT} +{order.side.upper()} +{order.symbol} +{order.qty} .* "
            rf"{order.id} +FILLED +{order.filled_qty} ",
            executed.stdout,
            re.MULTILINE,
        )
        assert row is not None, executed.stdout
    assert again.code == 0
    assert "no trades needed, the portfolio is on target" in again.stdout
    assert len(stack.alpaca.orders()) == len(placed)
    key_id, secret = stack.alpaca.credentials(ALPACA_ACCOUNT)
    for output in (preview, executed, again):
        assert secret not in output.stdout + output.stderr
        assert key_id not in output.stdout + output.stderr
