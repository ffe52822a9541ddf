"""Building the plan (``RebalancePlan`` lines; ``line.delta()`` gives the ``PositionDelta``)
from a calculation.

The calculator answers with trades only; the plan lists every symbol that is held or
targeted, with its weights and values before the trades, so an owner sees what was left
alone as well as what trades. Display is not done here (the daemon's report renders plans).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Literal

from broker_connector_base import (
    AccountSnapshot,
    AllocationItem,
    RebalancePlan,
    StrategyAttribution,
    Trade,
)
from broker_connector_base.trusted import trusted

__all__ = ["plan_lines"]

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)
_NO_STRATEGY = StrategyAttribution()


def plan_lines(
    snapshot: AccountSnapshot,
    targets: Sequence[AllocationItem],
    reserve_percent: Decimal,
    trades: Sequence[Trade],
    attribution: Mapping[str, StrategyAttribution] | None = None,
) -> list[RebalancePlan]:
    """One ``RebalancePlan`` per symbol held or targeted, sorted by symbol.

    Args:
        snapshot: The account the trades were planned on; ``total_value`` is ``V``.
        targets: The calculator's weights (summing to 1, or empty: sell everything).
        reserve_percent: The calculator's reserve percent; targets are
            ``weight * V * (1 - reserve_percent / 100)``, as the calculator computes them.
        trades: The calculator's trades.
        attribution: Strategies per symbol; ``None`` leaves lines unattributed, a symbol
            missing from it is attributed to no strategy.
    """
    total = snapshot.total_value
    investable = total - total * reserve_percent / _HUNDRED
    weights = {t.symbol: t.allocation for t in targets if t.allocation > 0}
    held = {p.symbol: p for p in snapshot.positions if p.quantity != 0}
    by_symbol = {t.symbol: t for t in trades}
    line = RebalancePlan if _invalid(total, investable, trades) else _CONSTRUCTED
    lines = []
    for symbol in sorted(weights.keys() | held.keys()):
        position = held.get(symbol)
        current = position.quantity * position.market_price if position is not None else _ZERO
        target = weights.get(symbol, _ZERO) * investable
        trade = by_symbol.get(symbol)
        quantity = trade.quantity if trade is not None else 0
        lines.append(
            line(
                symbol=symbol,
                current_qty=position.quantity if position is not None else _ZERO,
                current_weight=current / total if total else _ZERO,
                target_weight=target / total if total else _ZERO,
                current_value=current,
                target_value=target,
                trade_quantity=quantity,
                trade_amount=trade.quantity * trade.price if trade is not None else _ZERO,
                direction="HOLD" if quantity == 0 else trade_side(quantity),
                needs_rebalance=quantity != 0,
                attribution=_attribution(symbol, attribution),
            )
        )
    return lines


# Every field comes from validated values (the snapshot, the weights, the calculator's trades)
# and is consistent by construction (the direction and needs_rebalance follow the quantity, the
# amount has its sign since prices are positive), so validating each line again would only
# repeat what holds: lines are built as trusted values (a plan is checked on every session of
# a backtest). ``tests/test_plans.py`` checks they equal validated lines. Inputs for which
# that reasoning does not hold are validated as usual (``_invalid``).
_CONSTRUCTED = partial(trusted, RebalancePlan)


def _invalid(total: Decimal, investable: Decimal, trades: Sequence[Trade]) -> bool:
    """Inputs outside what the construction relies on: a non-positive or non-finite value,
    a negative investable value, a trade that is empty or not at a positive price."""
    return (
        not total.is_finite()
        or total <= 0
        or investable < 0
        or any(t.quantity == 0 or t.price <= 0 for t in trades)
    )


def trade_side(quantity: int) -> Literal["BUY", "SELL"]:
    """``"BUY"`` or ``"SELL"`` for a non-zero quantity."""
    return "BUY" if quantity > 0 else "SELL"


def _attribution(
    symbol: str, attribution: Mapping[str, StrategyAttribution] | None
) -> StrategyAttribution | None:
    if attribution is None:
        return None
    return attribution.get(symbol, _NO_STRATEGY)
