"""The account's order type in runs on the fake broker: marketable limits, re-pricing and the
market fallback after a timeout, midprice, an undeclared type refused before any request."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import ContractPrice, OrderStatus, Trade
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from rebalance_engine import Rebalancer, StaticAllocationSource
from rebalance_engine._styles import OrderStyle, marketable_limit
from rebalance_engine.testing import account_config

pytestmark = pytest.mark.timeout(30)

# One sell (TLT 100 -> 0) and one buy (AGG) at the example quotes.
WEIGHTS = {"SPY": "0.205", "GLD": "0.034", "AGG": "0.761"}


def _rebalancer(broker: InMemoryBroker, **kwargs: Any) -> Rebalancer:
    source = StaticAllocationSource({"etf-blend": WEIGHTS})
    kwargs.setdefault("fill_timeout_secs", 5.0)
    kwargs.setdefault("cancel_timeout_secs", 1.0)
    kwargs.setdefault("settle_timeout_secs", 1.0)
    kwargs.setdefault("extra_rounds", 0)
    return Rebalancer(broker, allocation_source=source, **kwargs)


@pytest.mark.parametrize(
    ("quantity", "bid", "ask", "bps", "limit"),
    [
        (10, "99.02", "99.03", "5", "99.08"),  # 99.03 * 1.0005 = 99.0795 -> up
        (-10, "99.02", "99.03", "5", "98.97"),  # 99.02 * 0.9995 = 98.97049 -> down
        (1, "589.10", "589.12", "0", "589.12"),
        (-1, "0.01", "0.02", "500", "0.01"),  # never below a cent
    ],
)
def test_marketable_limit_is_the_far_side_moved_by_the_offset_rounded_away(
    quantity: int, bid: str, ask: str, bps: str, limit: str
) -> None:
    quote = ContractPrice(symbol="AGG", bid=Decimal(bid), ask=Decimal(ask))
    assert marketable_limit(quantity, quote, Decimal(bps)) == Decimal(limit)


async def test_limit_account_sends_marketable_limits_that_fill_at_the_quote(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    config = account_config(order_type="limit", order_options={"limit_offset_bps": 10})

    result = await _rebalancer(broker).rebalance_account(config)

    assert result.success, result.error
    log = exchange.order_log
    assert {o.order_type for o in log} == {"LIMIT"}
    tlt = next(o for o in log if o.symbol == "TLT")
    agg = next(o for o in log if o.symbol == "AGG")
    assert tlt.limit_price == Decimal("92.77")  # 92.87 * 0.999, down to the cent
    assert agg.limit_price == Decimal("99.13")  # 99.03 * 1.001 = 99.12903, up
    assert (tlt.avg_fill_price, agg.avg_fill_price) == (Decimal("92.87"), Decimal("99.03"))
    assert {o.order_type for o in result.orders} == {"LIMIT"}


async def test_limit_unfilled_at_its_timeout_is_repriced_at_the_new_quote(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_auto_fill(False)  # the first limit rests

    def on_order(trade: Trade) -> None:
        if trade.status is OrderStatus.CANCELLED:
            # The market moved while it rested; the re-price meets the new quote and fills.
            exchange.set_quote("TLT", bid=Decimal("92.50"), ask=Decimal("92.51"))
            exchange.set_auto_fill(True)

    config = account_config(
        order_type="limit", order_options={"limit_timeout_secs": 0.2, "limit_fallback": "cancel"}
    )
    result = await _rebalancer(broker, on_order=on_order).rebalance_account(config)

    tlt = [o for o in exchange.order_log if o.symbol == "TLT"]
    assert [(o.order_type, o.limit_price, o.status) for o in tlt] == [
        ("LIMIT", Decimal("92.82"), OrderStatus.CANCELLED),  # 92.87 - 5 bps
        ("LIMIT", Decimal("92.45"), OrderStatus.FILLED),  # 92.50 - 5 bps
    ]
    assert [o.quantity for o in tlt] == [-100, -100]
    assert any(
        "LIMIT 92.82 not filled within 0.2 s; sent again as LIMIT 92.45" in w
        for w in result.warnings
    )
    assert result.success, result.error
    report = result.execution
    assert report is not None
    tlt_lines = [o for o in report.orders if o.symbol == "TLT"]
    assert [(o.status, o.arrival_source) for o in tlt_lines] == [
        (OrderStatus.CANCELLED, "plan"),
        (OrderStatus.FILLED, "broker"),
    ]
    assert tlt_lines[1].arrival_mid == Decimal("92.505")


async def test_limit_unfilled_after_its_reprices_goes_to_market_for_the_rest(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_partial_fill("TLT", 40)  # each TLT order fills 40 shares, the rest rests
    config = account_config(
        order_type="limit", order_options={"limit_timeout_secs": 0.2, "limit_reprices": 0}
    )

    result = await _rebalancer(broker).rebalance_account(config)

    tlt = [o for o in exchange.order_log if o.symbol == "TLT"]
    assert [(o.order_type, o.quantity, o.filled_quantity) for o in tlt] == [
        ("LIMIT", -100, -40),
        ("MARKET", -60, -40),
    ]
    # The market order's rest was cancelled at the fill timeout: 80 of 100 sold.
    assert not result.success
    assert "SELL 100 TLT" in (result.error or "")
    assert "80 of 100 filled" in (result.error or "")


async def test_limit_with_cancel_fallback_leaves_the_rest_and_reports_the_sell_incomplete(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    exchange.set_partial_fill("TLT", 30)
    config = account_config(
        order_type="limit",
        order_options={"limit_timeout_secs": 0.2, "limit_reprices": 1, "limit_fallback": "cancel"},
    )

    result = await _rebalancer(broker).rebalance_account(config)

    tlt = [o for o in exchange.order_log if o.symbol == "TLT"]
    assert [(o.order_type, o.quantity, o.status) for o in tlt] == [
        ("LIMIT", -100, OrderStatus.CANCELLED),
        ("LIMIT", -70, OrderStatus.CANCELLED),
    ]
    assert not result.success
    assert "sells not completed" in (result.error or "")
    assert all(o.symbol != "AGG" for o in exchange.order_log)  # no buys after a failed sell


async def test_midprice_account_fills_at_the_midpoint_with_zero_slippage(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    result = await _rebalancer(broker).rebalance_account(account_config(order_type="midprice"))

    assert result.success, result.error
    assert {o.order_type for o in exchange.order_log} == {"MIDPRICE"}
    report = result.execution
    assert report is not None
    assert {o.slippage_bps for o in report.orders} == {Decimal("0.00")}
    assert report.slippage_bps == Decimal("0.00")


async def test_adaptive_account_on_a_broker_without_it_fails_before_any_request(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    result = await _rebalancer(broker).rebalance_account(account_config(order_type="adaptive"))

    assert not result.success
    assert "InMemoryBroker cannot place ADAPTIVE orders" in (result.error or "")
    assert exchange.order_log == []
    # Refused before planning: no quote, no hours check, no cancel.
    assert broker.calls["get_multiple_market_prices"] == 0
    assert broker.calls["get_trading_hours_status"] == 0


def _after(style: OrderStyle, timeouts: int) -> str | None:
    quote = ContractPrice(symbol="X", bid=Decimal("10.00"), ask=Decimal("10.02"))
    spec = style.after_timeout(timeouts, 5, quote)
    return None if spec is None else spec.describe()


def test_style_after_timeout_reprices_limits_then_falls_back() -> None:
    limit = OrderStyle.of(account_config(order_type="limit"))
    assert [_after(limit, 1), _after(limit, 2)] == ["LIMIT 10.03", "MARKET"]
    never = OrderStyle.of(
        account_config(order_type="limit", order_options={"limit_fallback": "cancel"})
    )
    assert [_after(never, 1), _after(never, 2)] == ["LIMIT 10.03", None]
    assert _after(OrderStyle.of(account_config(order_type="midprice")), 1) == "MARKET"
