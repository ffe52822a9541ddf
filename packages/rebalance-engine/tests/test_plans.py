"""``plan_lines`` builds its lines without validating them again (``model_construct``): they
must be exactly the lines validation gives, for every plan the calculator can hand it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from broker_connector_base import (
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    RebalancePlan,
    StrategyAttribution,
    Trade,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from rebalance_engine.plans import plan_lines

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE"]
CENT = Decimal("0.01")

cents = st.integers(1, 5_000_000).map(lambda c: Decimal(c) / 100)


@st.composite
def plans(
    draw: st.DrawFn,
) -> tuple[
    AccountSnapshot, list[AllocationItem], Decimal, list[Trade], dict[str, StrategyAttribution]
]:
    positions = []
    for symbol in draw(st.lists(st.sampled_from(SYMBOLS), unique=True)):
        quantity = Decimal(draw(st.integers(-50, 5_000))) / draw(st.sampled_from([1, 1, 2, 1000]))
        price = draw(cents)
        positions.append(
            AccountPosition(
                symbol=symbol, quantity=quantity, market_price=price, market_value=quantity * price
            )
        )
    cash = Decimal(draw(st.integers(-100_000, 10_000_000))) / 100
    total = cash + sum((p.market_value for p in positions), Decimal(0))
    if total <= 0:
        total = Decimal("1000.00")
    snapshot = AccountSnapshot(
        account_id="U1",
        total_value=total,
        cash_balance=cash,
        settled_cash=cash,
        positions=positions,
    )
    targeted = draw(st.lists(st.sampled_from(SYMBOLS), unique=True))
    raw = [draw(st.integers(0, 100)) for _ in targeted]
    weights = [Decimal(w) / (sum(raw) or 1) for w in raw]
    targets = [
        AllocationItem(symbol=s, allocation=w) for s, w in zip(targeted, weights, strict=True)
    ]
    trades = []
    for symbol in sorted({p.symbol for p in positions} | set(targeted)):
        shares = draw(st.integers(-300, 300))
        if shares:
            trades.append(
                Trade(
                    symbol=symbol,
                    quantity=shares,
                    current_shares=Decimal(0),
                    target_value=Decimal(0),
                    current_value=Decimal(0),
                    price=draw(cents),
                )
            )
    attribution = {
        s: StrategyAttribution.of({"a": Decimal(draw(st.integers(1, 9))), "b": Decimal(1)})
        for s in targeted
    }
    reserve = Decimal(draw(st.integers(0, 100)))
    return snapshot, targets, reserve, trades, attribution


@given(plans(), st.booleans())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_constructed_lines_equal_validated_lines(
    plan: tuple[
        AccountSnapshot, list[AllocationItem], Decimal, list[Trade], dict[str, StrategyAttribution]
    ],
    attributed: bool,
) -> None:
    snapshot, targets, reserve, trades, attribution = plan

    lines = plan_lines(snapshot, targets, reserve, trades, attribution if attributed else None)

    for line in lines:
        validated = RebalancePlan.model_validate(line.model_dump())
        assert line == validated
        assert line.model_dump() == validated.model_dump()
        assert line.model_fields_set == validated.model_fields_set
        assert [type(v) for v in dict(line).values()] == [type(v) for v in dict(validated).values()]


def test_lines_of_inputs_outside_the_construction_are_validated_as_before() -> None:
    snapshot = AccountSnapshot(
        account_id="U1",
        total_value=Decimal(1000),
        cash_balance=Decimal(1000),
        settled_cash=Decimal(1000),
        positions=[],
    )
    targets = [AllocationItem(symbol="AAA", allocation=Decimal(1))]
    # A reserve above 100 % makes the target negative: validation refuses it, as it always did.
    with pytest.raises(ValidationError, match="target_value"):
        plan_lines(snapshot, targets, Decimal(150), [])
