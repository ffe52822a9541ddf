"""The journal's execution report tables: one row per run (``executions``) and one per order
sent (``order_executions``), written when the run's end is journalled.

Money, prices, basis points and drift are decimal text; ``sent_at`` UTC ISO-8601. What the
columns mean, and the slippage sign (positive: a cost), is ``broker_connector_base.execution``.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from broker_connector_base import ExecutionReport

__all__ = ["EXECUTION_TABLES", "insert_execution"]

EXECUTION_TABLES = """
CREATE TABLE IF NOT EXISTS executions (
    run_id TEXT PRIMARY KEY REFERENCES runs (run_id),
    slippage_bps TEXT,
    filled_notional TEXT NOT NULL,
    commission TEXT,
    drift_after TEXT,
    drift_after_max TEXT,
    pending_close INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS order_executions (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    order_id TEXT,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity INTEGER NOT NULL CHECK (quantity != 0),
    order_type TEXT NOT NULL,
    limit_price TEXT,
    status TEXT NOT NULL,
    filled_quantity INTEGER NOT NULL,
    decision_price TEXT,
    arrival_bid TEXT,
    arrival_ask TEXT,
    arrival_mid TEXT,
    arrival_source TEXT,
    spread_bps TEXT,
    avg_fill_price TEXT,
    slippage_bps TEXT,
    commission TEXT,
    sent_at TEXT NOT NULL,
    time_to_fill_secs REAL
);
CREATE INDEX IF NOT EXISTS order_executions_by_run ON order_executions (run_id, seq);
CREATE INDEX IF NOT EXISTS order_executions_by_symbol ON order_executions (symbol, sent_at);
"""

_ORDER_COLUMNS = (
    "order_id",
    "symbol",
    "side",
    "quantity",
    "order_type",
    "limit_price",
    "status",
    "filled_quantity",
    "decision_price",
    "arrival_bid",
    "arrival_ask",
    "arrival_mid",
    "arrival_source",
    "spread_bps",
    "avg_fill_price",
    "slippage_bps",
    "commission",
)


def _text(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


def insert_execution(conn: sqlite3.Connection, run_id: str, report: ExecutionReport) -> None:
    """Store ``report`` for ``run_id`` (inside the caller's write transaction)."""
    conn.execute(
        "INSERT INTO executions (run_id, slippage_bps, filled_notional, commission, drift_after,"
        " drift_after_max, pending_close) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            _text(report.slippage_bps),
            str(report.filled_notional),
            _text(report.commission),
            _text(report.drift_after),
            _text(report.drift_after_max),
            report.pending_close,
        ),
    )
    names = ", ".join(_ORDER_COLUMNS)
    marks = ", ".join("?" * (len(_ORDER_COLUMNS) + 3))
    conn.executemany(
        f"INSERT INTO order_executions (run_id, {names}, sent_at, time_to_fill_secs)"
        f" VALUES ({marks})",
        [
            (
                run_id,
                *(_text(getattr(order, column)) for column in _ORDER_COLUMNS),
                order.sent_at.isoformat(),
                order.time_to_fill_secs,
            )
            for order in report.orders
        ],
    )
