"""Spread statistics of the recorded quotes, and ``tools/rebalance.sh -spreads``."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.quotes.report import spreads_since
from app.quotes.store import QuoteReader, QuoteWriter, RecordedQuote, SpreadStats
from broker_connector_base import QuoteTick
from broker_connector_base.types import NEW_YORK

Stack = Any  # conftest.Stack


def _tick(at: float, bid: str | None, ask: str | None, symbol: str = "SPY") -> QuoteTick:
    return QuoteTick(
        at,
        symbol,
        None if bid is None else Decimal(bid),
        None if ask is None else Decimal(ask),
        1,
        1,
    )


def _record(path: Path, ticks: list[QuoteTick]) -> None:
    writer = QuoteWriter(path)
    writer.add(ticks)
    writer.close()


def test_spreads_per_symbol_are_median_and_p90_of_two_sided_ticks_since_a_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "quotes.sqlite3"
    _record(
        path,
        [
            _tick(1.0, "99", "101"),  # before `since`: not counted
            *(_tick(10.0 + i, "99.99", "100.01") for i in range(8)),  # 2 bps
            _tick(20.0, "99.98", "100.02"),  # 4 bps
            _tick(21.0, "99.95", "100.05"),  # 10 bps
            _tick(22.0, None, "100.00"),  # one-sided: a tick, not a spread
            _tick(23.0, "505.2", None, symbol="QQQ"),
        ],
    )

    assert QuoteReader(path).spreads(since=5.0) == [
        SpreadStats("QQQ", 1, None, None, RecordedQuote(23.0, Decimal("505.2"), None)),
        SpreadStats(
            "SPY",
            11,
            Decimal("2.00"),
            Decimal("4.00"),
            RecordedQuote(22.0, None, Decimal("100.00")),
        ),
    ]
    assert QuoteReader(tmp_path / "none.sqlite3").spreads(since=0) == []


def test_spreads_window_starts_at_new_york_midnight_of_the_day_else_a_day_ago() -> None:
    now = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)

    assert spreads_since(dt.date(2026, 12, 2), now) == (
        dt.datetime(2026, 12, 2, tzinfo=NEW_YORK).timestamp()
    )
    assert spreads_since(None, now) == (now - dt.timedelta(days=1)).timestamp()


async def test_cli_spreads_prints_each_recorded_symbol_or_says_none_are(stack: Stack) -> None:
    empty = await stack.cli("-spreads")
    assert empty.code == 0, empty.stderr
    assert "No quotes recorded in" in empty.stdout

    now = time.time()
    _record(
        stack.data_dir / "quotes.sqlite3",
        [_tick(now - 60, "589.10", "589.14"), _tick(now - 30, "589.12", "589.14")],
    )
    done = await stack.cli("-spreads")

    assert done.code == 0, done.stderr
    [spy] = [line.split() for line in done.stdout.splitlines() if line.startswith("SPY")]
    assert spy[:6] == ["SPY", "2", "0.51", "0.68", "589.12", "589.14"]
