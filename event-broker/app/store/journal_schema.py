"""The journal's SQLite schema (versioned, migrated in place) and its plain-text summary.

Versions: 1 events, runs, orders; 2 the Ably timestamp of each event (``published_ms``);
3 the ``snapshot`` run mode and the portfolio snapshot tables (``snapshots``,
``snapshot_positions``, ``snapshot_targets``, ``cash_flows``); 4 each order's strategy
attribution (``orders.attribution``, see ``app.store.orders``); 5 the execution report of each
run (``executions``, ``order_executions``, see ``app.store.executions``); 6 each order's
permanent id and how reconciliation resolved it (``perm_id``, ``reconciled_at``,
``reconciliation``: orders keyed by perm id, since IB may reuse order ids after a gateway
restart), the PDT trading days (``pdt_days``, formerly ``pdt-state.sqlite3``) and the position
checks (``position_checks``), see ``app.store.orders``. New tables are created by
``_TABLES`` (``IF NOT EXISTS``) in any file; changes to existing ones are ``_MIGRATIONS``
steps. A file of an older version is copied aside (``journal.sqlite3.schema-vN.bak``) and
migrated inside one write transaction by the first process (daemon, CLI or worker) that opens
it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from broker_connector_base import ExecutionReport, InvalidInputError, StrategyAttribution

from app.notify.attribution import shares_text, strategies_of
from app.notify.execution import execution_summary
from app.store.executions import EXECUTION_TABLES
from app.store.orders import RECONCILIATION_TABLES, JournalOrder, orders_of

__all__ = ["SCHEMA_VERSION", "backup_before_migration", "create_schema", "format_summary"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 6
"""Raise it with a step in ``_MIGRATIONS`` whenever the tables change."""

_RUNS = """
CREATE TABLE {if_new}{name} (
    run_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('rebalance', 'print-rebalance', 'snapshot')),
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
)"""

Step = str | Callable[[sqlite3.Connection], None]


def _add_column(table: str, column: str, kind: str) -> Step:
    """``ALTER TABLE ADD COLUMN`` unless the table has the column: ``_TABLES`` creates the
    tables an old file lacks with every column of this version, before the migrations run."""

    def add(conn: sqlite3.Connection) -> None:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    return add


# Steps that bring a file from the version before the key to the key's version.
_MIGRATIONS: dict[int, tuple[Step, ...]] = {
    # 2: the Ably timestamp of each event: where a catch-up after a gap starts reading history.
    2: ("ALTER TABLE events ADD COLUMN published_ms INTEGER",),
    # 3: runs of mode 'snapshot'. SQLite cannot change a CHECK constraint in place; its
    # documented way is a new table, the rows copied, the old one dropped, the new one renamed.
    # Foreign keys are off while the schema is settled (``Journal``), so dropping ``runs``
    # leaves ``orders`` as it is, and ``create_schema`` checks every order still has its run.
    # The snapshot tables themselves are new: ``_TABLES`` creates them.
    3: (
        _RUNS.format(if_new="", name="runs_v3"),
        "INSERT INTO runs_v3 SELECT * FROM runs",
        "DROP TABLE runs",
        "ALTER TABLE runs_v3 RENAME TO runs",
    ),
    # 4: the strategies each order is for. Orders recorded before carry them in their
    # trade_json when the engine attributed them (every multi-strategy run did): copied over.
    4: (
        _add_column("orders", "attribution", "TEXT"),
        "UPDATE orders SET attribution = json_extract(trade_json, '$.attribution.shares')"
        " WHERE json_valid(trade_json)"
        " AND json_type(trade_json, '$.attribution.shares') = 'object'",
    ),
    # 5: the execution report tables: new tables only, which ``_TABLES`` creates; the version
    # is raised so that an older daemon refuses the file instead of ignoring them.
    5: (),
    # 6: an order's permanent id and its reconciliation. Order ids stop being a unique key (a
    # gateway restart may reuse one within a run); an order about to be sent is one without
    # id and without status (a refused one without id no longer blocks the next). The PDT
    # days and position checks are new tables (``_TABLES``); ``app.store.legacy`` imports the
    # previous version's ``pdt-state.sqlite3``.
    6: (
        _add_column("orders", "perm_id", "TEXT"),
        _add_column("orders", "reconciled_at", "TEXT"),
        _add_column("orders", "reconciliation", "TEXT"),
        "DROP INDEX IF EXISTS orders_by_order_id",
        "DROP INDEX IF EXISTS orders_planned",
    ),
}

# Indexes on columns a migration adds, and on ``runs`` (rebuilt by version 3): created once
# the migrations ran.
_LATE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS events_by_channel_published ON events (channel, published_ms)",
    "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at)",
    "CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (run_id) WHERE finished_at IS NULL",
    "CREATE INDEX IF NOT EXISTS runs_by_account ON runs (account_id, started_at)",
    "CREATE UNIQUE INDEX IF NOT EXISTS orders_by_perm_id ON orders (run_id, perm_id)"
    " WHERE perm_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS orders_by_run_order_id ON orders (run_id, order_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS orders_about_to_be_sent ON orders (run_id, symbol)"
    " WHERE order_id IS NULL AND status IS NULL",
    "CREATE INDEX IF NOT EXISTS orders_unresolved ON orders (run_id) WHERE reconciled_at IS NULL",
)

# Money and quantities are decimal text; times UTC ISO-8601 with microseconds (text order is
# time order); trading_date and flow_date New York days (YYYY-MM-DD).
_TABLES = f"""
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

