"""The calculator with commissions: orders worth less than they cost are not placed, large
rebalances do not change, the reserve survives the commissions, and each account is priced
with its schedule (or its broker's default)."""

from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal

import pytest
from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    CommissionScheduleName,
    ContractPrice,
    InvalidInputError,
)
from rebalance_calculator import (
    CommissionModel,
    TradeCalculationResult,
    TradeCalculator,
    commission_model,
)
from rebalance_calculator.optimizer import solve
from rebalance_calculator.problem import build_problem, buy_price

D = Decimal


def _config(schedule: CommissionScheduleName | None, **fields: object) -> AccountConfig:
    values: dict[str, object] = {
        "account_id": "U1",
        "type": "paper",
        "strategy_name": "s",
        "cash_reserve_percent": 0,
        "commission_schedule": schedule,
    }
    return AccountConfig.model_validate({**values, **fields})


def _snapshot(cash: str, *holdings: tuple[str, int, str]) -> AccountSnapshot:
    positions = [
        AccountPosition(symbol=s, quantity=q, market_price=D(p), market_value=q * D(p))
        for s, q, p in holdings
    ]
    total = D(cash) + sum((p.market_value for p in positions), D(0))
    return AccountSnapshot(
        account_id="U1",
        total_value=total,
        cash_balance=D(cash),
        settled_cash=D(cash),
        positions=positions,
    )


def _run(
    snapshot: AccountSnapshot,
    allocations: list[AllocationItem],
    quotes: list[ContractPrice],
    config: AccountConfig,
    schedule: CommissionScheduleName | None = None,
) -> TradeCalculationResult:
    return TradeCalculator().calculate_trades(
        account_snapshot=snapshot,
        target_allocations=allocations,
        market_prices=quotes,
        account_config=config,
        commission_schedule=schedule,
    )


def _plan(result: TradeCalculationResult) -> dict[str, int]:
    return {t.symbol: t.quantity for t in result.trades}


def _half_share_drift() -> tuple[AccountSnapshot, list[AllocationItem], list[ContractPrice]]:
    """Six lines USD 50.20 over their targets, six about USD 50.78 under, shares at USD 100.

    Selling one share of an overweight line and buying one of an underweight line moves both
    across their targets: each pair removes 2 * (50.20 + 50.78) - 200 = USD 1.97 of drift
    (the spread they pay comes back as cash). Under IBKR Pro Fixed the pair's two orders cost
    USD 1.01 each, more than that; without commissions each pair is an improvement.
    """
    over = [f"O{i}" for i in range(6)]
    under = [f"U{i}" for i in range(6)]
    snapshot = _snapshot("3.50", *((s, 10, "100") for s in over), *((s, 9, "100") for s in under))
    value = snapshot.total_value
    over_target = D("949.80")
    under_target = (value - 6 * over_target) / 6
    allocations = [AllocationItem(symbol=s, allocation=over_target / value) for s in over]
    allocations += [AllocationItem(symbol=s, allocation=under_target / value) for s in under]
    last = allocations.pop()
    allocations.append(
        AllocationItem(symbol=last.symbol, allocation=1 - sum(a.allocation for a in allocations))
    )
    quotes = [ContractPrice(symbol=s, bid=D("99.99"), ask=D("100.01")) for s in over + under]
    return snapshot, allocations, quotes


def test_one_share_swaps_worth_less_than_their_commissions_are_dropped_but_kept_when_free() -> None:
    snapshot, allocations, quotes = _half_share_drift()

    free = _run(snapshot, allocations, quotes, _config("zero"))
    fixed = _run(snapshot, allocations, quotes, _config("ibkr_pro_fixed"))

    assert _plan(free) == {**{f"O{i}": -1 for i in range(6)}, **{f"U{i}": 1 for i in range(6)}}
    assert all(t.estimated_commission == 0 for t in free.trades)
    assert fixed.trades == []


def test_cheaper_commissions_keep_the_swaps_they_pay_for() -> None:
    # IBKR Pro Tiered charges USD 0.36 an order here: a pair (USD 0.72, plus 0.52 of spread
    # out of the USD 3.50 of cash) is still worth its USD 1.97; the cash pays for two pairs.
    snapshot, allocations, quotes = _half_share_drift()

    tiered = _run(snapshot, allocations, quotes, _config("ibkr_pro_tiered"))

    assert sorted(_plan(tiered).values()) == [-1, -1, 1, 1]
    assert {t.estimated_commission for t in tiered.trades} == {D("0.36")}


