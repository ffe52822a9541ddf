"""The journal's SQLite schema (versioned) and its plain-text summary (``app.store.journal``)."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from broker_connector_base import InvalidInputError

__all__ = ["SCHEMA_VERSION", "create_schema", "format_summary"]

SCHEMA_VERSION = 2
"""Raise it with a step in ``_MIGRATIONS`` whenever the tables change."""

# Statements that bring a file from the version before the key to the key's version.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: the Ably timestamp of each event: where a catch-up after a gap starts reading history.
    2: ("ALTER TABLE events ADD COLUMN published_ms INTEGER",),
}

# Indexes on columns a migration adds: created once the columns exist.
_LATE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS events_by_channel_published ON events (channel, published_ms)",
)

_TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    event_id TEXT,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL,
    outcome TEXT,
    published_ms INTEGER
);
CREATE INDEX IF NOT EXISTS events_by_event_id ON events (event_id);

CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('rebalance', 'print-rebalance')),
    client_id INTEGER NOT NULL,
    event_row INTEGER REFERENCES events (id),
    started_at TEXT NOT NULL,
    pid INTEGER NOT NULL,
    finished_at TEXT,
    status TEXT CHECK (
        status IN ('succeeded', 'failed', 'refused', 'timed_out', 'abandoned')
    ),
    error TEXT,
    total_value TEXT,
    cash_balance TEXT,
    warnings TEXT,
    result_json TEXT,
    CHECK ((finished_at IS NULL) = (status IS NULL))
);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (run_id) WHERE finished_at IS NULL;

CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    order_id TEXT,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity INTEGER NOT NULL CHECK (quantity != 0),
    price TEXT NOT NULL,
    status TEXT,
    filled_quantity INTEGER,
    avg_fill_price TEXT,
    trade_json TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS orders_by_order_id
    ON orders (run_id, order_id) WHERE order_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS orders_planned
    ON orders (run_id, symbol) WHERE order_id IS NULL;
"""


def create_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables, or check that an existing file uses a schema this code knows.

    Runs inside the caller's write transaction, so two processes opening a new file at once
    do not both create it.

    Raises:
        InvalidInputError: The file was written by a newer version of the daemon.
    """
    # executescript() would commit the caller's transaction; run statements one by one.
    for statement in _TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    version = row[0]
    if version is None:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    elif version > SCHEMA_VERSION:
        raise InvalidInputError(
            f"journal schema version {version} is newer than this daemon's {SCHEMA_VERSION}; "
            "run the newer daemon or move the file aside",
            str(path),
        )
    elif version < SCHEMA_VERSION:
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    for statement in _LATE_INDEXES:
        conn.execute(statement)


def _money(value: str | None) -> str:
    return "-" if value is None else f"${Decimal(value):,.2f}"


def _order_line(row: sqlite3.Row) -> str:
    line = f"{row['side']} {abs(row['quantity'])} {row['symbol']} @ {row['price']}"
    if row["order_id"] is not None:
        line += f" (order {row['order_id']})"
    if row["status"] is not None:
        line += f" -> {row['status']}"
        if row["filled_quantity"]:
            line += f" {abs(row['filled_quantity'])}"
            if row["avg_fill_price"] is not None:
                line += f" @ {row['avg_fill_price']}"
    return line


def _proposed_lines(result_json: str | None) -> list[str]:
    if not result_json:
        return []
    trades = json.loads(result_json).get("trades", [])
    return [
        f"proposed {'BUY' if t['quantity'] > 0 else 'SELL'} {abs(t['quantity'])} "
        f"{t['symbol']} @ {t['price']}"
        for t in trades
        if t.get("order_id") is None
    ]


def _run_lines(conn: sqlite3.Connection, run: sqlite3.Row) -> list[str]:
    status = run["status"] or "UNFINISHED"
    ended = run["finished_at"] or "never recorded an end"
    lines = [
        f"{run['started_at']}  {run['account_id']}  {run['mode']}  {status}  "
        f"(run {run['run_id']}, client id {run['client_id']}, pid {run['pid']}, end {ended})"
    ]
    if run["total_value"] is not None or run["cash_balance"] is not None:
        lines.append(f"    value {_money(run['total_value'])}, cash {_money(run['cash_balance'])}")
    orders = conn.execute("SELECT * FROM orders WHERE run_id = ? ORDER BY seq", (run["run_id"],))
    lines.extend(f"    {_order_line(order)}" for order in orders)
    lines.extend(f"    {line}" for line in _proposed_lines(run["result_json"]))
    lines.extend(f"    warning: {w}" for w in json.loads(run["warnings"] or "[]"))
    if run["error"]:
        lines.append(f"    error: {run['error']}")
    return lines


def format_summary(conn: sqlite3.Connection, *, limit: int) -> str:
    """The ``limit`` most recent runs, newest first, as plain text."""
    runs = list(
        conn.execute(
            "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (max(limit, 0),)
        )
    )
    if not runs:
        return "No runs recorded."
    lines = [f"Last {len(runs)} run(s), newest first:"]
    for run in runs:
        lines.extend(_run_lines(conn, run))
    return "\n".join(lines)
