"""What reconciliation reads from and writes to the journal: orders left in a non-final state,
what the broker says became of them, and the position checks.

An order is unresolved while its status is not final (``FILLED``, ``CANCELLED``, ``REJECTED``,
``EXPIRED``) and no reconciliation closed it: a run that was killed, timed out or lost its
connection leaves such rows. Reconciliation (``app.trading.reconcile``, in a worker) asks the
broker by the run id and writes here what really happened; an order still working at the
broker is updated but stays unresolved, so the next reconciliation looks again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from broker_connector_base import PositionDifference, Trade

from app.store.journal import Journal

__all__ = [
    "PendingRun",
    "PositionBaseline",
    "fills_since",
    "perm_ids",
    "position_baseline",
    "record_position_check",
    "resolve_order",
    "unresolved_orders",
]

_FINAL = ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")


@dataclass(frozen=True)
class PendingRun:
    """A run with unresolved orders: ``(seq, trade)`` per order, in placement order."""

    run_id: str
    account_id: str
    started_at: datetime
    orders: tuple[tuple[int, Trade], ...]


@dataclass(frozen=True)
class PositionBaseline:
    """The positions a check last saw at the broker (the starting point of the next one)."""

    checked_at: datetime
    positions: dict[str, Decimal]


def unresolved_orders(
    journal: Journal,
    account_id: str,
    *,
    exclude_run: str | None = None,
    only_run: str | None = None,
) -> list[PendingRun]:
    """The account's runs with unresolved orders, oldest first.

    Args:
        journal: The journal.
        account_id: The account.
        exclude_run: A run to leave out (the one in progress).
        only_run: Only this run.
    """
    rows = journal.query(
        "SELECT o.seq, o.trade_json, o.status, r.run_id, r.started_at FROM orders o"
        " JOIN runs r ON r.run_id = o.run_id"
        " WHERE r.account_id = ? AND r.mode = 'rebalance' AND o.reconciled_at IS NULL"
        f" AND (o.status IS NULL OR o.status NOT IN ({', '.join('?' * len(_FINAL))}))"
        " AND r.run_id IS NOT ? AND (? IS NULL OR r.run_id = ?)"
        " ORDER BY r.started_at, r.run_id, o.seq",
        (account_id, *_FINAL, exclude_run, only_run, only_run),
    )
    runs: dict[str, tuple[datetime, list[tuple[int, Trade]]]] = {}
    for row in rows:
        trade = Trade.model_validate_json(row["trade_json"])
        # The row's own status is the latest (reconciliation updates it with the JSON).
        started = datetime.fromisoformat(row["started_at"])
        runs.setdefault(row["run_id"], (started, []))[1].append((row["seq"], trade))
    return [
        PendingRun(run_id, account_id, started, tuple(orders))
        for run_id, (started, orders) in runs.items()
    ]


def perm_ids(journal: Journal, run_id: str) -> set[str]:
    """The broker's permanent ids of the orders ``run_id`` journalled (resolved or not)."""
    rows = journal.query(
        "SELECT perm_id FROM orders WHERE run_id = ? AND perm_id IS NOT NULL", (run_id,)
    )
    return {str(row["perm_id"]) for row in rows}


def resolve_order(journal: Journal, seq: int, trade: Trade, *, note: str, final: bool) -> None:
    """Write what the broker says of the order in row ``seq``.

    Args:
        journal: The journal.
        seq: The order's row.
        trade: The order as the broker's record shows it.
        note: How it was resolved, for the owner and the journal summary.
        final: The order can no longer change; later reconciliations leave it alone.
    """
    now = datetime.now(UTC).isoformat()
    with journal.transaction() as conn:
        conn.execute(
            "UPDATE orders SET order_id = ?, perm_id = ?, status = ?, filled_quantity = ?,"
            " avg_fill_price = ?, trade_json = ?, updated_at = ?, reconciliation = ?,"
            " reconciled_at = ? WHERE seq = ?",
            (
                trade.order_id,
                trade.perm_id,
                None if trade.status is None else str(trade.status),
                trade.filled_quantity,
                None if trade.avg_fill_price is None else str(trade.avg_fill_price),
                trade.model_dump_json(),
                now,
                note,
                now if final else None,
                seq,
            ),
        )


def record_position_check(
    journal: Journal,
    account_id: str,
    *,
    kind: str,
    positions: dict[str, Decimal],
    differences: list[PositionDifference],
    run_id: str | None = None,
    notified: bool = False,
) -> None:
    """Record what a position check saw (``kind``: ``after-run`` or ``periodic``)."""
    with journal.transaction() as conn:
        conn.execute(
            "INSERT INTO position_checks (account_id, checked_at, kind, run_id,"
            " positions_json, differences_json, notified) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                account_id,
                datetime.now(UTC).isoformat(timespec="microseconds"),
                kind,
                run_id,
                json.dumps({s: str(q) for s, q in sorted(positions.items())}),
                json.dumps([d.model_dump(mode="json") for d in differences]),
                int(notified),
            ),
        )


def position_baseline(journal: Journal, account_id: str) -> PositionBaseline | None:
    """The positions the account's last check saw, or ``None`` before the first check."""
    rows = journal.query(
        "SELECT checked_at, positions_json FROM position_checks WHERE account_id = ?"
        " ORDER BY id DESC LIMIT 1",
        (account_id,),
    )
    if not rows:
        return None
    positions = {s: Decimal(q) for s, q in json.loads(rows[0]["positions_json"]).items()}
    return PositionBaseline(datetime.fromisoformat(rows[0]["checked_at"]), positions)


def fills_since(journal: Journal, account_id: str, since: datetime) -> dict[str, Decimal]:
    """Shares filled per symbol (signed) by the account's rebalances started after ``since``."""
    rows = journal.query(
        "SELECT o.symbol, SUM(o.filled_quantity) AS filled FROM orders o"
        " JOIN runs r ON r.run_id = o.run_id"
        " WHERE r.account_id = ? AND r.mode = 'rebalance' AND r.started_at > ?"
        " AND o.filled_quantity IS NOT NULL GROUP BY o.symbol",
        (account_id, since.astimezone(UTC).isoformat()),
    )
    return {row["symbol"]: Decimal(row["filled"]) for row in rows if row["filled"]}
