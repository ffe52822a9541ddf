"""Cash reconciliation between two snapshots: what is a deposit or withdrawal, what is noise."""

from __future__ import annotations

from decimal import Decimal

import pytest
from app.snapshots.flows import Fill, reconcile

D = Decimal


def _flow(cash_before: str, cash_after: str, fills: list[Fill], value: str = "100000") -> object:
    check = reconcile(
        previous_cash=D(cash_before),
        previous_value=D(value),
        current_cash=D(cash_after),
        fills=fills,
    )
    return check.flow


def test_reconcile_when_cash_rises_without_fills_then_the_rise_is_a_deposit() -> None:
    assert _flow("1000.00", "6000.00", []) == D("5000.00")


def test_reconcile_when_cash_falls_without_fills_then_the_fall_is_a_withdrawal() -> None:
    assert _flow("6000.00", "1000.00", []) == D("-5000.00")


def test_reconcile_when_fills_explain_the_cash_change_then_there_is_no_flow() -> None:
    # Sold 10 at 100.50 (+1005.00), bought 3 at 200.25 (-600.75), 2 commissions estimated.
    fills = [Fill(-10, D("100.50"), D("1.00")), Fill(3, D("200.25"), D("1.00"))]
    assert _flow("1000.00", "1402.25", fills) is None


def test_reconcile_when_fills_and_a_deposit_then_the_flow_is_the_deposit_to_the_cent() -> None:
    fills = [Fill(-10, D("100.50"), D("1.00")), Fill(3, D("200.25"), D("1.00"))]
    check = reconcile(
        previous_cash=D("1000.00"),
        previous_value=D("100000"),
        current_cash=D("3902.25"),
        fills=fills,
    )
    assert (check.fills_cash, check.commissions, check.fills) == (D("404.25"), D("2.00"), 2)
    assert check.flow == D("2500.00")


@pytest.mark.parametrize(
    ("cash_after", "value", "flow"),
    [
        ("1099.99", "100000", None),  # below 0.1 % of $100,000: noise (a commission, say)
        ("1100.00", "100000", D("100.00")),  # at the threshold: a flow
        ("1000.99", "500", None),  # below the $1 floor of a small account
        ("1001.00", "500", D("1.00")),
        ("900.01", "100000", None),
        ("900.00", "100000", D("-100.00")),
    ],
)
def test_reconcile_threshold_is_the_larger_of_one_dollar_and_a_tenth_of_a_percent(
    cash_after: str, value: str, flow: Decimal | None
) -> None:
    assert _flow("1000.00", cash_after, [], value=value) == flow


def test_reconcile_residual_is_rounded_to_the_cent_from_exact_fill_prices() -> None:
    # An average fill price with four decimals leaves a fraction of a cent.
    check = reconcile(
        previous_cash=D("10000.00"),
        previous_value=D("10000"),
        current_cash=D("12000.00"),
        fills=[Fill(7, D("33.3333"))],
    )
    assert check.fills_cash == D("-233.3331")
    assert check.residual == D("2233.33")
