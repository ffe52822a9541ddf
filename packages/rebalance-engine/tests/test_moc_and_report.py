"""The market-on-close round and the execution report, on the fake broker."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import ContractPrice, OrderStatus, TradingHoursStatus
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.types import NEW_YORK
from rebalance_engine import Rebalancer, StaticAllocationSource
from rebalance_engine._moc import moc_cutoff, moc_refusal
from rebalance_engine.quotes import BrokerArrivalQuotes, TimedQuote
from rebalance_engine.testing import account_config

pytestmark = pytest.mark.timeout(30)

WEIGHTS = {"SPY": "0.205", "GLD": "0.034", "AGG": "0.761"}
MONDAY = dt.date(2026, 11, 23)


def _at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(MONDAY, dt.time(hour, minute, second), NEW_YORK)


def _rebalancer(broker: InMemoryBroker, **kwargs: Any) -> Rebalancer:
    return Rebalancer(
        broker,
        allocation_source=StaticAllocationSource({"etf-blend": WEIGHTS}),
        fill_timeout_secs=2.0,
        cancel_timeout_secs=1.0,
        settle_timeout_secs=1.0,
        **kwargs,
    )


async def test_moc_run_places_its_orders_on_close_and_waits_for_none(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.clock = lambda: _at(15, 0)
    # Buys only (the fake is a cash account: buys paid by sells' proceeds are refused, see
    # below; the IB simulator's margin account shows the whole round).
    exchange.add_account("DU200", FakeAccount(cash=Decimal(60000)))
    config = account_config(account_id="DU200", order_type="moc")

    result = await _rebalancer(broker).rebalance_account(config)

    assert result.success, result.error
    log = exchange.order_log
    assert [(o.symbol, o.order_type, o.status) for o in log] == [
        ("AGG", "MOC", OrderStatus.WORKING),
        ("GLD", "MOC", OrderStatus.WORKING),
        ("SPY", "MOC", OrderStatus.WORKING),
    ]
    assert any(
        "3 market-on-close orders work until the closing auction" in w for w in result.warnings
    )
    report = result.execution
    assert report is not None
    assert report.pending_close == 3
    assert {o.avg_fill_price for o in report.orders} == {None}

    exchange.close_auction()
    assert {o.status for o in exchange.order_log} == {OrderStatus.FILLED}


async def test_moc_buys_a_cash_account_cannot_pay_yet_are_refused_and_reported(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.clock = lambda: _at(15, 0)

    result = await _rebalancer(broker).rebalance_account(account_config(order_type="moc"))

    assert not result.success
    assert "market-on-close buys refused: ['BUY 1091 AGG']" in (result.error or "")
    assert "the next run buys with their proceeds" in (result.error or "")
    sells = [o for o in exchange.order_log if o.quantity < 0]
    assert {(o.symbol, o.status) for o in sells} == {
        ("TLT", OrderStatus.WORKING),
        ("GLD", OrderStatus.WORKING),
        ("SPY", OrderStatus.WORKING),
    }


@pytest.mark.parametrize("minute", [49, 55])
async def test_moc_run_after_the_cutoff_is_refused_before_any_order(
    broker: InMemoryBroker, exchange: FakeExchange, minute: int
) -> None:
    exchange.clock = lambda: _at(15, minute)

    result = await _rebalancer(broker).rebalance_account(account_config(order_type="moc"))

    assert not result.success
    assert "taken until 15:50 New York (10 minutes before the close)" in (result.error or "")
    assert f"it is 15:{minute}:00 by the broker's clock. Nothing was placed." in (
        result.error or ""
    )
    assert exchange.order_log == []
    assert broker.calls["cancel_all_orders"] == 0


def _hours(now: dt.datetime, closes: dt.datetime | None) -> TradingHoursStatus:
    return TradingHoursStatus(is_open=True, checked_at=now, closes_at=closes)


def test_moc_cutoff_counts_back_from_an_early_close() -> None:
    early = _hours(_at(12, 40), _at(13, 0))
    assert moc_cutoff(early) == _at(12, 50)
    assert moc_refusal(early) is None
    assert moc_refusal(_hours(_at(12, 49, 1), _at(13, 0))) is not None
    assert moc_cutoff(_hours(_at(10, 0), None)) == _at(15, 50)  # no close told: 16:00


async def test_market_run_report_has_arrival_quotes_slippage_commission_and_drift(
    exchange: FakeExchange,
) -> None:
    exchange.commission_per_order = Decimal("1.00")
    broker = InMemoryBroker(exchange)
    await broker.connect()

    result = await _rebalancer(broker, extra_rounds=0).rebalance_account(account_config())

    assert result.success, result.error
    report = result.execution
    assert report is not None
    by_symbol = {o.symbol: o for o in report.orders}
    tlt, agg = by_symbol["TLT"], by_symbol["AGG"]
    assert (tlt.side, tlt.decision_price, tlt.arrival_mid) == (
        "SELL",
        Decimal("92.875"),
        Decimal("92.875"),
    )
    assert (tlt.arrival_bid, tlt.arrival_ask, tlt.arrival_source) == (
        Decimal("92.87"),
        Decimal("92.88"),
        "plan",
    )
    assert tlt.spread_bps == Decimal("1.08")  # 0.01 / 92.875
    assert tlt.avg_fill_price == Decimal("92.87")
    assert tlt.slippage_bps == Decimal("0.54")  # half the spread: a cost, positive
    assert agg.slippage_bps == Decimal("0.50")  # (99.03 - 99.025) / 99.025
    assert (tlt.commission, agg.commission) == (Decimal("1.00"), Decimal("1.00"))
    assert report.commission == Decimal("1.00") * len(report.orders)
    assert tlt.time_to_fill_secs is not None
    weights = [(o.slippage_bps or Decimal(0), o.filled_notional) for o in report.orders]
    weighted = sum((s * n for s, n in weights), Decimal(0)) / sum(n for _, n in weights)
    assert report.slippage_bps == weighted.quantize(Decimal("0.01"))
    assert report.filled_notional == sum(n for _, n in weights)
    assert report.drift_after is not None
    assert report.drift_after < Decimal("0.01")
    assert report.pending_close == 0


async def test_stale_plan_quote_is_asked_again_for_the_arrival_price(
    broker: InMemoryBroker,
) -> None:
    now = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)
    old = TimedQuote(
        ContractPrice(symbol="SPY", bid=Decimal(1), ask=Decimal(2)),
        now - dt.timedelta(seconds=5),
        "plan",
    )
    young = TimedQuote(
        ContractPrice(symbol="AGG", bid=Decimal(1), ask=Decimal(2)),
        now - dt.timedelta(seconds=1),
        "plan",
    )
    source = BrokerArrivalQuotes(broker, max_age_secs=2.0, clock=lambda: now)

    quotes = await source.arrival(["SPY", "AGG"], {"SPY": old, "AGG": young})

    assert quotes["AGG"] is young
    assert (quotes["SPY"].source, quotes["SPY"].price.bid) == ("broker", Decimal("589.10"))
    assert broker.calls["get_multiple_market_prices"] == 1
