"""The SQLite journal: events, runs, orders, crash leftovers, several processes."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from app.models import AccountExecutionResult, Trade
from app.store.files import JOURNAL_FILE
from app.store.journal import Journal
from app.store.journal_schema import SCHEMA_VERSION
from broker_connector_base import InvalidInputError, OrderStatus

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def trade(**fields: Any) -> Trade:
    values: dict[str, Any] = {
        "symbol": "SPY",
        "quantity": 10,
        "current_shares": 0,
        "target_value": "1000",
        "current_value": "0",
        "price": "100.50",
    }
    values.update(fields)
    return Trade.model_validate(values)


def result(run_id: str, **fields: Any) -> AccountExecutionResult:
    values: dict[str, Any] = {
        "account_id": "DU1",
        "run_id": run_id,
        "mode": "rebalance",
        "status": "succeeded",
        "success": True,
        "total_value": "10000.00",
        "cash_balance": "99.95",
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=3),
    }
    values.update(fields)
    return AccountExecutionResult.model_validate(values)


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    with Journal(tmp_path / "data" / JOURNAL_FILE) as opened:
        yield opened


def test_journal_new_file_uses_wal_and_records_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "data" / JOURNAL_FILE
    Journal(path).close()

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()


def test_journal_file_from_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    Journal(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()

    with pytest.raises(InvalidInputError, match="is newer than this daemon's"):
        Journal(path)


def test_journal_file_of_schema_1_is_migrated_keeping_its_events(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(
            """
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES (1);
            CREATE TABLE events (id INTEGER PRIMARY KEY, event_id TEXT, channel TEXT NOT NULL,
                payload TEXT NOT NULL, received_at TEXT NOT NULL, outcome TEXT);
            INSERT INTO events (event_id, channel, payload, received_at, outcome)
                VALUES ('old-1', 's1', '{}', '2026-11-20T15:00:00+00:00', 'processed');
            """
        )

    with Journal(path) as journal:
        before = journal.last_published_ms("s1")
        journal.claim_event(event_id="new-1", channel="s1", payload="{}", published_ms=1_000)

        assert journal.event_seen("old-1")
        assert before is None
        assert journal.last_published_ms("s1") == 1_000
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone() == (
            SCHEMA_VERSION,
        )


def test_journal_last_published_ms_is_the_newest_of_that_channel(journal: Journal) -> None:
    for event_id, channel, published_ms in [
        ("a", "s1", 3_000),
        ("b", "s1", 5_000),
        ("c", "s1", 4_000),
        ("d", "s2", 9_000),
    ]:
        journal.claim_event(
            event_id=event_id, channel=channel, payload="{}", published_ms=published_ms
        )
    journal.claim_event(event_id="b", channel="s1", payload="{}", published_ms=8_000)  # a dup

    assert journal.last_published_ms("s1") == 5_000
    assert journal.last_published_ms("s2") == 9_000
    assert journal.last_published_ms("s3") is None


def test_journal_events_are_recorded_and_deduplicated_by_id(journal: Journal) -> None:
    row = journal.record_event(event_id="ev-1", channel="strategy:s", payload='{"exec":"x"}')
    journal.set_event_outcome(row, "processed")

    assert journal.event_seen("ev-1")
    assert not journal.event_seen("ev-2")


def test_journal_claim_event_claims_an_id_once_and_never_forgets_it(journal: Journal) -> None:
    first = journal.claim_event(event_id="id-0", channel="s", payload="{}")
    for n in range(1, 200):
        assert journal.claim_event(event_id=f"id-{n}", channel="s", payload="{}") is not None

    again = journal.claim_event(event_id="id-0", channel="s", payload='{"other": 1}')

    assert first is not None
    assert again is None
    assert journal.event_seen("id-0")


def test_journal_claim_event_from_two_processes_at_once_claims_each_id_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / JOURNAL_FILE
    env = {"PYTHONPATH": ":".join(sys.path)}
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(path), name],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("A", "B")
    ]
    outputs = [claimer.communicate(timeout=60)[0] for claimer in claimers]
    assert [claimer.returncode for claimer in claimers] == [0, 0]

    claimed = [line for output in outputs for line in output.split()]
    assert sorted(claimed) == sorted(f"m-{n}" for n in range(60))
    with Journal(path) as journal:
        assert all(journal.event_seen(f"m-{n}") for n in range(60))


def test_journal_outcome_for_unknown_event_row_is_refused(journal: Journal) -> None:
    with pytest.raises(InvalidInputError, match="no event row 42"):
        journal.set_event_outcome(42, "processed")


def test_journal_order_recorded_before_placement_gets_its_order_id_later(
    journal: Journal,
) -> None:
    journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
    journal.record_order(run_id="r1", trade=trade())
    journal.record_order(run_id="r1", trade=trade(order_id="17", status=OrderStatus.WORKING))
    journal.record_order(
        run_id="r1",
        trade=trade(
            order_id="17", status=OrderStatus.FILLED, filled_quantity=10, avg_fill_price="100.4"
        ),
    )

    (run,) = journal.unfinished_runs()
    (order,) = run.orders
    assert (order.order_id, order.status, order.filled_quantity) == ("17", "FILLED", 10)
    assert order.avg_fill_price == "100.4"
    assert (order.side, order.quantity, order.price) == ("BUY", 10, "100.50")


def test_journal_finished_run_is_not_unfinished_and_shows_in_summary(journal: Journal) -> None:
    journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=959247)
    journal.record_order(run_id="r1", trade=trade(order_id="17", status=OrderStatus.WORKING))
    sold = trade(
        symbol="TLT",
        quantity=-5,
        current_shares=5,
        target_value=0,
        current_value=450,
        price=90,
        order_id="18",
        status=OrderStatus.FILLED,
        filled_quantity=-5,
        avg_fill_price="90.01",
    )
    filled = trade(
        order_id="17", status=OrderStatus.FILLED, filled_quantity=10, avg_fill_price="100.4"
    )
    journal.finish_run(
        run_id="r1", result=result("r1", trades=[filled, sold], warnings=["partial quote"])
    )

    assert journal.unfinished_runs() == []
    text = journal.summary()
    assert "DU1  rebalance  succeeded" in text
    assert "value $10,000.00, cash $99.95" in text
    assert "BUY 10 SPY @ 100.50 (order 17) -> FILLED 10 @ 100.4" in text
    assert "SELL 5 TLT @ 90 (order 18) -> FILLED 5 @ 90.01" in text
    assert "warning: partial quote" in text


def _for(**shares: str) -> dict[str, Any]:
    return {"shares": {name.replace("_", "-"): share for name, share in shares.items()}}


def test_journal_order_row_stores_its_strategy_attribution_and_summary_shows_it(
    journal: Journal, tmp_path: Path
) -> None:
    journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
    spy = trade(attribution=_for(growth="0.6", income="0.4"))
    qqq = trade(symbol="QQQ", quantity=3, attribution=_for(growth="1"))
    gld = trade(symbol="GLD", quantity=-2, current_shares=2, attribution=_for())
    for placed in (spy, qqq, gld):
        journal.record_order(run_id="r1", trade=placed)
    journal.record_order(
        run_id="r1",
        trade=spy.model_copy(update={"order_id": "17", "status": OrderStatus.FILLED}),
    )

    (run,) = journal.unfinished_runs()
    assert [(o.symbol, o.order_id, o.attribution) for o in run.orders] == [
        ("SPY", "17", spy.attribution),
        ("QQQ", None, qqq.attribution),
        ("GLD", None, gld.attribution),
    ]
    with sqlite3.connect(tmp_path / "data" / JOURNAL_FILE) as conn:
        stored = conn.execute("SELECT symbol, attribution FROM orders ORDER BY seq").fetchall()
    assert stored == [
        ("SPY", '{"growth":"0.6","income":"0.4"}'),
        ("QQQ", '{"growth":"1"}'),
        ("GLD", "{}"),
    ]
    text = journal.summary()
    assert "BUY 10 SPY @ 100.50 (order 17) -> FILLED for growth 60% / income 40%" in text
    assert "BUY 3 QQQ @ 100.50 (about to be sent) for growth 100%" in text
    assert "SELL 2 GLD @ 100.50 (about to be sent) for no strategy" in text


def test_journal_summary_leaves_out_attribution_of_a_one_strategy_run(journal: Journal) -> None:
    journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
    journal.record_order(run_id="r1", trade=trade(order_id="17", attribution=_for(growth="1")))
    journal.start_run(run_id="p1", account_id="DU1", mode="print-rebalance", client_id=1)
    journal.finish_run(
        run_id="p1",
        result=result(
            "p1",
            mode="print-rebalance",
            trades=[
                trade(attribution=_for(growth="0.25", income="0.75")),
                trade(symbol="TLT", attribution=_for(income="1")),
            ],
        ),
    )

    text = journal.summary()
    assert "BUY 10 SPY @ 100.50 (order 17)\n" in text + "\n"
    assert "proposed BUY 10 SPY @ 100.50 for income 75% / growth 25%" in text
    assert "proposed BUY 10 TLT @ 100.50 for income 100%" in text


def test_journal_preview_run_summary_lists_proposed_trades(journal: Journal) -> None:
    journal.start_run(run_id="p1", account_id="DU1", mode="print-rebalance", client_id=1)
    journal.finish_run(run_id="p1", result=result("p1", mode="print-rebalance", trades=[trade()]))

    assert "proposed BUY 10 SPY @ 100.50" in journal.summary()


def test_journal_order_for_finished_or_unknown_run_is_refused(journal: Journal) -> None:
    journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
    journal.finish_run(run_id="r1", result=result("r1"))

    with pytest.raises(InvalidInputError, match="run r1 already ended"):
        journal.record_order(run_id="r1", trade=trade())
    with pytest.raises(InvalidInputError, match="no run r9"):
        journal.record_order(run_id="r9", trade=trade())
    with pytest.raises(InvalidInputError, match="run r1 already ended"):
        journal.finish_run(run_id="r1", result=result("r1"))


def test_journal_bad_writes_raise_and_keep_earlier_rows(journal: Journal) -> None:
    journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
    journal.record_order(run_id="r1", trade=trade(order_id="17"))

    with pytest.raises(InvalidInputError, match="run mode 'yolo'"):
        journal.start_run(run_id="r2", account_id="DU1", mode="yolo", client_id=1)
    with pytest.raises(InvalidInputError, match="cannot start run r1"):
        journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
    with pytest.raises(InvalidInputError, match="for account DU2 given for run r1"):
        journal.finish_run(run_id="r1", result=result("r1", account_id="DU2"))

    (run,) = journal.unfinished_runs()
    assert run.run_id == "r1"
    assert [o.order_id for o in run.orders] == ["17"]


def test_journal_failure_midway_through_finish_rolls_back_everything(
    journal: Journal, tmp_path: Path
) -> None:
    journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
    journal.record_order(run_id="r1", trade=trade(order_id="17", status=OrderStatus.WORKING))
    # A real SQLite trigger makes the last statement of finish_run fail after the order
    # updates ran inside the same transaction.
    conn = sqlite3.connect(tmp_path / "data" / JOURNAL_FILE)
    conn.execute(
        "CREATE TRIGGER refuse_finish BEFORE UPDATE OF status ON runs "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    conn.commit()
    conn.close()
    filled = trade(order_id="17", status=OrderStatus.FILLED, filled_quantity=10)

    with pytest.raises(sqlite3.IntegrityError, match="disk says no"):
        journal.finish_run(run_id="r1", result=result("r1", trades=[filled]))

    (run,) = journal.unfinished_runs()
    assert [(o.order_id, o.status) for o in run.orders] == [("17", "WORKING")]


def test_journal_mark_run_abandoned_ends_it_and_keeps_orders(journal: Journal) -> None:
    journal.start_run(run_id="r1", account_id="DU1", mode="rebalance", client_id=1)
    journal.record_order(run_id="r1", trade=trade(order_id="17"))

    journal.mark_run_abandoned("r1", reason="process died (found at start)")

    assert journal.unfinished_runs() == []
    text = journal.summary()
    assert "abandoned" in text
    assert "error: process died (found at start)" in text
    assert "(order 17)" in text


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.store.journal import Journal
    from app.models import Trade

    journal = Journal(Path(sys.argv[1]))
    journal.start_run(run_id="crash", account_id="DU1", mode="rebalance", client_id=7)
    journal.record_order(run_id="crash", trade=Trade(
        symbol="SPY", quantity=3, current_shares=0, target_value=300, current_value=0,
        price="100.01", order_id="55", status="WORKING"))
    print("recorded", flush=True)
    sys.stdin.read()
    """
)


