"""The integer problem: valuation prices, buy prices, targets and per-symbol bounds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    ContractPrice,
)
from rebalance_calculator.problem import build_problem, buy_price, valuation_price

D = Decimal


def _position(market_price: str) -> AccountPosition:
    return AccountPosition(
        symbol="AAA", quantity=D(1), market_price=D(market_price), market_value=D(market_price)
    )


@pytest.mark.parametrize(
    ("position", "quote", "expected"),
    [
        (_position("12.5"), ContractPrice(symbol="AAA", bid=D(1), ask=D(2)), D("12.5")),
        (_position("0"), ContractPrice(symbol="AAA", bid=D(10), ask=D(11)), D("10.5")),
        (None, ContractPrice(symbol="AAA", bid=D(10), ask=D(11), last=D(9)), D("10.5")),
        (None, ContractPrice(symbol="AAA", bid=D(0), ask=D(11), last=D(9)), D(9)),
        (None, ContractPrice(symbol="AAA", ask=D(11), close=D(8)), D(8)),
        (None, ContractPrice(symbol="AAA", bid=D(10), last=D(0), close=D(0)), None),
        (None, None, None),
    ],
)
def test_valuation_price_prefers_market_price_then_mid_then_last_then_close(
    position: AccountPosition | None, quote: ContractPrice | None, expected: Decimal | None
) -> None:
    assert valuation_price(position, quote) == expected


@pytest.mark.parametrize(
    ("ask", "expected"),
    [("100.10", "100.60"), ("10.00", "10.05"), ("0.99", "0.99"), ("1.01", "1.02")],
)
def test_buy_price_is_ask_plus_half_percent_rounded_half_up_to_the_cent(
    ask: str, expected: str
) -> None:
    # 0.99 * 1.005 = 0.99495 -> 0.99; 1.01 * 1.005 = 1.01505 -> 1.02 (half-up)
    assert buy_price(D(ask)) == D(expected)


def test_problem_targets_reserve_and_bounds() -> None:
    snapshot = AccountSnapshot(
        account_id="U1",
        total_value=D(10_000),
        cash_balance=D(5_000),
        settled_cash=D(5_000),
        positions=[
            AccountPosition(
                symbol="OLD", quantity=D("7.5"), market_price=D(200), market_value=1500
            ),
            AccountPosition(symbol="AAA", quantity=D(35), market_price=D(100), market_value=3500),
        ],
    )
    quotes = [
        ContractPrice(symbol="OLD", bid=D("199.9"), ask=D("200.1")),
        ContractPrice(symbol="AAA", bid=D("99.9"), ask=D("100.1")),
        ContractPrice(symbol="BBB", bid=D("49.9"), ask=D("50.1")),
    ]
    config = AccountConfig(
        account_id="U1", type="paper", strategy_name="s", cash_reserve_percent=D(2)
    )

    problem = build_problem(
        account_snapshot=snapshot,
        target_allocations=[
            AllocationItem(symbol="AAA", allocation=D("0.25")),
            AllocationItem(symbol="BBB", allocation=D("0.75")),
        ],
        market_prices=quotes,
        account_config=config,
    )

    assert problem.reserve == D(200)
    assert problem.budget == D(4_800)
    lines = {line.symbol: line for line in problem.lines}
    assert [line.symbol for line in problem.lines] == ["AAA", "BBB", "OLD"]
    assert lines["AAA"].target_value == D(2_450)
    assert lines["BBB"].target_value == D(7_350)
    assert lines["BBB"].value_price == D(50)
    assert (lines["OLD"].min_quantity, lines["OLD"].max_quantity) == (-7, -7)  # liquidated
    assert (lines["AAA"].min_quantity, lines["AAA"].max_quantity) == (-35, None)
    assert (lines["BBB"].min_quantity, lines["BBB"].max_quantity) == (0, None)
    assert any("OLD" in w and "0.5" in w for w in problem.warnings)
