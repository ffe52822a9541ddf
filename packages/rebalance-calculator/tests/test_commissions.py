"""Commission schedules: IB's worked examples, fees worked by hand, the search's integer bound,
and which schedule an account gets."""

from __future__ import annotations

from decimal import Decimal
from typing import get_args

import pytest
from broker_connector_base import AccountConfig, CommissionScheduleName, InvalidInputError
from hypothesis import given, settings
from hypothesis import strategies as st
from rebalance_calculator import (
    BROKER_DEFAULT_SCHEDULES,
    COMMISSION_SCHEDULES,
    commission_model,
    default_commission_schedule,
    resolve_commission_schedule,
)
from rebalance_calculator.commissions import IBKR_LITE, IBKR_PRO_FIXED, IBKR_PRO_TIERED, ZERO

D = Decimal


@pytest.mark.parametrize(
    ("shares", "price", "expected"),
    [
        # IB's "Fixed Examples" (interactivebrokers.com/en/pricing/commissions-stocks.php).
        (100, "25", "1.00"),
        (1_000, "25", "5.00"),
        (1_000, "0.25", "2.50"),
        # The 1 % cap wins over the USD 1.00 minimum: 1 share at USD 5 pays USD 0.05.
        (1, "5", "0.05"),
        (300, "10", "1.50"),
    ],
)
def test_ibkr_pro_fixed_commission_matches_ibs_examples(
    shares: int, price: str, expected: str
) -> None:
    assert IBKR_PRO_FIXED.commission(shares, D(price)) == D(expected)


@pytest.mark.parametrize(
    ("shares", "price", "expected"),
    [
        (100, "25", "0.35"),  # 0.0035 * 100 = 0.35: exactly the minimum
        (1_000, "25", "3.50"),
        (10, "25", "0.35"),  # the minimum
        (10, "2", "0.20"),  # 1 % of USD 20 is below the minimum
    ],
)
def test_ibkr_pro_tiered_commission_is_per_share_with_minimum_and_cap(
    shares: int, price: str, expected: str
) -> None:
    assert IBKR_PRO_TIERED.commission(shares, D(price)) == D(expected)


@pytest.mark.parametrize(
    ("model", "quantity", "price", "expected"),
    [
        # Fixed, buy 100 at 25: 1.00 + CAT 100 * 0.000072 = 1.0072 -> 1.01 (rounded up).
        (IBKR_PRO_FIXED, 100, "25", "1.01"),
        # Fixed, sell 100 at 25: 1.00 + CAT 0.0072 + SEC 2,500 * 0.0000278 = 0.0695
        # + FINRA TAF 100 * 0.000166 = 0.0166 -> 1.0933 -> 1.10.
        (IBKR_PRO_FIXED, -100, "25", "1.10"),
        # Fixed, sell 100,000 at 10: 500 + CAT 7.20 + SEC 27.80 + TAF capped at 8.30.
        (IBKR_PRO_FIXED, -100_000, "10", "543.30"),
        # Fixed, buy 1 at 5: 0.05 (the cap) + CAT 0.000072 -> 0.06.
        (IBKR_PRO_FIXED, 1, "5", "0.06"),
        # Tiered, buy 100 at 25: 0.35 * (1 + 0.000738) = 0.3502583 + exchange 100 * 0.0030
        # + clearing 100 * 0.0002 + CAT 0.0072 = 0.6774583 -> 0.68.
        (IBKR_PRO_TIERED, 100, "25", "0.68"),
        # Tiered, buy 1,000 at 25: 3.502583 + 3.00 + 0.20 + 0.072 = 6.774583 -> 6.78.
        (IBKR_PRO_TIERED, 1_000, "25", "6.78"),
        # Tiered, buy 1,000 at 0.30: commission 1 % of 300 = 3.00 (below 0.0035 * 1,000) ->
        # 3.002214; exchange 0.3 % of the price (0.0009 a share) = 0.90; clearing 0.20; CAT
        # 0.072 -> 4.174214 -> 4.18.
        (IBKR_PRO_TIERED, 1_000, "0.30", "4.18"),
        # Lite, buy 100 at 25: CAT 0.0072 -> 0.01; sell: 0.0072 + 0.0695 + 0.0166 -> 0.10.
        (IBKR_LITE, 100, "25", "0.01"),
        (IBKR_LITE, -100, "25", "0.10"),
        (ZERO, 100, "25", "0.00"),
        (ZERO, -100_000, "10", "0.00"),
        (IBKR_PRO_FIXED, 0, "25", "0.00"),
    ],
)
def test_estimate_adds_the_fees_and_rounds_up_to_the_cent(
    model: object, quantity: int, price: str, expected: str
) -> None:
    assert isinstance(model, type(ZERO))
    estimate = model.estimate(quantity, D(price))
    assert estimate == D(expected)
    assert estimate.as_tuple().exponent == -2


