"""``account_report`` on a real journal: time-weighted performance, benchmark, drift, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from app.reporting import AccountReport, account_report
from app.reporting.plot import write_equity_plot
from app.reporting.render import format_report
from broker_connector_base import InvalidInputError

Book = Any  # conftest.SnapshotBook

D = Decimal
MONDAY = datetime(2026, 11, 16, 21, 10, tzinfo=UTC)  # 16:10 in New York
WEEK = [D("10000"), D("10100"), D("10050"), D("10200"), D("10300")]  # Mon..Fri
SPY = ["580.00", "585.80", "583.00", "590.00", "596.00"]


def _day(n: int) -> datetime:
    return MONDAY + timedelta(days=n)


def _week(book: Book, account: str, *, deposit: str = "0", spy: bool = True) -> None:
    """Five daily snapshots of ``account``. With ``deposit``, that much cash arrives on
    Wednesday and is invested like the rest from then on (so it earns the same returns)."""
    added = D(deposit)
    scale = (WEEK[2] + added) / WEEK[2]
    for n, value in enumerate(WEEK):
        total = value if n < 2 else value * scale
        cash = D("1000") + (added if n >= 2 else 0)
        book.take(account, _day(n), total=str(total), cash=str(cash), spy=SPY[n] if spy else None)


def test_report_deposit_between_snapshots_leaves_the_time_weighted_return_unchanged(
    book: Book,
) -> None:
    _week(book, "PLAIN")
    _week(book, "DEPOSIT", deposit="5000")

    plain = account_report(book.journal, "PLAIN")
    deposited = account_report(book.journal, "DEPOSIT")

    assert plain.metrics is not None
    assert deposited.metrics is not None
    assert [(f.date, f.amount) for f in deposited.cash_flows] == [
        (date(2026, 11, 18), D("5000.00"))
    ]
    assert deposited.metrics.net_cash_flow == D("5000.00")
    assert plain.metrics.total_return == pytest.approx(0.03, rel=1e-12)  # 10300 / 10000 - 1
    assert deposited.metrics.total_return == pytest.approx(plain.metrics.total_return, rel=1e-12)
    assert deposited.metrics.sharpe_ratio == pytest.approx(plain.metrics.sharpe_ratio, rel=1e-9)
    drawdowns = (deposited.metrics.max_drawdown, plain.metrics.max_drawdown)
    assert drawdowns[0].depth == pytest.approx(drawdowns[1].depth, rel=1e-12)
    assert drawdowns[0].trough == drawdowns[1].trough == date(2026, 11, 18)
    # Without the flow the deposit would have been a 50 % gain on Wednesday.
    assert deposited.metrics.end_value / deposited.metrics.start_value > D("1.5")


def test_report_equity_curve_books_the_flow_and_measures_the_drawdown(book: Book) -> None:
    _week(book, "DEPOSIT", deposit="5000")

    report = account_report(book.journal, "DEPOSIT")

    curve = report.equity_curve
    assert [p.date for p in curve] == [_day(n).date() for n in range(5)]
    assert [p.cash_flow for p in curve] == [0, 0, D("5000.00"), 0, 0]
    assert [p.growth for p in curve] == pytest.approx([0.0, 0.01, 0.005, 0.02, 0.03])
    # Tuesday's peak 1.01 to Wednesday's 1.005: a fall of 0.005 / 1.01.
    assert [p.drawdown for p in curve] == pytest.approx([0, 0, 0.005 / 1.01, 0, 0])
    assert report.metrics is not None
    assert report.metrics.max_drawdown.depth == pytest.approx(0.005 / 1.01)
    assert report.metrics.max_drawdown.trough == date(2026, 11, 18)


def test_report_benchmark_compares_with_spy_on_the_snapshots_days(book: Book) -> None:
    _week(book, "DU1")

    report = account_report(book.journal, "DU1")

    assert report.benchmark is not None
    assert report.benchmark.symbol == "SPY"
    assert (report.benchmark.start_date, report.benchmark.end_date) == (
        date(2026, 11, 16),
        date(2026, 11, 20),
    )
    assert report.benchmark.periods == 4
    assert report.benchmark.benchmark_total_return == pytest.approx(596 / 580 - 1)
    assert report.benchmark.beta is not None
    assert not any("benchmark" in note for note in report.notes)


def test_report_without_enough_spy_quotes_omits_the_benchmark_and_says_why(book: Book) -> None:
    _week(book, "DU1", spy=False)
    book.take("DU1", _day(4) + timedelta(minutes=5), total="10300", cash="1000", spy="596")

    report = account_report(book.journal, "DU1")

    assert report.benchmark is None
    assert report.metrics is not None
    assert (
        "no benchmark: SPY was quoted on 1 of the 5 days with a snapshot; a comparison needs two"
        in report.notes
    )


def test_report_series_is_each_trading_days_last_snapshot(book: Book) -> None:
    _week(book, "DU1")
    book.take("DU1", _day(2) - timedelta(hours=6), total="99999", cash="1000")  # earlier Wed
    book.take("DU1", _day(5), total="10400", cash="1000")  # Saturday: no market, no return

    report = account_report(book.journal, "DU1")

    assert (report.snapshots, report.days) == (7, 5)
    assert [p.value for p in report.equity_curve] == WEEK
    assert report.drift is not None
    assert report.drift.total_value == D("10400")
    assert "snapshots of days the exchange was closed count for drift and flows only" in (
        report.notes
    )


def test_report_since_a_day_measures_from_that_day(book: Book) -> None:
    _week(book, "DU1")

    report = account_report(book.journal, "DU1", since=date(2026, 11, 18))

    assert report.metrics is not None
    assert (report.metrics.start_date, report.metrics.start_value) == (date(2026, 11, 18), WEEK[2])
    assert report.metrics.total_return == pytest.approx(10300 / 10050 - 1)


def test_report_drift_compares_the_latest_snapshot_with_its_targets(book: Book) -> None:
    book.take(
        "DU1",
        _day(0),
        total="10000.00",
        cash="500.00",
        positions={"SPY": ("10", "600.00"), "TLT": ("30", "110.00")},
        targets={"SPY": "0.594", "TLT": "0.297", "GLD": "0.099"},
    )

    drift = account_report(book.journal, "DU1").drift

    assert drift is not None
    assert drift.targets_known
    lines = {line.symbol: line for line in drift.lines}
    assert sorted(lines) == ["GLD", "SPY", "TLT"]
    assert (lines["SPY"].weight, lines["SPY"].target_weight, lines["SPY"].drift) == (
        D("0.600000"),
        D("0.594000"),
        D("0.006000"),
    )
    assert (lines["GLD"].value, lines["GLD"].target_value, lines["GLD"].drift) == (
        D(0),
        D("990.00"),
        D("-0.099000"),
    )
    assert lines["TLT"].drift == D("0.033000")
    assert (drift.cash_weight, drift.cash_target_weight) == (D("0.050000"), D("0.010000"))
    assert drift.max_abs_drift == D("0.099000")


def test_report_of_account_without_snapshots_is_empty_and_says_so(book: Book) -> None:
    book.rebalance("DU1", [("SPY", 1, "589.14", None)])

    report = account_report(book.journal, "DU1")

    assert (report.metrics, report.drift, report.benchmark, report.equity_curve) == (
        None,
        None,
        None,
        [],
    )
    assert [(r.mode, r.trades) for r in report.runs] == [("rebalance", 1)]
    assert report.notes == ["no snapshot of account DU1 on a trading day; take one with -snapshot"]


def test_report_of_unmeasurable_snapshots_names_the_journal_and_the_value(book: Book) -> None:
    book.take("DU1", _day(0), total="1000", cash="1000")
    book.take("DU1", _day(1), total="1500", cash="3000")  # a deposit larger than the value

    with pytest.raises(InvalidInputError, match="cannot be measured") as raised:
        account_report(book.journal, "DU1")

    assert raised.value.source == f"journal {book.journal.path}"


def test_report_json_shape_is_stable_with_money_as_strings(book: Book) -> None:
    _week(book, "DU1", deposit="5000")

    document = json.loads(account_report(book.journal, "DU1").model_dump_json())

    assert list(document) == [
        "format_version",
        "account_id",
        "generated_at",
        "since",
        "snapshots",
        "days",
        "metrics",
        "benchmark",
        "drift",
        "cash_flows",
        "equity_curve",
        "runs",
        "notes",
    ]
    assert document["format_version"] == 1
    assert document["metrics"]["start_value"] == "10000"
    assert isinstance(document["metrics"]["total_return"], float)
    assert document["cash_flows"][0] == {
        "date": "2026-11-18",
        "amount": "5000.00",
        "cash_change": "5000",
        "fills_cash": "0",
        "commissions": "0",
        "fills": 0,
    }
    assert document["equity_curve"][2]["cash_flow"] == "5000.00"
    assert AccountReport.model_validate_json(json.dumps(document)).account_id == "DU1"


def test_report_text_shows_metrics_benchmark_flows_and_runs(book: Book) -> None:
    _week(book, "DU1", deposit="5000")

    text = format_report(account_report(book.journal, "DU1"))

    assert "Account DU1: 5 snapshots, 5 trading days" in text
    assert "total return" in text
    assert "+3.00 %" in text
    assert "Against SPY (same snapshots)" in text
    assert "2026-11-18 │ +$5,000.00" in text
    assert "Last runs" in text
    assert "snapshot" in text


def test_plot_writes_a_png_equity_curve(book: Book, tmp_path: Path) -> None:
    _week(book, "DU1", deposit="5000")
    path = tmp_path / "curve.png"

    write_equity_plot(account_report(book.journal, "DU1"), path)

    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000


def test_plot_of_fewer_than_two_days_is_refused(book: Book, tmp_path: Path) -> None:
    book.take("DU1", _day(0), total="1000", cash="1000")

    with pytest.raises(InvalidInputError, match="1 trading day"):
        write_equity_plot(account_report(book.journal, "DU1"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_daemon_cli_and_report_imports_do_not_load_matplotlib() -> None:
    code = (
        "import sys, app.main, app.cli, app.reporting, app.reporting.render;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": ":".join(sys.path)},
        check=True,
    )
    assert done.stdout.strip() == "[]"
