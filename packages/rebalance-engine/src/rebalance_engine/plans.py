"""Building the plan (``RebalancePlan`` lines; ``line.delta()`` gives the ``PositionDelta``)
from a calculation.

The calculator answers with trades only; the plan lists every symbol that is held or
targeted, with its weights and values before the trades, so an owner sees what was left
alone as well as what trades. Display is not done here (the daemon's report renders plans).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal

from broker_connector_base import (
    AccountSnapshot,
    AllocationItem,
    RebalancePlan,
    StrategyAttribution,
    Trade,
)

__all__ = ["plan_lines"]

_HUNDRED = Decimal(100)
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
    lines = []
    for symbol in sorted(weights.keys() | held.keys()):
        position = held.get(symbol)
        current = position.quantity * position.market_price if position is not None else Decimal(0)
        target = weights.get(symbol, Decimal(0)) * investable
        trade = by_symbol.get(symbol)
        quantity = trade.quantity if trade is not None else 0
        lines.append(
            RebalancePlan(
                symbol=symbol,
                current_qty=position.quantity if position is not None else Decimal(0),
                current_weight=current / total if total else Decimal(0),
                target_weight=target / total if total else Decimal(0),
                current_value=current,
                target_value=target,
                trade_quantity=quantity,
                trade_amount=trade.quantity * trade.price if trade is not None else Decimal(0),
                direction="HOLD" if quantity == 0 else trade_side(quantity),
                needs_rebalance=quantity != 0,
                attribution=_attribution(symbol, attribution),
            )
        )
    return lines


def trade_side(quantity: int) -> Literal["BUY", "SELL"]:
    """``"BUY"`` or ``"SELL"`` for a non-zero quantity."""
    return "BUY" if quantity > 0 else "SELL"


def _attribution(
    symbol: str, attribution: Mapping[str, StrategyAttribution] | None
) -> StrategyAttribution | None:
    if attribution is None:
        return None
    return attribution.get(symbol, _NO_STRATEGY)
