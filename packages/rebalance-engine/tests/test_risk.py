"""Pre-trade risk limits: ``check_plan`` alone, and the rebalancer refusing plans on the fake."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import RebalancePlan, RiskLimitError, RiskLimits, Trade
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from rebalance_engine import Rebalancer, RiskUsage, StaticAllocationSource, check_plan
from rebalance_engine.testing import account_config

pytestmark = pytest.mark.timeout(30)

WEIGHTS = {"SPY": "0.1", "AGG": "0.4", "QQQ": "0.3", "IEF": "0.2"}


def _line(symbol: str, weight: str) -> RebalancePlan:
    value = Decimal(weight) * 100_000
    return RebalancePlan(
        symbol=symbol,
        current_qty=Decimal(0),
        current_weight=Decimal(0),
        target_weight=Decimal(weight),
        current_value=Decimal(0),
        target_value=value,
        trade_quantity=1,
        trade_amount=value,
        direction="BUY",
        needs_rebalance=True,
    )


def _trade(symbol: str, quantity: int, price: str = "100") -> Trade:
    return Trade(
        symbol=symbol,
        quantity=quantity,
        current_shares=Decimal(0),
        target_value=Decimal(0),
        current_value=Decimal(0),
        price=Decimal(price),
    )


NOTHING_USED = RiskUsage()


def _refusal(limits: RiskLimits, used: RiskUsage = NOTHING_USED, **plan: Any) -> RiskLimitError:
    lines = plan.get("lines", [_line("SPY", "0.5")])
    trades = plan.get("trades", [_trade("SPY", 500)])
    with pytest.raises(RiskLimitError) as caught:
        check_plan(
            lines,
            trades,
            account_id="DU1",
            total_value=Decimal(100_000),
            limits=limits,
            used=used,
        )
    return caught.value


def test_default_limits_pass_a_whole_portfolio_switch() -> None:
    lines = [_line("SPY", "0.5"), _line("AGG", "0.49")]
    # Everything sold (100 %) and bought again (99 %): turnover 199 %, within the default 250.
    trades = [_trade("TLT", -1000), _trade("SPY", 500), _trade("AGG", 490)]
    check_plan(lines, trades, account_id="DU1", total_value=Decimal(100_000), limits=RiskLimits())


@pytest.mark.parametrize(
    ("limits", "fields", "message"),
    [
        (
            RiskLimits(max_symbol_weight_percent=Decimal(40)),
            ("max_symbol_weight_percent", "50.00%", "40.00%", "SPY"),
            "target weight of SPY 50.00% is above the limit 40.00%",
        ),
        (
            RiskLimits(max_order_value=Decimal(25_000)),
            ("max_order_value", "$50,000.00", "$25,000.00", "SPY"),
            "BUY 500 SPY is worth $50,000.00, above the limit $25,000.00",
        ),
        (
            RiskLimits(max_order_percent=Decimal(30)),
            ("max_order_percent", "50.00%", "30.00%", "SPY"),
            "BUY 500 SPY is 50.00% of the account value, above the limit 30.00%",
        ),
        (
            RiskLimits(max_turnover_percent=Decimal(20)),
            ("max_turnover_percent", "50.00%", "20.00%", None),
            "the run would trade $50,000.00, 50.00% of the account value, above the limit",
        ),
        (
            RiskLimits(allowed_symbols=("AGG", "IEF")),
            ("allowed_symbols", "SPY", "AGG, IEF", "SPY"),
            "SPY is not an allowed symbol",
        ),
        (
            RiskLimits(denied_symbols=("SPY",)),
            ("denied_symbols", "SPY", "denied", "SPY"),
            "SPY is denied",
        ),
    ],
)
def test_each_limit_refuses_naming_limit_value_and_symbol(
    limits: RiskLimits, fields: tuple[str, str, str, str | None], message: str
) -> None:
    refused = _refusal(limits)

    assert (refused.limit, refused.value, refused.threshold, refused.symbol) == fields
    assert message in str(refused)
    assert str(refused).startswith("plan for DU1 refused by its risk limits, nothing of it placed")


def test_orders_per_run_counts_earlier_rounds() -> None:
    limits = RiskLimits(max_orders_per_run=3)
    trades = [_trade("SPY", 1), _trade("AGG", 1)]
    check_plan([], trades, account_id="DU1", total_value=Decimal(100_000), limits=limits)

    refused = _refusal(limits, RiskUsage(orders_this_run=2), trades=trades)

    assert (refused.limit, refused.value, refused.threshold) == ("max_orders_per_run", "4", "3")


def test_orders_per_day_counts_orders_before_the_run() -> None:
    refused = _refusal(RiskLimits(max_orders_per_day=10), RiskUsage(orders_today=10))

    assert (refused.limit, refused.value) == ("max_orders_per_day", "11")
    assert "(10 before this run)" in str(refused)


def test_selling_out_of_a_denied_symbol_is_allowed() -> None:
    sell_out = RebalancePlan(
        symbol="SPY",
        current_qty=Decimal(5),
        current_weight=Decimal("0.005"),
        target_weight=Decimal(0),
        current_value=Decimal(500),
        target_value=Decimal(0),
        trade_quantity=-5,
        trade_amount=Decimal(-500),
        direction="SELL",
        needs_rebalance=True,
    )
    check_plan(
        [sell_out],
        [_trade("SPY", -5)],
        account_id="DU1",
        total_value=Decimal(100_000),
        limits=RiskLimits(denied_symbols=("SPY",), allowed_symbols=("AGG",)),
    )


def test_every_broken_limit_is_listed_first_one_in_the_fields() -> None:
    refused = _refusal(RiskLimits(denied_symbols=("SPY",), max_order_value=Decimal(1)))

    assert refused.limit == "denied_symbols"
    assert "denied_symbols: SPY is denied; max_order_value: BUY 500 SPY" in str(refused)


def test_a_plan_without_trades_is_never_refused() -> None:
    check_plan(
        [_line("SPY", "1")],
        [],
        account_id="DU1",
        total_value=Decimal(100_000),
        limits=RiskLimits(max_symbol_weight_percent=Decimal(10)),
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"allowed_symbols": []}, "an empty allowed_symbols list would refuse every plan"),
        ({"allowed_symbols": ["SPY"], "denied_symbols": ["spy"]}, "both allowed and denied: SPY"),
        ({"max_order_percent": 0}, "greater than 0"),
        ({"max_orders_per_day": 0}, "greater than or equal to 1"),
    ],
)
def test_risk_limits_model_refuses_contradictions(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RiskLimits.model_validate(fields)


# --------------------------------------------------------------------------------------------
# The rebalancer refuses before the first order; the preview shows the same refusal.
# --------------------------------------------------------------------------------------------


def _rebalancer(broker: InMemoryBroker, weights: dict[str, str], **kwargs: Any) -> Rebalancer:
    return Rebalancer(
        broker,
        allocation_source=StaticAllocationSource({"etf-blend": weights}),
        fill_timeout_secs=2.0,
        cancel_timeout_secs=1.0,
        settle_timeout_secs=1.0,
        **kwargs,
    )


async def test_garbage_document_all_in_one_symbol_is_refused_whole_before_any_order(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    config = account_config(risk_limits=RiskLimits(max_symbol_weight_percent=Decimal(60)))
    rebalancer = _rebalancer(broker, {"QQQ": "1"})

    preview = await rebalancer.calculate_rebalance(config)
    done = await rebalancer.rebalance_account(config)

    assert exchange.order_log == []
    assert preview.success is False
    assert preview.proposed_trades  # what would have been traded is shown
    assert preview.refusal is not None
    assert "max_symbol_weight_percent: target weight of QQQ 99.00% is above the limit" in (
        preview.refusal
    )
    assert done.success is False
    assert done.orders == []
    assert done.refusal == done.error
    assert done.refusal is not None
    assert "target weight of QQQ 99.00% is above the limit 60.00%" in done.refusal


async def test_typo_symbol_outside_the_allow_list_is_refused_before_any_order(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    limits = RiskLimits(allowed_symbols=("SPY", "AGG", "QQQ", "IEF", "TLT", "GLD"))
    weights = {**WEIGHTS, "IEF": "0", "IEFF": "0.2"}
    exchange.set_quote("IEFF", bid=Decimal("10.00"), ask=Decimal("10.01"))

    done = await _rebalancer(broker, weights).rebalance_account(account_config(risk_limits=limits))

    assert exchange.order_log == []
    assert done.refusal is not None
    assert "allowed_symbols: IEFF is not an allowed symbol" in done.refusal


async def test_orders_per_day_from_the_caller_refuse_a_run_that_would_pass_alone(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    config = account_config(risk_limits=RiskLimits(max_orders_per_day=8))
    alone = await _rebalancer(broker, WEIGHTS).calculate_rebalance(config)
    assert alone.success is True
    assert len(alone.proposed_trades) == 6

    done = await _rebalancer(broker, WEIGHTS, orders_today=4).rebalance_account(config)

    assert exchange.order_log == []
    assert done.refusal is not None
    assert "max_orders_per_day: the account would place 10 orders today (4 before this run)" in (
        done.refusal
    )


async def test_limits_within_bounds_trade_as_usual(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    limits = RiskLimits(
        max_symbol_weight_percent=Decimal(45),
        max_order_value=Decimal(60_000),
        max_orders_per_run=20,
        allowed_symbols=("SPY", "AGG", "QQQ", "IEF"),
    )

    done = await _rebalancer(broker, WEIGHTS).rebalance_account(account_config(risk_limits=limits))

    assert done.success is True, done.error
    assert done.refusal is None
    assert len(exchange.order_log) == len(done.orders) > 0