def test_journal_run_of_killed_process_is_listed_unfinished_with_its_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / JOURNAL_FILE
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": ":".join(sys.path)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "recorded"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()

    with Journal(path) as journal:
        (run,) = journal.unfinished_runs()
    assert (run.run_id, run.account_id, run.client_id, run.pid) == ("crash", "DU1", 7, child.pid)
    (order,) = run.orders
    assert (order.order_id, order.symbol, order.quantity, order.status) == (
        "55",
        "SPY",
        3,
        "WORKING",
    )
    assert Decimal(order.price) == Decimal("100.01")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.store.journal import Journal
    from app.models import Trade

    journal = Journal(Path(sys.argv[1]))
    run_id = sys.argv[2]
    journal.start_run(run_id=run_id, account_id=run_id, mode="rebalance", client_id=1)
    for n in range(40):
        journal.record_order(run_id=run_id, trade=Trade(
            symbol=f"S{n}", quantity=1, current_shares=0, target_value=1, current_value=0,
            price=1, order_id=str(n)))
    journal.close()
    """
)


def test_journal_opens_while_another_process_creates_the_file(tmp_path: Path) -> None:
    # What two processes starting at once can meet: the file exists, still in rollback mode,
    # and the other holds its write lock. SQLite refuses the WAL switch at once then, busy
    # timeout or not; the journal must wait for the lock instead of failing the run.
    path = tmp_path / JOURNAL_FILE
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE unrelated (x)")
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    try:
        with Journal(path) as journal:
            journal.start_run(run_id="r", account_id="U1", mode="rebalance", client_id=1)
            assert [run.run_id for run in journal.unfinished_runs()] == ["r"]
    finally:
        other.close()


def test_journal_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    env = {"PYTHONPATH": ":".join(sys.path)}
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name], env=env)
        for name in ("A", "B")
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]

    with Journal(path) as journal:
        runs = journal.unfinished_runs()
    assert {run.run_id: len(run.orders) for run in runs} == {"A": 40, "B": 40}


_CLAIMER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.store.journal import Journal

    journal = Journal(Path(sys.argv[1]))
    for n in range(60):
        if journal.claim_event(event_id=f"m-{n}", channel=sys.argv[2], payload="{}") is not None:
            print(f"m-{n}")
    journal.close()
    """
)
