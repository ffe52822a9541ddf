"""Pre-trade risk check: a plan that breaks one of the account's limits is refused whole.

``check_plan`` is a pure function of the plan, the account's ``RiskLimits`` and what the
account already did (orders earlier today, orders and value already traded in this run), so
every broker, the backtest and the preview get the same answer. The rebalancer calls it
before the first order of every round, and again on the buys it recomputes after the sells;
a refusal raises ``RiskLimitError`` before that round places anything. The count of orders
earlier today is the caller's to give (the daemon counts them in its journal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from broker_connector_base import RebalancePlan, RiskLimitError, RiskLimits, Trade

__all__ = ["RiskUsage", "Violation", "check_plan", "plan_violations", "usage"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RiskUsage:
    """What the account has used of its limits before the plan being checked.

    Attributes:
        orders_today: Orders placed in the account earlier this trading day (other runs).
        orders_this_run: Orders this run placed in its earlier rounds.
        traded_this_run: Value of those orders (for the turnover limit).
    """

    orders_today: int = 0
    orders_this_run: int = 0
    traded_this_run: Decimal = Decimal(0)


def usage(orders_today: int, placed: Sequence[Trade]) -> RiskUsage:
    """What a run has used: ``orders_today`` before it, and the orders it ``placed``."""
    sent = [t for t in placed if t.order_id is not None or t.status is not None]
    return RiskUsage(
        orders_today=orders_today,
        orders_this_run=len(sent),
        traded_this_run=sum((t.notional for t in sent), Decimal(0)),
    )


@dataclass(frozen=True)
class Violation:
    """One broken limit: which, by what value, against what threshold, for which symbol."""

    limit: str
    value: str
    threshold: str
    symbol: str | None
    message: str


def _percent(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}%"


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01')):,}"


def _symbol_violations(lines: Sequence[RebalancePlan], limits: RiskLimits) -> list[Violation]:
    out = []
    for line in lines:
        if line.target_weight <= 0:
            continue  # selling a symbol out is always allowed
        symbol = line.symbol
        if symbol in limits.denied_symbols:
            out.append(Violation("denied_symbols", symbol, "denied", symbol, f"{symbol} is denied"))
        elif limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
            out.append(
                Violation(
                    "allowed_symbols",
                    symbol,
                    ", ".join(limits.allowed_symbols),
                    symbol,
                    f"{symbol} is not an allowed symbol",
                )
            )
        weight = line.target_weight * _HUNDRED
        if weight > limits.max_symbol_weight_percent:
            out.append(
                Violation(
                    "max_symbol_weight_percent",
                    _percent(weight),
                    _percent(limits.max_symbol_weight_percent),
                    symbol,
                    f"target weight of {symbol} {_percent(weight)} is above the limit "
                    f"{_percent(limits.max_symbol_weight_percent)}",
                )
            )
    return out


def _order_violations(
    trades: Sequence[Trade], total_value: Decimal, limits: RiskLimits
) -> list[Violation]:
    out = []
    for trade in trades:
        value = trade.notional
        if limits.max_order_value is not None and value > limits.max_order_value:
            out.append(
                Violation(
                    "max_order_value",
                    _money(value),
                    _money(limits.max_order_value),
                    trade.symbol,
                    f"{trade.action} {abs(trade.quantity)} {trade.symbol} is worth "
                    f"{_money(value)}, above the limit {_money(limits.max_order_value)}",
                )
            )
        share = value / total_value * _HUNDRED if total_value > 0 else None
        if share is not None and share > limits.max_order_percent:
            out.append(
                Violation(
                    "max_order_percent",
                    _percent(share),
                    _percent(limits.max_order_percent),
                    trade.symbol,
                    f"{trade.action} {abs(trade.quantity)} {trade.symbol} is "
                    f"{_percent(share)} of the account value, above the limit "
                    f"{_percent(limits.max_order_percent)}",
                )
            )
    return out


def _count_violations(
    trades: Sequence[Trade], total_value: Decimal, limits: RiskLimits, used: RiskUsage
) -> list[Violation]:
    out = []
    run_orders = used.orders_this_run + len(trades)
    if run_orders > limits.max_orders_per_run:
        out.append(
            Violation(
                "max_orders_per_run",
                str(run_orders),
                str(limits.max_orders_per_run),
                None,
                f"the run would place {run_orders} orders, above the limit "
                f"{limits.max_orders_per_run}",
            )
        )
    day_orders = used.orders_today + run_orders
    if day_orders > limits.max_orders_per_day:
        out.append(
            Violation(
                "max_orders_per_day",
                str(day_orders),
                str(limits.max_orders_per_day),
                None,
                f"the account would place {day_orders} orders today ({used.orders_today} "
                f"before this run), above the limit {limits.max_orders_per_day}",
            )
        )
    if total_value > 0:
        traded = used.traded_this_run + sum((t.notional for t in trades), Decimal(0))
        turnover = traded / total_value * _HUNDRED
        if turnover > limits.max_turnover_percent:
            out.append(
                Violation(
                    "max_turnover_percent",
                    _percent(turnover),
                    _percent(limits.max_turnover_percent),
                    None,
                    f"the run would trade {_money(traded)}, {_percent(turnover)} of the account "
                    f"value, above the limit {_percent(limits.max_turnover_percent)}",
                )
            )
    return out


def plan_violations(
    lines: Sequence[RebalancePlan],
    trades: Sequence[Trade],
    *,
    total_value: Decimal,
    limits: RiskLimits,
    used: RiskUsage = RiskUsage(),
) -> list[Violation]:
    """Every limit the plan breaks (empty when it keeps them all).

    Args:
        lines: The plan's lines (target weights are fractions of ``total_value``).
        trades: The orders about to be placed.
        total_value: The account value the plan was made on.
        limits: The account's limits.
        used: What the account already used (orders today, this run's earlier rounds).
    """
    if not trades:
        return []  # nothing would be placed: nothing to refuse
    return [
        *_symbol_violations(lines, limits),
        *_order_violations(trades, total_value, limits),
        *_count_violations(trades, total_value, limits, used),
    ]


def check_plan(
    lines: Sequence[RebalancePlan],
    trades: Sequence[Trade],
    *,
    account_id: str,
    total_value: Decimal,
    limits: RiskLimits,
    used: RiskUsage = RiskUsage(),
) -> None:
    """Refuse a plan that breaks any of ``limits``.

    Raises:
        RiskLimitError: Naming every broken limit with the value and the symbol; its fields
            describe the first one.
    """
    found = plan_violations(lines, trades, total_value=total_value, limits=limits, used=used)
    if not found:
        return
    first = found[0]
    details = "; ".join(f"{v.limit}: {v.message}" for v in found)
    raise RiskLimitError(
        f"plan for {account_id} refused by its risk limits, nothing of it placed: {details}",
        limit=first.limit,
        value=first.value,
        threshold=first.threshold,
        symbol=first.symbol,
    )