def test_every_schedule_name_has_a_model_and_every_broker_default_is_a_schedule() -> None:
    assert set(COMMISSION_SCHEDULES) == set(get_args(CommissionScheduleName))
    assert all(name == model.name for name, model in COMMISSION_SCHEDULES.items())
    assert set(BROKER_DEFAULT_SCHEDULES.values()) <= set(COMMISSION_SCHEDULES)


def _account(**changes: object) -> AccountConfig:
    fields: dict[str, object] = {"account_id": "U1", "type": "paper", "strategy_name": "s"}
    return AccountConfig.model_validate({**fields, **changes})


@pytest.mark.parametrize(("broker", "expected"), [("ibkr", "ibkr_pro_fixed"), ("alpaca", "zero")])
def test_an_account_without_a_schedule_gets_its_brokers_default(broker: str, expected: str) -> None:
    assert default_commission_schedule(broker) == expected
    assert resolve_commission_schedule(_account(broker=broker)) == expected


def test_the_accounts_schedule_wins_over_the_default_and_an_argument_over_both() -> None:
    account = _account(broker="ibkr", commission_schedule="ibkr_lite")

    assert resolve_commission_schedule(account) == "ibkr_lite"
    assert resolve_commission_schedule(account, "ibkr_pro_tiered") == "ibkr_pro_tiered"


def test_a_broker_without_a_default_needs_a_schedule_and_the_error_says_so() -> None:
    with pytest.raises(InvalidInputError, match=r"'tradier'.*commission_schedule") as caught:
        resolve_commission_schedule(_account(broker="tradier"))

    assert caught.value.source == "account config"
    assert "ibkr_pro_fixed" in str(caught.value)
    assert resolve_commission_schedule(_account(broker="tradier", commission_schedule="zero"))


_SCHEDULES = st.sampled_from(sorted(COMMISSION_SCHEDULES))
_PRICES = st.integers(1, 500_000).map(lambda cents: Decimal(cents) / 100)


@given(_SCHEDULES, _PRICES, st.booleans(), st.integers(1, 2_000_000))
@settings(max_examples=400, deadline=None)
def test_the_search_bound_is_never_below_the_estimate_and_at_most_a_cent_above(
    name: CommissionScheduleName, price: Decimal, sell: bool, shares: int
) -> None:
    model = commission_model(name)
    bound = model.bound(price, sell=sell)
    exact = model.estimate(-shares if sell else shares, price) * 1_000_000

    assert bound(shares) >= exact
    assert bound(shares) - exact <= 10_000 + 4 * shares  # a cent, and a micro per coefficient
    assert bound(0) == 0


@given(_SCHEDULES, _PRICES, st.booleans(), st.integers(0, 400_000), st.booleans())
@settings(max_examples=400, deadline=None)
def test_the_search_bound_changes_by_the_same_amount_over_each_run_it_reports(
    name: CommissionScheduleName, price: Decimal, sell: bool, shares: int, away: bool
) -> None:
    if shares == 0 and not away:
        shares = 1
    bound = commission_model(name).bound(price, sell=sell)
    step = 1 if away else -1
    first, run = bound.step(shares, away)

    assert first == bound(shares + step) - bound(shares)
    assert run >= 1
    assert shares + step * run >= 0
    for k in {1, run // 2, run - 1, run} - {0}:
        assert bound(shares + step * k) - bound(shares) == k * first, (run, k)


def test_the_first_share_is_a_run_of_its_own_because_it_pays_the_minimum() -> None:
    bound = IBKR_PRO_FIXED.bound(D("100"), sell=False)

    assert bound.step(0, away=True) == (1_000_000 + 72 + 10_000, 1)  # minimum, CAT, a cent
    assert bound.step(1, away=True) == (72, 199)  # flat up to 200 shares (USD 0.005 * 200)
    assert bound.step(200, away=True) == (5_000 + 72, 2**62)  # per share from there on
    assert bound.step(1, away=False) == (-(1_000_000 + 72 + 10_000), 1)
    assert bound.step(250, away=False) == (-(5_000 + 72), 50)
