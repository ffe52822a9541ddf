"""The journal's schema migration: files earlier versions wrote (schema 1, 3) keep working."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest
from app.store.files import JOURNAL_FILE
from app.store.journal import Journal
from app.store.journal_schema import SCHEMA_VERSION
from broker_connector_base import InvalidInputError, StrategyAttribution, Trade

V1_RUN_IDS = [
    "20261203T082406Z-8bfaff1a",
    "20261203T082406Z-9a52d433",
    "20261203T082408Z-57e21c57",
    "20261203T082408Z-b714b751",
    "20261203T082409Z-9ca8546c",
]


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


_V1_EVENT_COLUMNS = "id, event_id, channel, payload, received_at, outcome"
_V1_ORDER_COLUMNS = (
    "seq, run_id, order_id, symbol, side, quantity, price, status, filled_quantity,"
    " avg_fill_price, trade_json, recorded_at, updated_at"
)


def _content(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the version 1 tables, in version 1's columns (later versions add some)."""
    return {
        "events": _rows(path, f"SELECT {_V1_EVENT_COLUMNS} FROM events ORDER BY 1"),
        "runs": _rows(path, "SELECT * FROM runs ORDER BY 1"),
        "orders": _rows(path, f"SELECT {_V1_ORDER_COLUMNS} FROM orders ORDER BY 1"),
    }


@pytest.fixture
def v1_file(tmp_path: Path, v1_journal: Callable[[Path], None]) -> Path:
    path = tmp_path / "data" / JOURNAL_FILE
    v1_journal(path)
    return path


def test_v1_journal_when_opened_then_migrated_to_current_version_with_every_row_kept(
    v1_file: Path,
) -> None:
    before = _content(v1_file)
    assert [r[0] for r in before["runs"]] == V1_RUN_IDS
    assert len(before["orders"]) == 10

    Journal(v1_file).close()

    assert _rows(v1_file, "SELECT version FROM schema_version ORDER BY version") == [
        (1,),
        (SCHEMA_VERSION,),
    ]
    assert _content(v1_file) == before
    assert SCHEMA_VERSION == 6
    # Version 6: no order has a perm id or a reconciliation yet, the PDT days and position
    # checks are new and empty, and order ids are no longer a unique key.
    assert _rows(v1_file, "SELECT COUNT(*) FROM orders WHERE perm_id IS NOT NULL") == [(0,)]
    assert _rows(v1_file, "SELECT COUNT(*) FROM orders WHERE reconciled_at IS NOT NULL") == [(0,)]
    assert _rows(v1_file, "SELECT COUNT(*) FROM pdt_days") == [(0,)]
    assert _rows(v1_file, "SELECT COUNT(*) FROM position_checks") == [(0,)]
    indexes = {str(row[1]) for row in _rows(v1_file, "PRAGMA index_list(orders)")}
    assert {"orders_by_order_id", "orders_planned"}.isdisjoint(indexes)
    assert {"orders_by_perm_id", "orders_about_to_be_sent"} <= indexes
    # Version 5's execution report tables are there, empty (no run of v1 had a report).
    assert _rows(v1_file, "SELECT COUNT(*) FROM executions") == [(0,)]
    assert _rows(v1_file, "SELECT COUNT(*) FROM order_executions") == [(0,)]
    # The attribution column is what each order's trade document carried.
    for attribution, trade_json in _rows(v1_file, "SELECT attribution, trade_json FROM orders"):
        carried = json.loads(str(trade_json)).get("attribution")
        expected = None if carried is None else carried["shares"]
        assert (None if attribution is None else json.loads(str(attribution))) == expected


