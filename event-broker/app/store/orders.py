"""The journal's ``orders`` table: one row per order of a run, updated as its state changes.

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

__all__ = ["JournalOrder", "attribution_column", "columns", "orders_of", "upsert_order"]


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


def _update_order(
    conn: sqlite3.Connection, run_id: str, trade: Trade, values: tuple[object, ...]
) -> bool:
    update = (
        "UPDATE orders SET order_id = ?, symbol = ?, side = ?, quantity = ?, price = ?,"
        " status = ?, filled_quantity = ?, avg_fill_price = ?, trade_json = ?,"
        " attribution = ?, updated_at = ? WHERE run_id = ? AND "
    )
    if trade.order_id is not None:
        cursor = conn.execute(update + "order_id = ?", (*values, run_id, trade.order_id))
        if cursor.rowcount:
            return True
    cursor = conn.execute(
        update + "order_id IS NULL AND symbol = ?", (*values, run_id, trade.symbol)
    )
    return cursor.rowcount > 0


def upsert_order(conn: sqlite3.Connection, run_id: str, trade: Trade) -> None:
    """Insert or update an order of ``run_id`` (see ``Journal.record_order`` for the keys)."""
    now = datetime.now(UTC).isoformat()
    values = (
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
    )
    if not _update_order(conn, run_id, trade, values):
        conn.execute(
            "INSERT INTO orders (order_id, symbol, side, quantity, price, status,"
            " filled_quantity, avg_fill_price, trade_json, attribution, updated_at, run_id,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*values, run_id, now),
        )
