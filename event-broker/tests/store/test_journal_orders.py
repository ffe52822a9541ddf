"""Journal schema 3: orders keyed by the broker's permanent id, intents, the trading day written
with the first order, reconciliation records, and the migration of older files."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import app.store.reconciliation as records
import pytest
from app.store.files import JOURNAL_FILE, PDT_STATE_FILE, PDT_STATE_IMPORTED_FILE
from app.store.journal import Journal
from app.store.journal_schema import SCHEMA_VERSION
from app.store.legacy import import_legacy_pdt_state
from broker_connector_base import InvalidInputError, OrderStatus, PositionDifference, Trade
from broker_connector_base.types import trading_day

_VERSION_2 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
INSERT INTO schema_version VALUES (2);
CREATE TABLE events (id INTEGER PRIMARY KEY, event_id TEXT, channel TEXT NOT NULL,
    payload TEXT NOT NULL, received_at TEXT NOT NULL, outcome TEXT, published_ms INTEGER);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, mode TEXT NOT NULL,
    client_id INTEGER NOT NULL, event_row INTEGER, started_at TEXT NOT NULL,
    pid INTEGER NOT NULL, finished_at TEXT, status TEXT, error TEXT, total_value TEXT,
    cash_balance TEXT, warnings TEXT, result_json TEXT);
CREATE TABLE orders (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, order_id TEXT,
    symbol TEXT NOT NULL, side TEXT NOT NULL, quantity INTEGER NOT NULL, price TEXT NOT NULL,
    status TEXT, filled_quantity INTEGER, avg_fill_price TEXT, trade_json TEXT NOT NULL,
    recorded_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE UNIQUE INDEX orders_by_order_id ON orders (run_id, order_id) WHERE order_id IS NOT NULL;
CREATE UNIQUE INDEX orders_planned ON orders (run_id, symbol) WHERE order_id IS NULL;
INSERT INTO runs (run_id, account_id, mode, client_id, started_at, pid)
    VALUES ('old-run', 'DU1', 'rebalance', 7, '2026-11-20T15:00:00+00:00', 1);
INSERT INTO orders (run_id, order_id, symbol, side, quantity, price, status, trade_json,
    recorded_at, updated_at)
    VALUES ('old-run', '5', 'SPY', 'SELL', -3, '600', 'WORKING', '{}',
    '2026-11-20T15:00:01+00:00', '2026-11-20T15:00:01+00:00');
"""


def trade(**fields: Any) -> Trade:
    values: dict[str, Any] = {
        "symbol": "SPY",
        "quantity": -3,
        "current_shares": 10,
        "target_value": "0",
        "current_value": "1800",
        "price": "600",
    }
    values.update(fields)
    return Trade.model_validate(values)


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    with Journal(tmp_path / JOURNAL_FILE) as opened:
        opened.start_run(run_id="run-1", account_id="DU1", mode="rebalance", client_id=1)
        yield opened


def _orders(journal: Journal) -> list[tuple[Any, ...]]:
    rows = journal.query(
        "SELECT order_id, perm_id, symbol, status, filled_quantity FROM orders ORDER BY seq"
    )
    return [tuple(row) for row in rows]


def test_version_2_file_is_migrated_to_current_keeping_its_orders_and_order_ids_may_repeat(
    tmp_path: Path,
) -> None:
    path = tmp_path / JOURNAL_FILE
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(_VERSION_2)

    with Journal(path) as journal:
        # After a gateway restart within the run, order id 5 belongs to another order.
        journal.record_order(run_id="old-run", trade=trade())
        journal.record_order(run_id="old-run", trade=trade(order_id="5", perm_id="901"))
        versions = journal.query("SELECT MAX(version) FROM schema_version")

        assert tuple(versions[0]) == (SCHEMA_VERSION,)
        assert _orders(journal) == [
            ("5", None, "SPY", "WORKING", None),
            ("5", "901", "SPY", None, None),
        ]
        indexes = {row["name"] for row in journal.query("PRAGMA index_list(orders)")}
        assert {"orders_by_order_id", "orders_planned"}.isdisjoint(indexes)
        assert {"orders_by_perm_id", "orders_about_to_be_sent"} <= indexes


def test_order_rows_follow_intent_ack_and_fill_by_perm_id(journal: Journal) -> None:
    journal.record_order(run_id="run-1", trade=trade())
    journal.record_order(
        run_id="run-1", trade=trade(order_id="5", perm_id="900", status=OrderStatus.WORKING)
    )
    journal.record_order(run_id="run-1", trade=trade(order_id="9", perm_id="901"))  # other order
    journal.record_order(
        run_id="run-1",
        trade=trade(
            order_id="5",
            perm_id="900",
            status=OrderStatus.FILLED,
            filled_quantity=-3,
            avg_fill_price=Decimal("600.10"),
        ),
    )

    assert _orders(journal) == [
        ("5", "900", "SPY", "FILLED", -3),
        ("9", "901", "SPY", None, None),
    ]


