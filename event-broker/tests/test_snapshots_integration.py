"""Snapshots and the report on the real stack: workers against the IB Gateway simulator,
``tools/rebalance.sh`` as a process, the journal in a temp ``DATA_DIR``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from app.config.settings import load_app_config
from app.runtime import Runtime
from app.snapshots.schedule import DailySchedule, NyseCalendar
from app.store.files import JOURNAL_FILE
from app.store.journal_schema import SCHEMA_VERSION
from broker_connector_base.types import NEW_YORK

pytestmark = pytest.mark.timeout(180)

Stack = Any  # conftest.Stack (test modules cannot import conftest under importlib mode)
DaemonFactory = Callable[..., Awaitable[Any]]
REPO = Path(__file__).resolve().parents[2]
D = Decimal


def _rows(stack: Stack, sql: str, *params: object) -> list[sqlite3.Row]:
    with sqlite3.connect(stack.data_dir / JOURNAL_FILE) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, params))


def _snapshots(stack: Stack, account: str) -> list[sqlite3.Row]:
    return _rows(
        stack,
        "SELECT s.*, r.mode FROM snapshots s JOIN runs r USING (run_id)"
        " WHERE s.account_id = ? ORDER BY s.taken_at",
        account,
    )


def _positions(stack: Stack, snapshot_id: int) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    rows = _rows(stack, "SELECT * FROM snapshot_positions WHERE snapshot_id = ?", snapshot_id)
    return {r["symbol"]: (D(r["quantity"]), D(r["price"]), D(r["value"])) for r in rows}


def _demo_targets(strategy: str, reserve_percent: str) -> dict[str, Decimal]:
    document = json.loads(
        (REPO / "demo" / "allocations" / strategy / "allocations.json").read_text()
    )
    invested = 1 - D(reserve_percent) / 100
    return {
        a["symbol"]: D(str(a["allocation"])) * invested for a in document["data"]["allocations"]
    }


async def test_snapshot_records_account_targets_and_spy_and_places_nothing(stack: Stack) -> None:
    out = await stack.cli("-snapshot", "-account", "DUM959247")

    assert out.code == 0, out.stderr
    assert "DUM959247 snapshot (run " in out.stdout
    assert "succeeded: account value 98,667.00, cash 60,000.00, 2 positions" in out.stdout
    assert stack.sim.orders() == []
    (row,) = _snapshots(stack, "DUM959247")
    assert (row["mode"], D(row["cash"]), D(row["total_value"])) == (
        "snapshot",
        D("60000.00"),
        D("98667.00"),
    )
    positions = _positions(stack, row["id"])
    sim_positions = stack.sim.positions("DUM959247")
    assert {s: q for s, (q, _, _) in positions.items()} == sim_positions
    assert positions["SPY"] == (D(50), D("589.12"), D("29456.00"))  # valued at the last trade
    assert D(row["cash"]) + sum(v for _, _, v in positions.values()) == D(row["total_value"])
    targets = {t["symbol"]: D(t["weight"]) for t in _rows(stack, "SELECT * FROM snapshot_targets")}
    assert targets == _demo_targets("etf-blend-301-20", "1")
    assert (row["benchmark_symbol"], row["benchmark_price"]) == ("SPY", "589.12")
    (run,) = _rows(stack, "SELECT * FROM runs")
    assert (run["mode"], run["status"]) == ("snapshot", "succeeded")


async def test_snapshot_of_pdt_account_does_not_use_up_its_rebalance_of_the_day(
    stack: Stack,
) -> None:
    snapshot = await stack.cli("-snapshot", "-account", "DU789012")
    rebalance = await stack.cli("-account", "DU789012", "-exec", "rebalance")

    assert snapshot.code == 0, snapshot.stderr
    assert rebalance.code == 0, rebalance.stdout + rebalance.stderr
    assert [o.account for o in stack.sim.orders()] == ["DU789012"] * len(stack.sim.orders())
    assert stack.sim.orders()


async def test_rebalance_records_its_final_snapshot_and_fills_are_no_cash_flow(
    stack: Stack,
) -> None:
    before = await stack.cli("-snapshot", "-account", "DUM959247")
    rebalance = await stack.cli("-account", "DUM959247", "-exec", "rebalance")

    assert before.code == 0, before.stderr
    assert rebalance.code == 0, rebalance.stdout + rebalance.stderr
    first, after = _snapshots(stack, "DUM959247")
    assert after["mode"] == "rebalance"
    (run,) = _rows(stack, "SELECT * FROM runs WHERE mode = 'rebalance'")
    assert after["run_id"] == run["run_id"]
    positions = _positions(stack, after["id"])
    assert {s: q for s, (q, _, _) in positions.items()} == stack.sim.positions("DUM959247")
    assert D(after["cash"]) == stack.sim.cash("DUM959247")
    assert D(after["total_value"]) == D(run["total_value"])
    targets = {
        t["symbol"]: D(t["weight"])
        for t in _rows(stack, "SELECT * FROM snapshot_targets WHERE snapshot_id = ?", after["id"])
    }
    assert targets == _demo_targets("etf-blend-301-20", "1")
    # Cash fell by the fills and the simulator's commissions (not journalled): no flow.
    assert D(after["cash"]) < D(first["cash"]) - 50000
    assert _rows(stack, "SELECT * FROM cash_flows") == []


async def test_deposit_between_snapshots_is_reported_as_a_cash_flow(stack: Stack) -> None:
    assert (await stack.cli("-snapshot", "-account", "DUM959247")).code == 0
    # A deposit at the broker: the simulator's account state is what IB reports.
    account = stack.sim.account("DUM959247")
    account.cash += D("2500.00")
    account.settled_cash += D("2500.00")

    second = await stack.cli("-snapshot", "-account", "DUM959247")
    report = await stack.cli("-report", "-account", "DUM959247", "-format", "json")

    assert second.code == 0, second.stderr
    assert report.code == 0, report.stderr
    document = json.loads(report.stdout)
    assert [(f["amount"], f["cash_change"], f["fills"]) for f in document["cash_flows"]] == [
        ("2500.00", "2500.00", 0)
    ]
    assert document["drift"]["cash"] == "62500.00"
    assert [r["mode"] for r in document["runs"]] == ["snapshot", "snapshot"]
    assert document["snapshots"] == 2


async def test_snapshot_without_reachable_targets_is_recorded_without_them(
    stack: Stack, tmp_path: Path
) -> None:
    stack.env["ALLOCATIONS_API_URL"] = (tmp_path / "no-allocations").as_uri()

    out = await stack.cli("-snapshot", "-account", "DUM959247")
    report = await stack.cli("-report", "-account", "DUM959247", "-format", "json")

    assert out.code == 0, out.stderr
    assert "warning: targets not recorded:" in out.stdout
    (row,) = _snapshots(stack, "DUM959247")
    assert row["targets_known"] == 0
    drift = json.loads(report.stdout)["drift"]
    assert drift["targets_known"] is False
    assert {line["target_weight"] for line in drift["lines"]} == {None}


async def test_report_text_and_plot_through_rebalance_sh(stack: Stack, tmp_path: Path) -> None:
    assert (await stack.cli("-all", "-exec", "rebalance")).code == 0

    text = await stack.cli("-report", "-account", "DUM959247")
    plot = await stack.cli("-report", "-account", "DUM959247", "-plot", str(tmp_path / "c.png"))

    assert text.code == 0, text.stderr
    assert "Drift from targets at" in text.stdout
    assert "Last runs" in text.stdout
    assert "no benchmark: SPY was quoted on 1 of the 1 days" in text.stdout
    # One day of snapshots: nothing to draw yet, and the CLI says so (exit 2, the flag named).
    assert plot.code == 2
    assert "-plot" in plot.stderr
    assert "an equity curve needs two" in plot.stderr


async def test_report_of_unknown_account_exits_2_naming_it(stack: Stack) -> None:
    out = await stack.cli("-report", "-account", "DU000000")

    assert out.code == 2
    assert "-account 'DU000000' is not configured and has no runs in the journal" in out.stderr


async def test_previous_versions_data_dir_keeps_working(
    stack: Stack, v1_journal: Callable[[Path], None]
) -> None:
    v1_journal(stack.data_dir / JOURNAL_FILE)

    snapshot = await stack.cli("-snapshot", "-all")
    preview = await stack.cli("-account", "DUM959247")
    report = await stack.cli("-report", "-account", "DUM959247", "-format", "json")

    assert snapshot.code == 0, snapshot.stderr
    assert preview.code == 0, preview.stderr
    assert report.code == 0, report.stderr
    runs = json.loads(report.stdout)["runs"]
    assert [r["mode"] for r in runs] == [
        "print-rebalance",
        "snapshot",
        "rebalance",
        "print-rebalance",
    ]
    assert runs[2]["run_id"] == "20261203T082408Z-b714b751"  # the previous version's rebalance
    versions = [r[0] for r in _rows(stack, "SELECT version FROM schema_version")]
    assert versions == [1, SCHEMA_VERSION]
    assert (stack.data_dir / f"{JOURNAL_FILE}.schema-v1.bak").exists()


class _FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, secs: float) -> None:
        self.now += timedelta(seconds=secs)
        await asyncio.sleep(0)


async def test_daily_schedule_snapshots_every_account_through_workers_on_trading_days(
    stack: Stack,
) -> None:
    config = load_app_config(env_file=None, environ={**stack.env, "SNAPSHOTS_ENABLED": "true"})
    runtime = Runtime(config, fork_server=False)
    clock = _FakeClock(datetime(2026, 11, 25, 12, 0, tzinfo=NEW_YORK))  # Wednesday
    scheduler = runtime.snapshot_scheduler(clock=clock, sleep=clock.sleep)
    assert scheduler is not None
    ran: list[datetime] = []
    two_days = asyncio.Event()
    job = scheduler.job

    async def counting_job(due: datetime, catch_up: bool) -> object:
        done = await job(due, catch_up)
        ran.append(due)
        if len(ran) == 2:
            two_days.set()
        return done

    scheduler.job = counting_job
    await runtime.start(report_unfinished=False)
    task = asyncio.create_task(scheduler.run())
    try:
        async with asyncio.timeout(120):
            await two_days.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runtime.stop(5)
        runtime.close()

    # Thanksgiving (Thursday) skipped; Friday's early close is a trading day.
    assert ran == [
        datetime(2026, 11, 25, 16, 10, tzinfo=NEW_YORK),
        datetime(2026, 11, 27, 16, 10, tzinfo=NEW_YORK),
    ]
    events = _rows(stack, "SELECT payload, outcome FROM events WHERE channel = 'schedule'")
    assert [json.loads(e["payload"])["due"] for e in events] == [d.isoformat() for d in ran]
    assert {e["outcome"] for e in events} == {"snapshot of 4 accounts: succeeded"}
    runs = _rows(stack, "SELECT account_id, status FROM runs WHERE mode = 'snapshot'")
    assert sorted((r["account_id"], r["status"]) for r in runs) == [
        ("DU345678", "succeeded"),
        ("DU345678", "succeeded"),
        ("DU789012", "succeeded"),
        ("DU789012", "succeeded"),
        ("DUM959247", "succeeded"),
        ("DUM959247", "succeeded"),
        ("PA3DEMO00001", "succeeded"),  # the demo's Alpaca account, at the stand-in
        ("PA3DEMO00001", "succeeded"),
    ]
    assert len(_rows(stack, "SELECT * FROM snapshots")) == 8
    assert stack.sim.orders() == []
    assert stack.alpaca.orders() == []


async def test_daemon_schedules_the_next_daily_snapshot_unless_disabled(
    stack: Stack, daemon: DaemonFactory
) -> None:
    schedule = DailySchedule(datetime.strptime("16:10", "%H:%M").time(), NyseCalendar())
    expected = schedule.next_after(datetime.now(UTC)).isoformat()

    enabled = await daemon(ably=False, snapshots_enabled="true")
    line = await enabled.wait_for_log("Next daily snapshot at", timeout_secs=60)
    await enabled.stop()
    disabled = await daemon(ably=False, snapshots_enabled="false")
    off = await disabled.wait_for_log("Daily snapshots are off")
    await disabled.stop()

    assert line.endswith(f"Next daily snapshot at {expected}")
    assert "SNAPSHOTS_ENABLED=false" in off
    assert not any("Next daily snapshot" in entry for entry in disabled.log)