_ETFS = [
    ContractPrice(symbol="SPY", bid=D("449.98"), ask=D("450.02")),
    ContractPrice(symbol="AGG", bid=D("109.99"), ask=D("110.01")),
    ContractPrice(symbol="VTI", bid=D("229.97"), ask=D("230.03")),
    ContractPrice(symbol="GLD", bid=D("179.95"), ask=D("180.05")),
    ContractPrice(symbol="OLD", bid=D("199.95"), ask=D("200.05")),
]
_WEIGHTS = [
    AllocationItem(symbol=s, allocation=D(w))
    for s, w in (("SPY", "0.4"), ("AGG", "0.3"), ("VTI", "0.2"), ("GLD", "0.1"))
]


@pytest.mark.parametrize(
    "snapshot",
    [
        _snapshot("100000"),
        _snapshot(
            "5300", ("SPY", 120, "450"), ("AGG", 150, "110"), ("VTI", 40, "230"), ("OLD", 75, "200")
        ),
    ],
    ids=["all cash", "held, one symbol dropped"],
)
@pytest.mark.parametrize("schedule", ["ibkr_pro_fixed", "ibkr_pro_tiered", "ibkr_lite"])
def test_a_large_rebalance_is_the_same_plan_with_commissions(
    snapshot: AccountSnapshot, schedule: CommissionScheduleName
) -> None:
    config = _config("zero", cash_reserve_percent=1)

    free = _run(snapshot, _WEIGHTS, _ETFS, config)
    priced = _run(snapshot, _WEIGHTS, _ETFS, config, schedule)

    assert len(free.trades) >= 4
    assert _plan(priced) == _plan(free)
    model = commission_model(schedule)
    for trade in priced.trades:
        assert trade.estimated_commission == model.estimate(trade.quantity, trade.price)
        assert trade.estimated_commission is not None
        assert trade.estimated_commission > 0


@pytest.mark.parametrize(
    ("schedule", "shares", "commission"),
    [("zero", 10, "0.00"), ("ibkr_pro_fixed", 9, "1.01"), ("ibkr_lite", 9, "0.01")],
)
def test_buys_leave_the_reserve_intact_once_their_commission_is_paid(
    schedule: CommissionScheduleName, shares: int, commission: str
) -> None:
    # USD 1,000 buys exactly ten shares at 99.50 * 1.005 = USD 100.00: nothing is left for a
    # commission, so any schedule that charges one buys nine.
    snapshot = _snapshot("1000.00")
    quotes = [ContractPrice(symbol="AAA", bid=D("99.40"), ask=D("99.50"))]

    result = _run(snapshot, [AllocationItem(symbol="AAA", allocation=D(1))], quotes, _config(None))
    assert _plan(result) == {"AAA": 9}  # the default account (IBKR) is charged too

    result = _run(
        snapshot, [AllocationItem(symbol="AAA", allocation=D(1))], quotes, _config(schedule)
    )

    (trade,) = result.trades
    assert (trade.quantity, trade.price, trade.estimated_commission) == (
        shares,
        D("100.00"),
        D(commission),
    )
    assert snapshot.cash_balance - trade.notional - D(commission) >= 0


@pytest.mark.parametrize(("broker", "expected"), [("ibkr", "ibkr_pro_fixed"), ("alpaca", "zero")])
def test_an_account_without_a_schedule_is_priced_with_its_brokers_default(
    broker: str, expected: CommissionScheduleName
) -> None:
    snapshot, allocations, quotes = _half_share_drift()

    default = _run(snapshot, allocations, quotes, _config(None, broker=broker))
    named = _run(snapshot, allocations, quotes, _config(expected, broker=broker))

    assert default == named
    assert default.commission_schedule == expected


def test_the_argument_wins_over_the_accounts_schedule() -> None:
    snapshot, allocations, quotes = _half_share_drift()

    result = _run(snapshot, allocations, quotes, _config("ibkr_pro_fixed"), "zero")

    assert result.commission_schedule == "zero"
    assert len(result.trades) == 12


def test_an_account_of_a_broker_without_default_and_without_schedule_is_refused() -> None:
    snapshot, allocations, quotes = _half_share_drift()

    with pytest.raises(InvalidInputError, match="'tradier'") as caught:
        _run(snapshot, allocations, quotes, _config(None, broker="tradier"))

    assert caught.value.source == "account config"


