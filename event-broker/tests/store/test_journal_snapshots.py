"""Snapshots in the journal: exact storage, and the cash flows found between two of them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from app.models import AccountExecutionResult, PortfolioSnapshot
from app.store.files import JOURNAL_FILE
from pydantic import ValidationError

Book = Any  # conftest.SnapshotBook

D = Decimal


def _now() -> datetime:
    return datetime.now(UTC)


def test_snapshot_round_trips_exactly_with_decimals_stored_as_text(book: Book) -> None:
    taken = datetime(2026, 11, 25, 21, 10, 0, 123456, tzinfo=UTC)
    book.take(
        "DU1",
        taken,
        total="100000.10",
        cash="0.1",
        settled="0.05",
        positions={"SPY": ("12.5", "589.1234"), "TLT": ("100", "92.10")},
        targets={"SPY": "0.594", "TLT": "0.396"},
        spy="589.1234",
    )

    latest = book.journal.latest_snapshot("DU1")
    assert latest is not None
    assert (latest.total_value, latest.cash, latest.settled_cash) == (
        D("100000.10"),
        D("0.1"),
        D("0.05"),
    )
    assert [(p.symbol, p.quantity, p.price, p.value) for p in latest.positions] == [
        ("SPY", D("12.5"), D("589.1234"), D("7364.04250")),
        ("TLT", D("100"), D("92.10"), D("9210.00")),
    ]
    assert latest.targets == {"SPY": D("0.594"), "TLT": D("0.396")}
    assert latest.benchmark is not None
    assert latest.benchmark.price == D("589.1234")
    assert latest.taken_at == taken
    assert latest.trading_date.isoformat() == "2026-11-25"  # 16:10 in New York
    path = book.journal.path
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT total_value, cash, typeof(cash) FROM snapshots").fetchall() == [
            ("100000.10", "0.1", "text")
        ]
        assert conn.execute("SELECT quantity, value FROM snapshot_positions").fetchall() == [
            ("12.5", "7364.04250"),
            ("100", "9210.00"),
        ]


def test_snapshot_without_known_targets_reads_back_as_none_not_as_no_targets(
    book: Book,
) -> None:
    book.take("DU1", _now(), total="1000", cash="1000")
    book.take("DU2", _now(), total="1000", cash="1000", targets={})

    assert book.journal.latest_snapshot("DU1").targets is None
    assert book.journal.latest_snapshot("DU2").targets == {}


def test_snapshot_is_stored_with_its_run_and_the_run_mode_snapshot(book: Book) -> None:
    book.take("DU1", _now(), total="1000", cash="1000")

    with sqlite3.connect(book.journal.path) as conn:
        rows = conn.execute(
            "SELECT r.mode, r.status, s.total_value FROM snapshots s JOIN runs r USING (run_id)"
        ).fetchall()
    assert rows == [("snapshot", "succeeded", "1000")]


def test_deposit_between_two_snapshots_is_found_and_stored_as_a_cash_flow(book: Book) -> None:
    t0 = _now()
    assert book.take("DU1", t0, total="50000", cash="1000") is None  # the first has no flow

    flow = book.take("DU1", t0 + timedelta(hours=1), total="55000", cash="6000")

    assert flow is not None
    assert (flow.amount, flow.cash_change, flow.fills_cash, flow.fills) == (
        D("5000.00"),
        D("5000"),
        D("0"),
        0,
    )
    assert [f.amount for f in book.journal.cash_flows("DU1")] == [D("5000.00")]


def test_rebalance_fills_between_snapshots_explain_the_cash_and_are_no_flow(book: Book) -> None:
    book.take("DU1", _now(), total="50000", cash="10000")
    # Bought 10 SPY at 589.14 with an estimated $1 commission, sold 20 TLT at 92.10.
    book.rebalance("DU1", [("SPY", 10, "589.14", "1.00"), ("TLT", -20, "92.10", "1.00")])
    cash_after = D("10000") - D("5891.40") + D("1842.00") - D("2.00")

    flow = book.take("DU1", _now(), total="50000", cash=str(cash_after))

    assert flow is None
    assert book.journal.cash_flows("DU1") == []


def test_withdrawal_during_a_rebalance_day_is_the_cash_the_fills_do_not_explain(
    book: Book,
) -> None:
    book.take("DU1", _now(), total="50000", cash="10000")
    book.rebalance("DU1", [("SPY", 10, "589.14", None)])
    # The broker charged $1.05 the plan did not estimate (noise), and $2,000 went out.
    cash_after = D("10000") - D("5891.40") - D("1.05") - D("2000")

    flow = book.take("DU1", _now(), total="48000", cash=str(cash_after))

    assert flow is not None
    assert flow.amount == D("-2001.05")  # the unestimated commission rides along, documented
    assert flow.fills_cash == D("-5891.40")


def test_fills_of_runs_before_the_earlier_snapshot_are_not_counted_again(book: Book) -> None:
    book.rebalance("DU1", [("SPY", 10, "589.14", None)])  # before both snapshots
    book.take("DU1", _now(), total="50000", cash="4108.60")

    flow = book.take("DU1", _now(), total="50000", cash="4108.60")

    assert flow is None


def test_flows_of_one_account_ignore_another_accounts_fills(book: Book) -> None:
    book.take("DU1", _now(), total="50000", cash="10000")
    book.rebalance("DU2", [("SPY", 10, "589.14", None)])

    flow = book.take("DU1", _now(), total="50000", cash="10000")

    assert flow is None


def test_snapshot_of_another_account_in_a_result_is_refused(book: Book) -> None:
    now = _now()
    snapshot = PortfolioSnapshot(
        account_id="DU2", taken_at=now, total_value=D(1), cash=D(1), settled_cash=D(1)
    )
    with pytest.raises(ValidationError, match="snapshot of account DU2 in the result of DU1"):
        AccountExecutionResult(
            account_id="DU1",
            run_id="r",
            mode="snapshot",
            status="succeeded",
            success=True,
            snapshot=snapshot,
            started_at=now,
            finished_at=now,
        )


def test_snapshot_values_and_flows_since_a_day_leave_earlier_days_out(book: Book) -> None:
    monday = datetime(2026, 11, 23, 21, 10, tzinfo=UTC)
    book.take("DU1", monday, total="1000", cash="1000")
    book.take("DU1", monday + timedelta(days=1), total="3000", cash="3000")  # +2000 flow Tue
    book.take("DU1", monday + timedelta(days=2), total="4000", cash="4000")  # +1000 flow Wed

    tuesday = (monday + timedelta(days=1)).date()
    values = book.journal.snapshot_values("DU1", since=tuesday)
    flows = book.journal.cash_flows("DU1", since=tuesday)

    assert [v.total_value for v in values] == [D("3000"), D("4000")]
    assert [(f.flow_date.isoformat(), f.amount) for f in flows] == [
        ("2026-11-24", D("2000.00")),
        ("2026-11-25", D("1000.00")),
    ]
    assert str(book.journal.path).endswith(JOURNAL_FILE)
