"""The journal's ``orders`` table: one row per order of a run, updated as its state changes,
and the trading day each run's first order opens (PDT, ``pdt_days``).

Functions on a connection run inside the caller's write transaction (``Journal``), so an order
and the trading day it opens are committed together: a process killed at any later instant
leaves both or neither.

An order row is found again by, in this order: its permanent id (``perm_id``; IB may give its
order id to another order after a gateway restart), its intent (written before the order is
sent: the run's row of that symbol without order id and status), or its order id with its
symbol while the perm id is not known.

``attribution`` holds the strategies the order is for: a JSON object of strategy name to its
share of the order, as exact decimal text (``{"growth":"0.6","income":"0.4"}``; ``{}`` for
a position no strategy of the account targets, being sold), ``NULL`` when the trade was not
attributed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from broker_connector_base import StrategyAttribution, Trade
from broker_connector_base.types import trading_day

__all__ = [
    "RECONCILIATION_TABLES",
    "JournalOrder",
    "attribution_column",
    "columns",
    "orders_of",
    "record_trading_day",
    "upsert_order",
]

RECONCILIATION_TABLES = """
-- PDT protection: the New York day a run first placed an order for an account, and the one
-- completion run a run that ended incomplete allows that day. run_id NULL: imported from the
-- previous version's pdt-state.sqlite3 (which run it was is not known).
CREATE TABLE IF NOT EXISTS pdt_days (
    account_id TEXT NOT NULL,
    trading_day TEXT NOT NULL,
    run_id TEXT,
    first_order_at TEXT NOT NULL,
    completion_run_id TEXT,
    completion_at TEXT,
    PRIMARY KEY (account_id, trading_day)
);

-- What a position check saw: after a run ('after-run'), or on the schedule ('periodic').
-- differences_json lists {symbol, expected, actual}, [] when the broker matched.
CREATE TABLE IF NOT EXISTS position_checks (
    id INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('after-run', 'periodic')),
    run_id TEXT,
    positions_json TEXT NOT NULL,
    differences_json TEXT NOT NULL,
    notified INTEGER NOT NULL CHECK (notified IN (0, 1))
);
CREATE INDEX IF NOT EXISTS position_checks_by_account ON position_checks (account_id, id);
"""


def columns(row: sqlite3.Row, record: type, *, but: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The columns of ``row`` named like the fields of the dataclass ``record`` (bar ``but``)."""
    return {f.name: row[f.name] for f in fields(record) if f.name not in but}


@dataclass(frozen=True)
class JournalOrder:
    """An order as last recorded. Decimals are exact; ``side`` is ``BUY`` or ``SELL``."""

    order_id: str | None
    symbol: str
    side: str
    quantity: int
    price: str
    status: str | None
    filled_quantity: int | None
    avg_fill_price: str | None
    recorded_at: str
    updated_at: str
    attribution: StrategyAttribution | None = None
    perm_id: str | None = None
    reconciliation: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JournalOrder:
        """The order of an ``orders`` row (its ``attribution`` column parsed)."""
        values = columns(row, cls, but=frozenset({"attribution"}))
        stored = row["attribution"]
        shares = None if stored is None else StrategyAttribution(shares=json.loads(stored))
        return cls(**values, attribution=shares)


def attribution_column(attribution: StrategyAttribution | None) -> str | None:
    """The ``attribution`` column's text for a trade's attribution (sorted, exact decimals)."""
    if attribution is None:
        return None
    shares = {name: str(share) for name, share in sorted(attribution.shares.items())}
    return json.dumps(shares, separators=(",", ":"))


def orders_of(conn: sqlite3.Connection, run_id: str) -> tuple[JournalOrder, ...]:
    """The orders of ``run_id`` in the order they were first recorded."""
    rows = conn.execute("SELECT * FROM orders WHERE run_id = ? ORDER BY seq", (run_id,))
    return tuple(JournalOrder.from_row(row) for row in rows)


