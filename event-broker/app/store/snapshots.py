"""Portfolio snapshots and the cash flows found between them, in the journal file (schema 3).

Written by ``Journal.finish_run`` in the same transaction as the run's end, so a snapshot
always belongs to a finished run, and its cash flow (``app.snapshots.flows``) is reconciled
against the orders journalled before it. Read back by ``Journal``'s snapshot methods for the
report. Decimals are stored as text and read back exactly.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from broker_connector_base import InvalidInputError

from app.snapshots.flows import Fill, reconcile
from app.snapshots.model import BenchmarkQuote, PortfolioSnapshot, SnapshotPosition

__all__ = [
    "CashFlow",
    "RunSummary",
    "SnapshotValue",
    "cash_flows",
    "insert_snapshot",
    "last_snapshot_at",
    "latest_snapshot",
    "recent_runs",
    "snapshot_values",
]


def _utc(value: datetime) -> str:
    # Fixed width (microseconds always written), so text order is time order.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInputError(f"{where} is {text!r}, not a decimal", "journal") from None
    if not value.is_finite():
        raise InvalidInputError(f"{where} is {text!r}, not a finite decimal", "journal")
    return value


@dataclass(frozen=True)
class SnapshotValue:
    """One snapshot as the value series needs it."""

    taken_at: datetime
    trading_date: date
    total_value: Decimal
    cash: Decimal
    benchmark: BenchmarkQuote | None


@dataclass(frozen=True)
class CashFlow:
    """A deposit (+) or withdrawal (−) found between two snapshots, with its reconciliation."""

    flow_date: date
    amount: Decimal
    taken_at: datetime
    cash_change: Decimal
    fills_cash: Decimal
    commissions: Decimal
    fills: int


@dataclass(frozen=True)
class RunSummary:
    """A run of an account as the report lists it."""

    run_id: str
    mode: str
    status: str | None
    started_at: datetime
    finished_at: datetime | None
    trades: int
    error: str | None


def _fills_between(conn: sqlite3.Connection, account_id: str, after: str, until: str) -> list[Fill]:
    rows = conn.execute(
        "SELECT o.filled_quantity, o.avg_fill_price, o.price, o.trade_json FROM orders o"
        " JOIN runs r ON r.run_id = o.run_id WHERE r.account_id = ? AND r.mode = 'rebalance'"
        " AND r.started_at > ? AND r.started_at <= ? AND o.filled_quantity != 0",
        (account_id, after, until),
    )
    fills = []
    for row in rows:
        # A fill without an average price (a connector that did not report one) is counted
        # at the planned price rather than dropped: the residual is then off by the slippage.
        price = row["avg_fill_price"] if row["avg_fill_price"] is not None else row["price"]
        commission = json.loads(row["trade_json"]).get("estimated_commission")
        fills.append(
            Fill(
                quantity=int(row["filled_quantity"]),
                price=Decimal(price),
                commission=None if commission is None else Decimal(str(commission)),
            )
        )
    return fills


def insert_snapshot(
    conn: sqlite3.Connection, run_id: str, snapshot: PortfolioSnapshot
) -> CashFlow | None:
    """Store ``snapshot`` of run ``run_id`` and the cash flow since the account's previous one.

    Returns:
        The flow found, or ``None`` (first snapshot, or nothing unexplained).
    """
    taken = _utc(snapshot.taken_at)
    previous = conn.execute(
        "SELECT id, taken_at, cash, total_value FROM snapshots WHERE account_id = ?"
        " AND taken_at < ? ORDER BY taken_at DESC LIMIT 1",
        (snapshot.account_id, taken),
    ).fetchone()
    benchmark = snapshot.benchmark
    cursor = conn.execute(
        "INSERT INTO snapshots (run_id, account_id, taken_at, trading_date, total_value, cash,"
        " settled_cash, targets_known, benchmark_symbol, benchmark_price)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            snapshot.account_id,
            taken,
            snapshot.trading_date.isoformat(),
            str(snapshot.total_value),
            str(snapshot.cash),
            str(snapshot.settled_cash),
            int(snapshot.targets is not None),
            None if benchmark is None else benchmark.symbol,
            None if benchmark is None else str(benchmark.price),
        ),
    )
    snapshot_id = cursor.lastrowid
    conn.executemany(
        "INSERT INTO snapshot_positions (snapshot_id, symbol, quantity, price, value)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (snapshot_id, p.symbol, str(p.quantity), str(p.price), str(p.value))
            for p in snapshot.positions
        ],
    )
    conn.executemany(
        "INSERT INTO snapshot_targets (snapshot_id, symbol, weight) VALUES (?, ?, ?)",
        [(snapshot_id, symbol, str(w)) for symbol, w in sorted((snapshot.targets or {}).items())],
    )
    if previous is None:
        return None
    check = reconcile(
        previous_cash=Decimal(previous["cash"]),
        previous_value=Decimal(previous["total_value"]),
        current_cash=snapshot.cash,
        fills=_fills_between(conn, snapshot.account_id, previous["taken_at"], taken),
    )
    amount = check.flow
    if amount is None:
        return None
    flow = CashFlow(
        flow_date=snapshot.trading_date,
        amount=amount,
        taken_at=snapshot.taken_at,
        cash_change=check.cash_change,
        fills_cash=check.fills_cash,
        commissions=check.commissions,
        fills=check.fills,
    )
    conn.execute(
        "INSERT INTO cash_flows (snapshot_id, previous_snapshot_id, account_id, flow_date,"
        " amount, cash_change, fills_cash, commissions, fills)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            snapshot_id,
            previous["id"],
            snapshot.account_id,
            flow.flow_date.isoformat(),
            str(flow.amount),
            str(flow.cash_change),
            str(flow.fills_cash),
            str(flow.commissions),
            flow.fills,
        ),
    )
    return flow


def _benchmark(row: sqlite3.Row) -> BenchmarkQuote | None:
    if row["benchmark_symbol"] is None:
        return None
    where = f"snapshot {row['id']} benchmark_price"
    return BenchmarkQuote(
        symbol=row["benchmark_symbol"], price=_decimal(row["benchmark_price"], where)
    )


def snapshot_values(
    conn: sqlite3.Connection, account_id: str, since: date | None
) -> list[SnapshotValue]:
    """Every snapshot of ``account_id`` from New York day ``since`` on, oldest first."""
    rows = conn.execute(
        "SELECT * FROM snapshots WHERE account_id = ? AND trading_date >= ? ORDER BY taken_at, id",
        (account_id, since.isoformat() if since else ""),
    )
    return [
        SnapshotValue(
            taken_at=datetime.fromisoformat(row["taken_at"]),
            trading_date=date.fromisoformat(row["trading_date"]),
            total_value=_decimal(row["total_value"], f"snapshot {row['id']} total_value"),
            cash=_decimal(row["cash"], f"snapshot {row['id']} cash"),
            benchmark=_benchmark(row),
        )
        for row in rows
    ]


def latest_snapshot(conn: sqlite3.Connection, account_id: str) -> PortfolioSnapshot | None:
    """The most recent snapshot of ``account_id`` with its positions and targets."""
    row = conn.execute(
        "SELECT * FROM snapshots WHERE account_id = ? ORDER BY taken_at DESC, id DESC LIMIT 1",
        (account_id,),
    ).fetchone()
    if row is None:
        return None
    where = f"snapshot {row['id']}"
    positions = [
        SnapshotPosition(
            symbol=p["symbol"],
            quantity=_decimal(p["quantity"], f"{where} {p['symbol']} quantity"),
            price=_decimal(p["price"], f"{where} {p['symbol']} price"),
            value=_decimal(p["value"], f"{where} {p['symbol']} value"),
        )
        for p in conn.execute(
            "SELECT * FROM snapshot_positions WHERE snapshot_id = ? ORDER BY symbol", (row["id"],)
        )
    ]
    targets = None
    if row["targets_known"]:
        targets = {
            t["symbol"]: _decimal(t["weight"], f"{where} target {t['symbol']}")
            for t in conn.execute(
                "SELECT * FROM snapshot_targets WHERE snapshot_id = ? ORDER BY symbol",
                (row["id"],),
            )
        }
    return PortfolioSnapshot(
        account_id=row["account_id"],
        taken_at=datetime.fromisoformat(row["taken_at"]),
        total_value=_decimal(row["total_value"], f"{where} total_value"),
        cash=_decimal(row["cash"], f"{where} cash"),
        settled_cash=_decimal(row["settled_cash"], f"{where} settled_cash"),
        positions=tuple(positions),
        targets=targets,
        benchmark=_benchmark(row),
    )


def last_snapshot_at(conn: sqlite3.Connection, account_id: str) -> datetime | None:
    """When the most recent snapshot of ``account_id`` was taken."""
    row = conn.execute(
        "SELECT MAX(taken_at) FROM snapshots WHERE account_id = ?", (account_id,)
    ).fetchone()
    return None if row[0] is None else datetime.fromisoformat(row[0])


def cash_flows(conn: sqlite3.Connection, account_id: str, since: date | None) -> list[CashFlow]:
    """The flows of ``account_id`` dated ``since`` or later, oldest first."""
    rows = conn.execute(
        "SELECT f.*, s.taken_at FROM cash_flows f JOIN snapshots s ON s.id = f.snapshot_id"
        " WHERE f.account_id = ? AND f.flow_date >= ? ORDER BY s.taken_at",
        (account_id, since.isoformat() if since else ""),
    )
    return [
        CashFlow(
            flow_date=date.fromisoformat(row["flow_date"]),
            amount=_decimal(row["amount"], f"cash flow of snapshot {row['snapshot_id']}"),
            taken_at=datetime.fromisoformat(row["taken_at"]),
            cash_change=Decimal(row["cash_change"]),
            fills_cash=Decimal(row["fills_cash"]),
            commissions=Decimal(row["commissions"]),
            fills=int(row["fills"]),
        )
        for row in rows
    ]


def _trade_count(row: sqlite3.Row) -> int:
    """Placed orders of a rebalance, proposed trades of a preview (both in the result)."""
    if row["result_json"]:
        return len(json.loads(row["result_json"]).get("trades", []))
    return int(row["order_count"])


def recent_runs(conn: sqlite3.Connection, account_id: str, limit: int) -> list[RunSummary]:
    """The ``limit`` most recent runs of ``account_id``, newest first."""
    rows = conn.execute(
        "SELECT r.*, (SELECT COUNT(*) FROM orders o WHERE o.run_id = r.run_id) AS order_count"
        " FROM runs r WHERE r.account_id = ? ORDER BY r.started_at DESC, r.rowid DESC LIMIT ?",
        (account_id, max(limit, 0)),
    )
    return [
        RunSummary(
            run_id=row["run_id"],
            mode=row["mode"],
            status=row["status"],
            started_at=datetime.fromisoformat(row["started_at"]),
            finished_at=(
                None if row["finished_at"] is None else datetime.fromisoformat(row["finished_at"])
            ),
            trades=_trade_count(row),
            error=row["error"],
        )
        for row in rows
    ]
