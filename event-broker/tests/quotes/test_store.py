"""The quote recorder's SQLite file: batched writes, a bounded buffer, retention, reads."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

from app.quotes.store import QuoteReader, QuoteWriter, RecordedQuote
from broker_connector_base import QuoteTick


def _tick(at: float, symbol: str = "SPY", bid: str = "589.10", ask: str = "589.14") -> QuoteTick:
    return QuoteTick(at, symbol, Decimal(bid), Decimal(ask), 100, 200)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql))


def test_writer_stores_every_tick_exactly_in_batches_in_a_wal_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "quotes.sqlite3"
    writer = QuoteWriter(path, batch_size=5000)
    writer.add([_tick(1000.0 + i, bid="0.1", ask="0.30000000000000004") for i in range(12_000)])
    writer.add([QuoteTick(2e6, "QQQ", None, Decimal("505.26"), None, 7)])
    writer.close()

    assert (writer.written, writer.dropped) == (12_001, 0)
    assert _rows(path, "SELECT count(*), min(bid), max(ask) FROM quotes WHERE symbol = 'SPY'") == [
        (12_000, "0.1", "0.30000000000000004")
    ]
    assert _rows(path, "SELECT bid, ask, bid_size, ask_size FROM quotes WHERE symbol = 'QQQ'") == [
        (None, "505.26", None, 7)
    ]
    assert _rows(path, "PRAGMA journal_mode") == [("wal",)]


def test_writer_behind_the_feed_keeps_the_newest_ticks_and_counts_the_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "quotes.sqlite3"
    # Neither the batch size nor the flush interval is reached: the buffer alone bounds memory.
    writer = QuoteWriter(path, batch_size=1000, max_buffered=100, flush_secs=3600)
    writer.add([_tick(float(i)) for i in range(250)])

    assert (writer.buffered, writer.dropped) == (100, 150)
    writer.close()
    assert _rows(path, "SELECT count(*), min(at), max(at) FROM quotes") == [(100, 150.0, 249.0)]
    assert writer.written == 100


def test_prune_deletes_only_ticks_older_than_the_retention(tmp_path: Path) -> None:
    path = tmp_path / "quotes.sqlite3"
    writer = QuoteWriter(path)
    now = time.time()
    writer.add([_tick(now - 3 * 86_400), _tick(now - 86_400 - 60), _tick(now - 60)])
    writer.close()
    writer = QuoteWriter(path)

    assert writer.prune(86_400) == 2
    writer.close()
    assert [r[0] for r in _rows(path, "SELECT at FROM quotes")] == [now - 60]


def test_reader_gives_each_symbols_newest_tick_since_a_time_and_nothing_without_a_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "quotes.sqlite3"
    assert QuoteReader(path).latest(["SPY"], since=0) == {}
    writer = QuoteWriter(path)
    writer.add([_tick(10.0, bid="1.00"), _tick(30.0, bid="3.00"), _tick(20.0, bid="2.00")])
    writer.add([QuoteTick(15.0, "QQQ", Decimal("505.2"), None, 1, None)])
    writer.close()

    reader = QuoteReader(path)

    assert reader.latest(["SPY", "QQQ", "TLT"], since=0) == {
        "SPY": RecordedQuote(30.0, Decimal("3.00"), Decimal("589.14")),
        "QQQ": RecordedQuote(15.0, Decimal("505.2"), None),
    }
    assert reader.latest(["SPY", "QQQ"], since=16.0) == {
        "SPY": RecordedQuote(30.0, Decimal("3.00"), Decimal("589.14"))
    }


def test_reader_never_gives_a_delayed_tick_as_the_latest_quote(tmp_path: Path) -> None:
    path = tmp_path / "quotes.sqlite3"
    writer = QuoteWriter(path)
    writer.add(
        [
            _tick(10.0, bid="1.00"),
            QuoteTick(20.0, "SPY", Decimal("2.00"), Decimal("2.02"), 1, 1, delayed=True),
            QuoteTick(30.0, "QQQ", Decimal("3.00"), Decimal("3.02"), 1, 1, delayed=True),
        ]
    )
    writer.close()

    assert QuoteReader(path).latest(["SPY", "QQQ"], since=0) == {
        "SPY": RecordedQuote(10.0, Decimal("1.00"), Decimal("589.14"))
    }
    assert _rows(path, "SELECT symbol, delayed FROM quotes ORDER BY at") == [
        ("SPY", 0),
        ("SPY", 1),
        ("QQQ", 1),
    ]
