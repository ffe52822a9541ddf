"""Turning a strategy's allocations into the calculator's inputs.

The calculator refuses allocations that do not sum to 1 (rightly: it cannot tell a typo from
intent). A replacement with scale < 1, or an API document summing to slightly less than 1,
means "keep the rest in cash". Rather than loosen the calculator, the rest is moved into the
cash reserve:

with the account's reserve fraction ``r`` and the kept share ``k = Σ a_i`` (``a_i`` already
scaled), the calculator gets weights ``a_i / k`` (summing to 1) and a reserve percent
``r' = 100 · (1 − (1 − r) · k)``. Its target for symbol ``i`` is then
``(a_i / k) · V · (1 − r') = (a_i / k) · V · (1 − r) · k = a_i · (V − R)`` with ``R = r · V``:
exactly the scaled allocation of the investable value, and the unallocated share stays cash.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from broker_connector_base import AllocationItem

__all__ = ["LastTargets", "calculator_targets"]

_HUNDRED = Decimal(100)


def calculator_targets(
    allocations: Sequence[AllocationItem], cash_reserve_percent: Decimal
) -> tuple[list[AllocationItem], Decimal]:
    """Weights summing to exactly 1 and the reserve percent that keeps the rest in cash.

    Args:
        allocations: Target weights, possibly summing to less (or, within the API's tolerance,
            slightly more) than 1.
        cash_reserve_percent: The account's configured reserve, 0..100.

    Returns:
        ``(weights, reserve_percent)`` for the calculator. A sum above 1 cannot be met without
        borrowing, so the reserve is floored at 0 and the weights are scaled down to fit.
    """
    kept = sum((a.allocation for a in allocations if a.allocation > 0), Decimal(0))
    if kept == 0:
        return [], cash_reserve_percent
    reserve = _HUNDRED * (1 - (1 - cash_reserve_percent / _HUNDRED) * kept)
    reserve = min(max(reserve, Decimal(0)), _HUNDRED)
    items = [a for a in allocations if a.allocation > 0]
    weights = [a.allocation / kept for a in items]
    # Decimal division leaves the sum a few units in the 28th digit off 1; give the remainder
    # to the largest weight so the calculator sees exactly 1.
    largest = max(range(len(weights)), key=weights.__getitem__)
    weights[largest] += 1 - sum(weights, Decimal(0))
    normalised = [
        AllocationItem(symbol=a.symbol, allocation=w) for a, w in zip(items, weights, strict=True)
    ]
    return normalised, reserve


class LastTargets:
    """``calculator_targets``, answered again without recomputing while the allocations and
    the reserve stay those of the last call (a pure function: every check of an account until
    a strategy's next document asks the same)."""

    def __init__(self) -> None:
        self._last: tuple[tuple[tuple[AllocationItem, ...], Decimal], _Targets] | None = None

    def __call__(
        self, allocations: Sequence[AllocationItem], cash_reserve_percent: Decimal
    ) -> tuple[list[AllocationItem], Decimal]:
        """What ``calculator_targets(allocations, cash_reserve_percent)`` returns."""
        key = (tuple(allocations), cash_reserve_percent)
        if self._last is None or self._last[0] != key:
            self._last = (key, calculator_targets(allocations, cash_reserve_percent))
        weights, reserve = self._last[1]
        return list(weights), reserve


_Targets = tuple[list[AllocationItem], Decimal]