_SET = (
    "UPDATE orders SET order_id = ?, symbol = ?, side = ?, quantity = ?, price = ?,"
    " status = ?, filled_quantity = ?, avg_fill_price = ?, trade_json = ?, attribution = ?,"
    " updated_at = ?,"
    " perm_id = ?, reconciled_at = COALESCE(?, reconciled_at),"
    " reconciliation = COALESCE(?, reconciliation) WHERE run_id = ? AND "
)


def _values(trade: Trade, now: str, note: str | None) -> tuple[object, ...]:
    return (
        trade.order_id,
        trade.symbol,
        trade.action,
        trade.quantity,
        str(trade.price),
        None if trade.status is None else str(trade.status),
        trade.filled_quantity,
        None if trade.avg_fill_price is None else str(trade.avg_fill_price),
        trade.model_dump_json(),
        attribution_column(trade.attribution),
        now,
        trade.perm_id,
        None if note is None else now,
        note,
    )


def _existing(conn: sqlite3.Connection, run_id: str, trade: Trade) -> int | None:
    """The ``seq`` of the row ``trade`` was recorded in before, if any."""
    lookups: list[tuple[str, tuple[object, ...]]] = []
    if trade.perm_id is not None:
        lookups.append(("perm_id = ?", (trade.perm_id,)))
    # The intent of this order, before an older row that had the same order id (IB reuses
    # ids after a gateway restart) could be taken for it.
    lookups.append(("order_id IS NULL AND status IS NULL AND symbol = ?", (trade.symbol,)))
    if trade.order_id is not None:
        lookups.append(
            ("order_id = ? AND perm_id IS NULL AND symbol = ?", (trade.order_id, trade.symbol))
        )
    for where, params in lookups:
        row = conn.execute(
            f"SELECT seq FROM orders WHERE run_id = ? AND {where} ORDER BY seq LIMIT 1",
            (run_id, *params),
        ).fetchone()
        if row is not None:
            return int(row[0])
    return None


def upsert_order(
    conn: sqlite3.Connection, run_id: str, trade: Trade, *, note: str | None = None
) -> int:
    """Insert or update one order of ``run_id``; returns its ``seq``.

    Args:
        conn: A connection inside a write transaction.
        run_id: The run the order belongs to.
        trade: The order as it is now.
        note: How reconciliation resolved it (sets ``reconciled_at`` too).
    """
    now = datetime.now(UTC).isoformat()
    values = _values(trade, now, note)
    seq = _existing(conn, run_id, trade)
    if seq is not None:
        conn.execute(_SET + "seq = ?", (*values, run_id, seq))
        return seq
    cursor = conn.execute(
        "INSERT INTO orders (order_id, symbol, side, quantity, price, status, filled_quantity,"
        " avg_fill_price, trade_json, attribution, updated_at, perm_id, reconciled_at,"
        " reconciliation, run_id, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*values, run_id, now),
    )
    assert cursor.lastrowid is not None  # an INSERT always sets it
    return cursor.lastrowid


def record_trading_day(
    conn: sqlite3.Connection, account_id: str, run_id: str, moment: datetime
) -> None:
    """Note that ``run_id`` places an order for ``account_id`` on ``moment``'s New York day.

    The first run to do so opens the day; a later run that day becomes its completion run
    (the PDT rule allows one after an incomplete run: ``app.runs.pdt``). Idempotent.
    """
    day = trading_day(moment).isoformat()
    stamp = moment.astimezone(UTC).isoformat(timespec="microseconds")
    conn.execute(
        "INSERT INTO pdt_days (account_id, trading_day, run_id, first_order_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (account_id, trading_day) DO NOTHING",
        (account_id, day, run_id, stamp),
    )
    conn.execute(
        "UPDATE pdt_days SET completion_run_id = ?, completion_at = ?"
        " WHERE account_id = ? AND trading_day = ? AND run_id IS NOT ?"
        " AND completion_run_id IS NULL",
        (run_id, stamp, account_id, day, run_id),
    )
