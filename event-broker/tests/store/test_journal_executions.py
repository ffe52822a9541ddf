"""The execution report in the journal (schema 5): one row per run, one per order, exact
text; the journal summary, the CLI table and the notification show it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from app.models import AccountExecutionResult
from app.notify.notifier import format_account_result
from app.notify.report import format_results
from app.store.files import JOURNAL_FILE
from app.store.journal import Journal
from broker_connector_base import ExecutionReport, OrderExecution

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _order(**fields: Any) -> OrderExecution:
    values: dict[str, Any] = {
        "order_id": "7",
        "symbol": "TLT",
        "side": "SELL",
        "quantity": -100,
        "order_type": "LIMIT",
        "limit_price": "92.82",
        "status": "FILLED",
        "filled_quantity": -100,
        "decision_price": "92.875",
        "arrival_bid": "92.87",
        "arrival_ask": "92.88",
        "arrival_mid": "92.875",
        "arrival_source": "plan",
        "spread_bps": "1.08",
        "avg_fill_price": "92.87",
        "slippage_bps": "0.54",
        "commission": "1.00",
        "sent_at": T0,
        "time_to_fill_secs": 0.25,
    }
    values.update(fields)
    return OrderExecution.model_validate(values)


REPORT = ExecutionReport.of(
    [
        _order(),
        _order(
            order_id="8",
            symbol="AGG",
            side="BUY",
            quantity=50,
            filled_quantity=0,
            order_type="MOC",
            limit_price=None,
            status="WORKING",
            avg_fill_price=None,
            slippage_bps=None,
            commission=None,
            time_to_fill_secs=None,
        ),
    ],
    drift_after=Decimal("0.003100"),
    drift_after_max=Decimal("0.001200"),
)


def _result(**fields: Any) -> AccountExecutionResult:
    values: dict[str, Any] = {
        "account_id": "DU1",
        "run_id": "run-x",
        "mode": "rebalance",
        "status": "succeeded",
        "success": True,
        "total_value": "10000.00",
        "cash_balance": "99.95",
        "execution": REPORT,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=3),
    }
    values.update(fields)
    return AccountExecutionResult.model_validate(values)


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    with Journal(tmp_path / "data" / JOURNAL_FILE) as opened:
        yield opened


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def test_report_is_journalled_as_exact_text_per_run_and_per_order(journal: Journal) -> None:
    journal.start_run(run_id="run-x", account_id="DU1", mode="rebalance", client_id=1)

    journal.finish_run(run_id="run-x", result=_result())

    path = journal.path
    assert _rows(path, "SELECT * FROM executions") == [
        ("run-x", "0.54", "9287.500", "1.00", "0.003100", "0.001200", 1)
    ]
    orders = _rows(
        path,
        "SELECT order_id, symbol, side, quantity, order_type, limit_price, status,"
        " filled_quantity, decision_price, arrival_mid, arrival_source, spread_bps,"
        " avg_fill_price, slippage_bps, commission, sent_at, time_to_fill_secs"
        " FROM order_executions ORDER BY seq",
    )
    assert orders == [
        ("7", "TLT", "SELL", -100, "LIMIT", "92.82", "FILLED", -100, "92.875", "92.875",
         "plan", "1.08", "92.87", "0.54", "1.00", T0.isoformat(), 0.25),
        ("8", "AGG", "BUY", 50, "MOC", None, "WORKING", 0, "92.875", "92.875", "plan",
         "1.08", None, None, None, T0.isoformat(), None),
    ]  # fmt: skip
    assert (
        "execution: slippage 0.54 bps on $9,287.50 filled, commissions $1.00, drift left "
        "0.31% (largest 0.12%), 1 market-on-close orders pending the close"
    ) in journal.summary()


def test_preview_without_a_report_writes_no_execution_rows(journal: Journal) -> None:
    journal.start_run(run_id="run-p", account_id="DU1", mode="print-rebalance", client_id=1)
    journal.finish_run(
        run_id="run-p", result=_result(run_id="run-p", mode="print-rebalance", execution=None)
    )
    assert _rows(journal.path, "SELECT COUNT(*) FROM executions") == [(0,)]


def test_cli_table_shows_each_order_against_its_arrival_quote_and_the_summary() -> None:
    text = format_results([_result()])

    lines = text.splitlines()
    start = lines.index("EXECUTION (slippage against the arrival midpoint, + is a cost)")
    header, tlt, agg = lines[start + 1 : start + 4]
    assert header.split() == [
        "ACCOUNT", "ORDER", "SYMBOL", "SIDE", "TYPE", "FILLED", "DECISION", "ARRIVAL", "MID",
        "SPREAD", "BPS", "AVG", "FILL", "SLIP", "BPS", "COMMISSION", "FILL", "SECS",
    ]  # fmt: skip
    assert tlt.split() == [
        "DU1", "7", "TLT", "SELL", "LIMIT", "100/100", "92.875", "92.875", "1.08", "92.87",
        "0.54", "1.00", "0.25",
    ]  # fmt: skip
    assert agg.split()[:6] == ["DU1", "8", "AGG", "BUY", "MOC", "0/50"]
    assert "  execution: slippage 0.54 bps on $9,287.50 filled" in text


def test_notification_carries_the_summary_and_one_line_per_order() -> None:
    _, body, _ = format_account_result(_result())

    assert "Execution: slippage 0.54 bps on $9,287.50 filled, commissions $1.00" in body
    assert (
        "SELL 100/100 TLT (LIMIT, FILLED): avg 92.87, arrival mid 92.875 (spread 1.08 bps), "
        "slippage 0.54 bps, commission 1.00, 0.25 s"
    ) in body
