"""Deposits and withdrawals are kept out of the returns (time-weighted, flow at end of day)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from portfolio_analytics import performance_metrics

MONDAY = date(2024, 1, 8)


def _days(*values: str) -> list[tuple[date, Decimal]]:
    return [(MONDAY + timedelta(days=i), Decimal(v)) for i, v in enumerate(values)]


def _returns(values: list[tuple[date, Decimal]], flows: list[tuple[date, Decimal]]) -> list[float]:
    metrics = performance_metrics(values, cash_flows=flows)
    growth = [1.0 + c for _, c in metrics.cumulative_returns]
    return [after / before - 1.0 for before, after in itertools.pairwise(growth)]


def test_a_deposit_is_counted_at_the_end_of_its_day_not_as_a_gain() -> None:
    # 100 -> 110 (+10 %); then +10 % on 110 = 121, plus a 1,000 deposit at the end of the day.
    values = _days("100", "110", "1121")
    metrics = performance_metrics(values, cash_flows=[(MONDAY + timedelta(days=2), Decimal(1000))])
    assert metrics.total_return == pytest.approx(0.21, rel=1e-12)
    assert metrics.net_cash_flow == Decimal(1000)
    assert performance_metrics(values).total_return == pytest.approx(10.21, rel=1e-12)


def test_a_withdrawal_is_not_a_loss() -> None:
    values = _days("1000", "990", "500")  # -1 %, then -1 % on 990 = 980.10, less 480.10 out
    metrics = performance_metrics(
        values, cash_flows=[(MONDAY + timedelta(days=2), Decimal("-480.10"))]
    )
    assert _returns(values, [(MONDAY + timedelta(days=2), Decimal("-480.10"))]) == pytest.approx(
        [-0.01, -0.01], rel=1e-12
    )
    assert metrics.max_drawdown.depth == pytest.approx(1 - 0.99**2, rel=1e-12)
    assert metrics.net_cash_flow == Decimal("-480.10")


def test_a_weekend_deposit_is_booked_on_the_next_value_date() -> None:
    friday, saturday, monday = date(2024, 1, 12), date(2024, 1, 13), date(2024, 1, 15)
    values = [(friday, Decimal(500)), (monday, Decimal(1505))]  # +1 % on 500, then 1,000 in
    metrics = performance_metrics(values, cash_flows=[(saturday, Decimal(1000))])
    assert metrics.total_return == pytest.approx(0.01, rel=1e-12)
    assert metrics.periods == 1


def test_flows_of_one_day_are_summed() -> None:
    values = _days("100", "102", "2104.04")  # +2 %, +2 %, and 2,000 in on the second day
    day = MONDAY + timedelta(days=2)
    flows = [(day, Decimal(1500)), (day, Decimal(700)), (day, Decimal(-200))]
    assert _returns(values, flows) == pytest.approx([0.02, 0.02], rel=1e-12)


def test_flows_on_or_before_the_first_date_or_after_the_last_are_ignored() -> None:
    values = _days("100", "101", "102")
    outside = [
        (MONDAY - timedelta(days=3), Decimal(5000)),
        (MONDAY, Decimal(99)),  # already in the first value
        (MONDAY + timedelta(days=3), Decimal(-50)),
    ]
    metrics = performance_metrics(values, cash_flows=outside)
    assert metrics == performance_metrics(values)
    assert metrics.net_cash_flow == 0


def test_a_deposit_not_smaller_than_its_day_s_value_is_refused_naming_it() -> None:
    values = _days("100", "101", "102")
    with pytest.raises(ValueError, match=r"cash_flows: 102 booked on 2024-01-10 is not less"):
        performance_metrics(values, cash_flows=[(MONDAY + timedelta(days=2), Decimal(102))])


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity"), 12.5])
def test_a_flow_that_is_not_a_finite_decimal_is_refused_naming_it(amount: object) -> None:
    values = _days("100", "101", "102")
    with pytest.raises(ValueError, match=r"cash_flows\[1\] \(2024-01-09\): amount"):
        performance_metrics(
            values,
            cash_flows=[(MONDAY, Decimal(1)), (MONDAY + timedelta(days=1), amount)],  # type: ignore[list-item]
        )
