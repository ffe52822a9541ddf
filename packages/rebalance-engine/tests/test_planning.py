"""``calculator_targets``: allocations summing below (or slightly above) 1 for the calculator."""

from __future__ import annotations

from decimal import Decimal

from broker_connector_base import AllocationItem
from rebalance_engine.planning import LastTargets, calculator_targets


def _items(**weights: str) -> list[AllocationItem]:
    return [AllocationItem(symbol=s, allocation=Decimal(w)) for s, w in weights.items()]


def test_calculator_targets_full_allocation_keeps_reserve() -> None:
    weights, reserve = calculator_targets(_items(SPY="0.6", AGG="0.4"), Decimal(1))
    assert [(a.symbol, a.allocation) for a in weights] == [
        ("SPY", Decimal("0.6")),
        ("AGG", Decimal("0.4")),
    ]
    assert reserve == Decimal(1)


def test_calculator_targets_scaled_allocation_moves_rest_into_reserve() -> None:
    # IRA set: GLD 0.2 at scale 0.5 became IAU 0.1; kept share k = 0.9.
    items = _items(SPY="0.6", PDBC="0.2", IAU="0.1")
    weights, reserve = calculator_targets(items, Decimal(2))
    assert sum(w.allocation for w in weights) == 1
    # reserve' = 100 * (1 - 0.98 * 0.9) = 11.8
    assert reserve == Decimal("11.800")
    total = Decimal(100000)
    investable = total * (1 - reserve / 100)
    for original, weight in zip(items, weights, strict=True):
        intended = original.allocation * (total - total * Decimal("0.02"))
        assert abs(weight.allocation * investable - intended) < Decimal("1e-20")


def test_calculator_targets_sum_above_one_floors_reserve_at_zero() -> None:
    weights, reserve = calculator_targets(_items(SPY="0.505", AGG="0.505"), Decimal(0))
    assert reserve == 0
    assert sum(w.allocation for w in weights) == 1


def test_calculator_targets_thirds_sum_exactly_one() -> None:
    weights, _ = calculator_targets(_items(A="0.3", B="0.3", C="0.3"), Decimal(1))
    assert sum(w.allocation for w in weights) == 1


def test_calculator_targets_empty_means_all_cash() -> None:
    assert calculator_targets([], Decimal(1)) == ([], Decimal(1))


def test_last_targets_answers_what_calculator_targets_does_and_follows_new_allocations() -> None:
    last = LastTargets()
    first = [AllocationItem(symbol="SPY", allocation=Decimal("0.6"))]
    second = [AllocationItem(symbol="AGG", allocation=Decimal("0.5"))]

    answers = [last(first, Decimal(1)), last(first, Decimal(1)), last(second, Decimal(1))]
    answers.append(last(second, Decimal(2)))

    assert answers[0] == answers[1] == calculator_targets(first, Decimal(1))
    assert answers[2] == calculator_targets(second, Decimal(1))
    assert answers[3] == calculator_targets(second, Decimal(2))
    answers[3][0].clear()  # the caller's own list: the next answer is whole again
    assert last(second, Decimal(2)) == calculator_targets(second, Decimal(2))