def _objective(
    snapshot: AccountSnapshot,
    targets: dict[str, Decimal],
    quotes: dict[str, ContractPrice],
    plan: dict[str, int],
    schedule: CommissionScheduleName,
) -> tuple[Decimal, Decimal]:
    """(objective, cash after commissions) of a buy-only plan, from scratch."""
    model = commission_model(schedule)
    cash = snapshot.cash_balance
    objective = fees = Decimal(0)
    for symbol, quote in quotes.items():
        assert quote.bid is not None
        assert quote.ask is not None
        mid = (quote.bid + quote.ask) / 2
        n = plan.get(symbol, 0)
        price = buy_price(quote.ask)
        cash -= n * price
        fees += model.estimate(n, price)
        objective += abs(n * mid - targets[symbol]) + n * (price - mid)
    return objective + abs(cash) + fees, cash - fees


@pytest.mark.parametrize(
    ("cash", "prices"),
    [
        ("10000", {"AAA": "900", "BBB": "300"}),
        ("2000", {"AAA": "1450", "BBB": "610", "CCC": "95"}),
        ("3000", {"AAA": "2900", "BBB": "55.5", "CCC": "1200"}),
        ("750", {"AAA": "260", "BBB": "140", "CCC": "33"}),
        ("400", {"AAA": "190", "BBB": "45", "CCC": "12"}),
    ],
)
@pytest.mark.parametrize("schedule", ["ibkr_pro_fixed", "ibkr_pro_tiered"])
def test_small_accounts_reach_the_exact_optimum_with_commissions_counted(
    cash: str, prices: dict[str, str], schedule: CommissionScheduleName
) -> None:
    # Brute force over every whole-share plan the cash pays for, commissions included.
    quotes = {
        s: ContractPrice(symbol=s, bid=D(p) - D("0.01"), ask=D(p) + D("0.01"))
        for s, p in prices.items()
    }
    snapshot = _snapshot(cash)
    weights = [D(1) / len(prices)] * (len(prices) - 1)
    weights.append(1 - sum(weights, D(0)))
    allocations = [
        AllocationItem(symbol=s, allocation=w) for s, w in zip(prices, weights, strict=True)
    ]
    targets = {a.symbol: a.allocation * D(cash) for a in allocations}
    ranges = [range(int(D(cash) // buy_price(q.ask or D(1))) + 1) for q in quotes.values()]
    plans = [dict(zip(prices, shares, strict=True)) for shares in itertools.product(*ranges)]
    scored = [_objective(snapshot, targets, quotes, plan, schedule) for plan in plans]
    best = min(objective for objective, left in scored if left >= 0)

    result = _run(snapshot, allocations, list(quotes.values()), _config(schedule))

    found, left = _objective(snapshot, targets, quotes, _plan(result), schedule)
    assert left >= 0
    assert found == best


def test_an_order_worth_less_than_a_flat_fee_is_dropped_as_a_whole() -> None:
    # OLD is five shares over its target and nothing can use the cash a sale would free (BIG
    # costs more than the account): selling moves USD 250 of drift from OLD into idle cash,
    # which is no improvement, and pays the fee. Under a flat USD 1 an order (no per-share
    # part), one share less of the sale saves nothing, so only dropping the whole order shows
    # the fee is wasted. (Real schedules also charge per share, which saves a little with
    # each share.)
    snapshot = _snapshot("250", ("OLD", 20, "50"))
    allocations = [
        AllocationItem(symbol="OLD", allocation=D("0.6")),
        AllocationItem(symbol="BIG", allocation=D("0.4")),
    ]
    quotes = [
        ContractPrice(symbol="OLD", bid=D("49.99"), ask=D("50.01")),
        ContractPrice(symbol="BIG", bid=D("1999"), ask=D("2001")),
    ]
    problem = build_problem(
        account_snapshot=snapshot,
        target_allocations=allocations,
        market_prices=quotes,
        account_config=_config("zero"),
    )
    flat = CommissionModel(name="ibkr_pro_fixed", minimum=D(1))

    assert solve(problem) == [0, -5]  # free: the nearest whole shares, as before
    assert solve(dataclasses.replace(problem, commissions=flat)) == [0, 0]