def test_refused_order_without_id_does_not_swallow_the_next_intent(journal: Journal) -> None:
    journal.record_order(run_id="run-1", trade=trade())
    journal.record_order(run_id="run-1", trade=trade(status=OrderStatus.REJECTED))
    journal.record_order(run_id="run-1", trade=trade())  # the next round tries again

    assert _orders(journal) == [
        (None, None, "SPY", "REJECTED", None),
        (None, None, "SPY", None, None),
    ]


def test_order_and_its_trading_day_are_written_together_or_not_at_all(journal: Journal) -> None:
    with journal.transaction() as conn:
        conn.execute(
            "CREATE TEMP TRIGGER no_days BEFORE INSERT ON pdt_days"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )

    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        journal.record_order(run_id="run-1", trade=trade())

    assert _orders(journal) == []
    assert journal.query("SELECT * FROM pdt_days") == []


def test_unresolved_orders_and_their_resolution(journal: Journal) -> None:
    journal.record_order(run_id="run-1", trade=trade(order_id="5", perm_id="900"))
    journal.record_order(run_id="run-1", trade=trade(symbol="TLT"))
    journal.start_run(run_id="run-2", account_id="DU1", mode="rebalance", client_id=1)
    journal.record_order(run_id="run-2", trade=trade(symbol="GLD", status=OrderStatus.FILLED))

    [pending] = records.unresolved_orders(journal, "DU1", exclude_run="run-2")
    (seq, first), (_, second) = pending.orders
    filled = first.model_copy(update={"status": OrderStatus.FILLED, "filled_quantity": -3})
    records.resolve_order(journal, seq, filled, note="filled", final=True)
    left = records.unresolved_orders(journal, "DU1")

    assert pending.run_id == "run-1"
    assert (first.perm_id, second.symbol) == ("900", "TLT")
    assert [[t.symbol for _, t in run.orders] for run in left] == [["TLT"]]
    assert records.unresolved_orders(journal, "DU2") == []


def test_position_baseline_and_fills_since_it(journal: Journal) -> None:
    assert records.position_baseline(journal, "DU1") is None
    before = datetime.now(UTC) - timedelta(seconds=1)
    records.record_position_check(
        journal,
        "DU1",
        kind="after-run",
        positions={"SPY": Decimal(10)},
        differences=[PositionDifference(symbol="SPY", expected=Decimal(9), actual=Decimal(10))],
        run_id="run-0",
    )
    journal.start_run(run_id="run-2", account_id="DU1", mode="rebalance", client_id=1)
    journal.record_order(run_id="run-2", trade=trade(order_id="1", filled_quantity=-3))

    baseline = records.position_baseline(journal, "DU1")

    assert baseline is not None
    assert baseline.positions == {"SPY": Decimal(10)}
    assert baseline.checked_at > before
    assert records.fills_since(journal, "DU1", baseline.checked_at) == {"SPY": Decimal(-3)}


def test_previous_pdt_state_is_imported_as_a_used_day_and_renamed(tmp_path: Path) -> None:
    data_dir = tmp_path
    today = datetime.now(UTC)
    with contextlib.closing(sqlite3.connect(data_dir / PDT_STATE_FILE)) as conn, conn:
        conn.execute(
            "CREATE TABLE pdt_executions (account_id TEXT PRIMARY KEY, last_executed TEXT)"
        )
        conn.execute("INSERT INTO pdt_executions VALUES ('DU1', ?)", (today.isoformat(),))

    with Journal(data_dir / JOURNAL_FILE) as journal:
        imported = import_legacy_pdt_state(journal, data_dir)
        again = import_legacy_pdt_state(journal, data_dir)
        rows = [
            tuple(r) for r in journal.query("SELECT account_id, trading_day, run_id FROM pdt_days")
        ]

    assert (imported, again) == (1, 0)
    assert rows == [("DU1", trading_day(today).isoformat(), None)]
    assert not (data_dir / PDT_STATE_FILE).exists()
    assert (data_dir / PDT_STATE_IMPORTED_FILE).exists()


def test_unreadable_previous_pdt_state_refuses_to_start_and_is_kept(tmp_path: Path) -> None:
    (tmp_path / PDT_STATE_FILE).write_bytes(b"not a database at all" * 100)

    with Journal(tmp_path / JOURNAL_FILE) as journal, pytest.raises(InvalidInputError) as caught:
        import_legacy_pdt_state(journal, tmp_path)

    assert caught.value.source == str(tmp_path / PDT_STATE_FILE)
    assert "could be rebalanced twice on a day" in str(caught.value)
    assert (tmp_path / PDT_STATE_FILE).exists()
