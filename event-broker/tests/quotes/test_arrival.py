"""Arrival quotes in the worker: the recorder's fresh two-sided tick, else the broker's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from app.quotes.arrival import RecordedArrivalQuotes
from app.quotes.store import QuoteReader, QuoteWriter
from app.trading.broker_factory import create_rebalancer
from app.workers.protocol import WorkerRequest
from broker_connector_base import ContractPrice, QuoteTick
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from rebalance_engine import Rebalancer
from rebalance_engine.quotes import TimedQuote

NOW = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)


async def test_fresh_recorded_quotes_are_the_arrival_and_the_broker_answers_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "quotes.sqlite3"
    writer = QuoteWriter(path)
    at = NOW.timestamp()
    writer.add(
        [
            QuoteTick(at - 0.5, "SPY", Decimal("589.11"), Decimal("589.13"), 100, 100),
            QuoteTick(at - 30, "QQQ", Decimal("505.00"), Decimal("505.10"), 100, 100),  # stale
            QuoteTick(at - 0.2, "TLT", Decimal("92.10"), None, 100, None),  # one-sided
        ]
    )
    writer.close()
    exchange = FakeExchange(
        quotes=[
            ContractPrice(symbol=s, bid=Decimal(b), ask=Decimal(a))
            for s, b, a in (
                ("SPY", "1", "2"),
                ("QQQ", "505.20", "505.26"),
                ("TLT", "92.1", "92.12"),
            )
        ]
    )
    broker = InMemoryBroker(exchange)
    await broker.connect()
    source = RecordedArrivalQuotes(broker, QuoteReader(path), clock=lambda: NOW)

    quotes = await source.arrival(["SPY", "QQQ", "TLT"], {})

    spy = quotes["SPY"]
    assert (spy.source, spy.price.bid, spy.price.ask) == (
        "recorder",
        Decimal("589.11"),
        Decimal("589.13"),
    )
    assert spy.taken_at == NOW - dt.timedelta(seconds=0.5)
    assert (quotes["QQQ"].source, quotes["QQQ"].price.bid) == ("broker", Decimal("505.20"))
    assert (quotes["TLT"].source, quotes["TLT"].price.ask) == ("broker", Decimal("92.12"))
    assert broker.calls["get_multiple_market_prices"] == 1


async def test_a_young_plan_quote_wins_and_no_recorder_file_means_the_broker(
    tmp_path: Path,
) -> None:
    exchange = FakeExchange(
        quotes=[ContractPrice(symbol="SPY", bid=Decimal("589.10"), ask=Decimal("589.14"))]
    )
    broker = InMemoryBroker(exchange)
    await broker.connect()
    plan = TimedQuote(
        ContractPrice(symbol="AGG", bid=Decimal(1), ask=Decimal(2)),
        NOW - dt.timedelta(seconds=1),
        "plan",
    )
    source = RecordedArrivalQuotes(
        broker, QuoteReader(tmp_path / "none.sqlite3"), clock=lambda: NOW
    )

    quotes = await source.arrival(["AGG", "SPY"], {"AGG": plan})

    assert quotes["AGG"] is plan
    assert (quotes["SPY"].source, quotes["SPY"].price.bid) == ("broker", Decimal("589.10"))


async def test_worker_rebalancer_reads_the_recorder_file_only_when_the_recorder_is_on(
    make_request: Callable[..., WorkerRequest],
) -> None:
    broker = InMemoryBroker(FakeExchange())
    on = make_request("DU111111", quote_recorder_enabled="true")
    off = make_request("DU111111")

    recorded = create_rebalancer(on, broker, on_order=lambda _: None)
    plain = create_rebalancer(off, broker, on_order=lambda _: None)
    assert isinstance(recorded, Rebalancer)
    assert isinstance(plain, Rebalancer)

    assert on.quotes_file is not None
    assert on.quotes_file.name == "quotes.sqlite3"
    assert isinstance(recorded.arrival_quotes, RecordedArrivalQuotes)
    assert recorded.arrival_quotes.reader.path == on.quotes_file
    assert off.quotes_file is None
    assert plain.arrival_quotes is None