{_RUNS.format(if_new="IF NOT EXISTS ", name="runs")};

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
    updated_at TEXT NOT NULL,
    attribution TEXT,
    perm_id TEXT,
    reconciled_at TEXT,
    reconciliation TEXT
);

CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE REFERENCES runs (run_id),
    account_id TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    trading_date TEXT NOT NULL,
    total_value TEXT NOT NULL,
    cash TEXT NOT NULL,
    settled_cash TEXT NOT NULL,
    targets_known INTEGER NOT NULL CHECK (targets_known IN (0, 1)),
    benchmark_symbol TEXT,
    benchmark_price TEXT,
    CHECK ((benchmark_symbol IS NULL) = (benchmark_price IS NULL))
);
CREATE INDEX IF NOT EXISTS snapshots_by_account ON snapshots (account_id, taken_at);

CREATE TABLE IF NOT EXISTS snapshot_positions (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id),
    symbol TEXT NOT NULL,
    quantity TEXT NOT NULL,
    price TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, symbol)
);

CREATE TABLE IF NOT EXISTS snapshot_targets (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id),
    symbol TEXT NOT NULL,
    weight TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, symbol)
);

CREATE TABLE IF NOT EXISTS cash_flows (
    snapshot_id INTEGER PRIMARY KEY REFERENCES snapshots (id),
    previous_snapshot_id INTEGER NOT NULL REFERENCES snapshots (id),
    account_id TEXT NOT NULL,
    flow_date TEXT NOT NULL,
    amount TEXT NOT NULL,
    cash_change TEXT NOT NULL,
    fills_cash TEXT NOT NULL,
    commissions TEXT NOT NULL,
    fills INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cash_flows_by_account ON cash_flows (account_id, flow_date);
{EXECUTION_TABLES}
{RECONCILIATION_TABLES}"""


def _version(conn: sqlite3.Connection) -> int | None:
    """The file's schema version; ``None`` for a new (empty) file."""
    known = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if known is None:
        return None
    version: int | None = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    return version


def backup_before_migration(conn: sqlite3.Connection, path: Path) -> Path | None:
    """Copy an older-version file to ``<path>.schema-v<N>.bak`` before it is migrated.

    Runs outside any transaction (SQLite's online backup); a backup already there is kept,
    so it is the file as the old version left it.

    Returns:
        The backup's path, or ``None`` when no migration is due.
    """
    version = _version(conn)
    if version is None or version >= SCHEMA_VERSION:
        return None
    backup = path.with_name(f"{path.name}.schema-v{version}.bak")
    if not backup.exists():
        # Written under a name of its own, then renamed: two processes opening the old file
        # at once each make a whole copy, and the backup is never half written.
        partial = backup.with_name(f"{backup.name}.{os.getpid()}.tmp")
        target = sqlite3.connect(partial)
        try:
            conn.backup(target)
        finally:
            target.close()
        os.replace(partial, backup)
        logger.warning(
            "Journal %s is schema version %d; copied to %s before migrating to %d",
            path,
            version,
            backup,
            SCHEMA_VERSION,
        )
    return backup


def create_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables, migrate an older file, or check that a file's version is known.

    Runs inside the caller's write transaction, so two processes opening a new or old file
    at once do not both create or migrate it; foreign keys must be off on ``conn`` (a
    migration may rebuild a table others refer to).

    Raises:
        InvalidInputError: The file was written by a newer version of the daemon.
        sqlite3.IntegrityError: A migration left a row without the row it refers to (the
            transaction is then rolled back: the file stays as it was).
    """
    version = _version(conn)
    if version is not None and version > SCHEMA_VERSION:
        raise InvalidInputError(
            f"journal schema version {version} is newer than this daemon's {SCHEMA_VERSION}; "
            "run the newer daemon or move the file aside",
            str(path),
        )
    # executescript() would commit the caller's transaction; run statements one by one.
    for statement in _TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    if version is None:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    elif version < SCHEMA_VERSION:
        _migrate(conn, version)
        logger.info(
            "Journal %s migrated from schema version %d to %d", path, version, SCHEMA_VERSION
        )
    for statement in _LATE_INDEXES:
        conn.execute(statement)


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Run the steps from ``version`` to ``SCHEMA_VERSION`` and record the new version."""
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[step]:
            if isinstance(statement, str):
                conn.execute(statement)
            else:
                statement(conn)
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise sqlite3.IntegrityError(f"migration left dangling references: {broken}")
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


def _money(value: str | None) -> str:
    return "-" if value is None else f"${Decimal(value):,.2f}"


def _order_line(order: JournalOrder, attributed: bool) -> str:
    line = f"{order.side} {abs(order.quantity)} {order.symbol} @ {order.price}"
    if order.order_id is not None:
        line += f" (order {order.order_id})"
    elif order.status is None:
        line += " (about to be sent)"
    if order.status is not None:
        line += f" -> {order.status}"
        if order.filled_quantity:
            line += f" {abs(order.filled_quantity)}"
            if order.avg_fill_price is not None:
                line += f" @ {order.avg_fill_price}"
    if attributed and order.attribution is not None:
        line += f" for {shares_text(order.attribution)}"
    if order.reconciliation:
        line += f" [reconciled: {order.reconciliation}]"
    return line


def _proposed_lines(result_json: str | None) -> list[str]:
    # Read as plain JSON, not as a result model: documents of earlier versions stay readable.
    if not result_json:
        return []
    trades = [t for t in json.loads(result_json).get("trades", []) if t.get("order_id") is None]
    shares = [_attribution(t.get("attribution")) for t in trades]
    attributed = len(strategies_of(shares)) > 1
    return [
        f"proposed {'BUY' if t['quantity'] > 0 else 'SELL'} {abs(t['quantity'])} "
        f"{t['symbol']} @ {t['price']}"
        + (f" for {shares_text(share)}" if attributed and share is not None else "")
        for t, share in zip(trades, shares, strict=True)
    ]


def _attribution(value: object) -> StrategyAttribution | None:
    return StrategyAttribution.model_validate(value) if isinstance(value, dict) else None


def _execution_lines(result_json: str | None) -> list[str]:
    if not result_json:
        return []
    report = json.loads(result_json).get("execution")
    if not report:
        return []
    return [execution_summary(ExecutionReport.model_validate(report))]


def _run_lines(conn: sqlite3.Connection, run: sqlite3.Row) -> list[str]:
    status = run["status"] or "UNFINISHED"
    ended = run["finished_at"] or "never recorded an end"
    lines = [
        f"{run['started_at']}  {run['account_id']}  {run['mode']}  {status}  "
        f"(run {run['run_id']}, client id {run['client_id']}, pid {run['pid']}, end {ended})"
    ]
    if run["total_value"] is not None or run["cash_balance"] is not None:
        lines.append(f"    value {_money(run['total_value'])}, cash {_money(run['cash_balance'])}")
    orders = orders_of(conn, run["run_id"])
    # Attribution only tells something when the run's orders are for several strategies.
    attributed = len(strategies_of(o.attribution for o in orders)) > 1
    lines.extend(f"    {_order_line(order, attributed)}" for order in orders)
    lines.extend(f"    {line}" for line in _proposed_lines(run["result_json"]))
    lines.extend(f"    {line}" for line in _execution_lines(run["result_json"]))
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