def test_v1_journal_migration_keeps_a_backup_of_the_v1_file_once(v1_file: Path) -> None:
    before = _content(v1_file)

    Journal(v1_file).close()
    Journal(v1_file).close()

    backups = sorted(p.name for p in v1_file.parent.iterdir() if ".bak" in p.name)
    assert backups == [f"{JOURNAL_FILE}.schema-v1.bak"]
    backup = v1_file.parent / backups[0]
    assert _rows(backup, "SELECT version FROM schema_version") == [(1,)]
    assert _content(backup) == before
    assert not [p for p in v1_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_migrated_journal_takes_snapshot_runs_and_keeps_its_foreign_keys(v1_file: Path) -> None:
    with Journal(v1_file) as journal:
        journal.start_run(run_id="snap-1", account_id="DUM959247", mode="snapshot", client_id=1)
        # The old runs are still the parents of their orders...
        assert _rows(v1_file, "PRAGMA foreign_key_check") == []
        assert {row[2] for row in _rows(v1_file, "PRAGMA foreign_key_list(orders)")} == {"runs"}
        assert [r.run_id for r in journal.recent_runs("DUM959247", limit=10)][-2:] == [
            "20261203T082408Z-b714b751",
            "20261203T082406Z-8bfaff1a",
        ]
    # ...and enforced on the journal's connection after the migration.
    conn = sqlite3.connect(v1_file)
    conn.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO orders (run_id, symbol, side, quantity, price, trade_json,"
            " recorded_at, updated_at) VALUES ('no-such-run', 'SPY', 'BUY', 1, '1', '{}', 'x', 'x')"
        )
    conn.close()


def test_migrated_journal_still_remembers_every_event_id_for_deduplication(
    v1_file: Path,
) -> None:
    with Journal(v1_file) as journal:
        assert (
            journal.claim_event(event_id="manual-0cddaaca1fdb", channel="x", payload="{}") is None
        )
        assert journal.claim_event(event_id="manual-new", channel="x", payload="{}") is not None


def test_v1_journal_with_an_unfinished_run_is_migrated_and_still_reports_it(
    v1_file: Path,
) -> None:
    conn = sqlite3.connect(v1_file)
    with conn:
        conn.execute(
            "INSERT INTO runs (run_id, account_id, mode, client_id, started_at, pid)"
            " VALUES ('crashed', 'DUM959247', 'rebalance', 959247, '2026-12-03T09:00:00+00:00', 1)"
        )
    conn.close()

    with Journal(v1_file) as journal:
        unfinished = journal.unfinished_runs()

    assert [(r.run_id, r.mode, r.orders) for r in unfinished] == [("crashed", "rebalance", ())]


def test_v1_journal_when_migration_fails_then_file_stays_version_1_unchanged(
    v1_file: Path,
) -> None:
    # A table by the name the migration builds ``runs`` under, made by hand: the last step
    # fails after the earlier ones ran, so the whole migration must roll back.
    conn = sqlite3.connect(v1_file)
    with conn:
        conn.execute("CREATE TABLE runs_v3 (note TEXT)")
    conn.close()
    before = _content(v1_file)

    with pytest.raises(sqlite3.OperationalError, match="runs_v3 already exists"):
        Journal(v1_file)

    assert _rows(v1_file, "SELECT version FROM schema_version") == [(1,)]
    assert _content(v1_file) == before
    assert _rows(v1_file, "SELECT name FROM sqlite_master WHERE name = 'snapshots'") == []
    assert "published_ms" not in str(_rows(v1_file, "SELECT sql FROM sqlite_master"))
    assert "CHECK (mode IN ('rebalance', 'print-rebalance'))" in str(
        _rows(v1_file, "SELECT sql FROM sqlite_master WHERE name = 'runs'")
    )


def test_v1_journal_opened_by_two_processes_at_once_is_migrated_once(v1_file: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from app.store.journal import Journal
        sys.stdin.readline()  # both start together
        Journal(Path({str(v1_file)!r})).close()
        print("ok")
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": ":".join(sys.path)},
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(input="go\n", timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    versions = _rows(v1_file, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(1,), (SCHEMA_VERSION,)]
    assert len(_rows(v1_file, "SELECT * FROM runs")) == len(V1_RUN_IDS)


def test_journal_of_newer_version_than_this_code_is_refused_without_backup(
    v1_file: Path,
) -> None:
    conn = sqlite3.connect(v1_file)
    with conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()

    with pytest.raises(InvalidInputError, match="newer than this daemon's"):
        Journal(v1_file)
    assert not [p for p in v1_file.parent.iterdir() if ".bak" in p.name]


def test_v3_journal_orders_get_the_attribution_their_trade_json_carries(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    with Journal(path) as journal:
        journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
        for symbol, attribution in (
            ("SPY", {"shares": {"growth": "0.6", "income": "0.4"}}),
            ("TLT", None),
        ):
            trade = Trade.model_validate(
                {
                    "symbol": symbol,
                    "quantity": 5,
                    "current_shares": 0,
                    "target_value": "500",
                    "current_value": "0",
                    "price": "100",
                    "attribution": attribution,
                }
            )
            journal.record_order(run_id="r1", trade=trade)
    # The file as version 3 left it: the same orders, without the attribution column.
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("ALTER TABLE orders DROP COLUMN attribution")
        conn.execute("UPDATE schema_version SET version = 3")

    with Journal(path) as journal:
        (run,) = journal.unfinished_runs()

    assert [(o.symbol, o.attribution) for o in run.orders] == [
        ("SPY", StrategyAttribution(shares={"growth": Decimal("0.6"), "income": Decimal("0.4")})),
        ("TLT", None),
    ]
    assert _rows(path, "SELECT MAX(version) FROM schema_version") == [(SCHEMA_VERSION,)]
    assert (path.parent / f"{JOURNAL_FILE}.schema-v3.bak").exists()
