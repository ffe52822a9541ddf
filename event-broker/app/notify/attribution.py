"""Strategy attribution as the owner reads it: ``growth 60% / income 40%``.

The engine attributes every plan line and trade to the strategies of the account whose
allocations it carries (``StrategyAttribution``); here that becomes text for the CLI tables,
the notifications and the journal summary. An account of one strategy has every line
attributed wholly to it, which tells nothing: callers show attribution only for runs whose
lines name several strategies (``several_strategies``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

from broker_connector_base import StrategyAttribution, Trade

from app.models import AccountExecutionResult

__all__ = [
    "NO_STRATEGY",
    "by_strategy",
    "by_strategy_text",
    "percent",
    "several_strategies",
    "shares_text",
    "strategies_of",
]

NO_STRATEGY = "no strategy"
"""What a line held for none of the account's strategies (being sold) is attributed to."""

_TENTH = Decimal("0.1")


def percent(share: Decimal) -> str:
    """A share (0..1) as a percentage to a tenth, without a trailing ``.0``: ``66.7%``."""
    value = (share * 100).quantize(_TENTH, rounding=ROUND_HALF_EVEN)
    text = f"{value:f}".removesuffix(".0")
    return f"{text}%"


def shares_text(attribution: StrategyAttribution | None) -> str:
    """``growth 60% / income 40%`` (largest share first); ``no strategy`` when none targets
    the symbol; empty when the line was not attributed at all."""
    if attribution is None:
        return ""
    if not attribution.shares:
        return NO_STRATEGY
    ordered = sorted(attribution.shares.items(), key=lambda item: (-item[1], item[0]))
    return " / ".join(f"{name} {percent(share)}" for name, share in ordered)


def strategies_of(attributions: Iterable[StrategyAttribution | None]) -> tuple[str, ...]:
    """Every strategy named by ``attributions``, sorted."""
    names = {name for a in attributions if a is not None for name in a.shares}
    return tuple(sorted(names))


def several_strategies(result: AccountExecutionResult) -> bool:
    """True when the run's plan lines and trades are for more than one strategy."""
    lines = [line.attribution for line in result.plan]
    trades = [trade.attribution for trade in result.trades]
    return len(strategies_of([*lines, *trades])) > 1


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,.2f}"


def by_strategy(trades: Iterable[Trade]) -> dict[str, tuple[Decimal, Decimal]]:
    """Each strategy's part of the trades' planned values: ``name -> (bought, sold)``.

    A trade's value is divided by its attribution (``StrategyAttribution.split``); a sale
    no strategy targets counts under ``no strategy``; trades without attribution are left out.
    """
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for trade in trades:
        if trade.attribution is None:
            continue
        parts = trade.attribution.split(trade.notional) or {NO_STRATEGY: trade.notional}
        for name, value in parts.items():
            bought, sold = totals.get(name, (Decimal(0), Decimal(0)))
            totals[name] = (bought + value, sold) if trade.quantity > 0 else (bought, sold + value)
    return dict(sorted(totals.items()))


def by_strategy_text(result: AccountExecutionResult) -> str | None:
    """``growth buys 1,234.50, sells 0.00; income buys ...`` for a run of several strategies
    with trades; ``None`` otherwise."""
    if not result.trades or not several_strategies(result):
        return None
    totals = by_strategy(result.trades)
    return "; ".join(
        f"{name} buys {_money(bought)}, sells {_money(sold)}"
        for name, (bought, sold) in totals.items()
    )
