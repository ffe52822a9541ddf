"""Plain-text tables of account runs, for the CLI and the demo.

A preview shows its plan: every symbol held or targeted, with the trade (or ``HOLD``), its
current and target value and weight (fractions of the account's value). An execution shows
its orders and, once placed, their fills. For a run of several strategies a ``STRATEGIES``
column says whom each line is for (``growth 60% / income 40%``) and the summary adds each
strategy's part of the trades. Runs that placed orders add the execution report of every order
and each run's summary of it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal

from broker_connector_base import OrderStatus, RebalancePlan, Trade

from app.models import AccountExecutionResult
from app.notify.attribution import by_strategy_text, several_strategies, shares_text
from app.notify.execution import (
    EXECUTION_HEADER,
    EXECUTION_NUMERIC,
    execution_rows,
    execution_summary,
)

__all__ = ["format_results"]

_ORDER_HEADER = ("ACCOUNT", "ACTION", "SYMBOL", "QUANTITY", "PRICE", "VALUE", "ORDER", "STATUS")
# Added when orders were placed: what actually happened, next to what was planned.
_FILL_HEADER = ("FILLED", "AVG FILL")
_PLAN_HEADER = (
    "ACCOUNT",
    "ACTION",
    "SYMBOL",
    "QUANTITY",
    "PRICE",
    "VALUE",
    "CURRENT",
    "WEIGHT",
    "TARGET",
    "TARGET WEIGHT",
)
_STRATEGIES = "STRATEGIES"
_TENTH = Decimal("0.1")
_NUMERIC = frozenset(
    {"QUANTITY", "PRICE", "VALUE", "FILLED", "AVG FILL", "CURRENT", "WEIGHT", "TARGET"}
    | {"TARGET WEIGHT"}
)


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _weight(value: Decimal) -> str:
    """A weight (a fraction of the account's value) in percent, always to a tenth."""
    return f"{(value * 100).quantize(_TENTH)}%"


def _placed(result: AccountExecutionResult) -> list[Trade]:
    return [t for t in result.trades if t.order_id is not None]


def _shows_plan(result: AccountExecutionResult) -> bool:
    """Previews with a plan are shown line by line; anything else by its trades."""
    return result.mode == "print-rebalance" and bool(result.plan)


def _order_rows(
    result: AccountExecutionResult, with_fills: bool, with_strategies: bool
) -> list[tuple[str, ...]]:
    attributed = several_strategies(result)
    rows: list[tuple[str, ...]] = []
    for trade in result.trades:
        fills: tuple[str, ...] = ()
        if with_fills:
            filled = trade.filled_quantity
            fills = ("-" if filled is None else str(abs(filled)), _money(trade.avg_fill_price))
        strategies = (shares_text(trade.attribution) if attributed else "",)
        rows.append(
            (
                result.account_id,
                trade.action,
                trade.symbol,
                str(abs(trade.quantity)),
                _money(trade.price),
                _money(trade.notional),
                trade.order_id or "-",
                str(trade.status) if trade.status is not None else "proposed",
                *fills,
                *(strategies if with_strategies else ()),
            )
        )
    return rows


def _plan_row(
    account_id: str, line: RebalancePlan, trade: Trade | None, strategies: str | None
) -> tuple[str, ...]:
    traded = line.trade_quantity != 0
    return (
        account_id,
        line.direction,
        line.symbol,
        str(abs(line.trade_quantity)) if traded else "-",
        _money(trade.price) if trade is not None else "-",
        _money(abs(line.trade_amount)) if traded else "-",
        _money(line.current_value),
        _weight(line.current_weight),
        _money(line.target_value),
        _weight(line.target_weight),
        *(() if strategies is None else (strategies,)),
    )


def _plan_rows(result: AccountExecutionResult, with_strategies: bool) -> list[tuple[str, ...]]:
    attributed = several_strategies(result)
    trades = {trade.symbol: trade for trade in result.trades}
    return [
        _plan_row(
            result.account_id,
            line,
            trades.get(line.symbol),
            (shares_text(line.attribution) if attributed else "") if with_strategies else None,
        )
        for line in result.plan
    ]


def _table(
    header: Sequence[str], rows: list[tuple[str, ...]], numeric: Collection[int] | None = None
) -> list[str]:
    """Aligned columns, numbers to the right (the ``numeric`` columns, by default those named
    in ``_NUMERIC``), and a blank line after."""
    right = numeric if numeric is not None else {i for i, h in enumerate(header) if h in _NUMERIC}
    widths = [max(len(r[i]) for r in [tuple(header), *rows]) for i in range(len(header))]
    lines = []
    for row in [tuple(header), *rows]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return [*lines, ""]


def _execution_table(results: list[AccountExecutionResult]) -> list[str]:
    rows = [
        (result.account_id, *row)
        for result in results
        if result.execution is not None
        for row in execution_rows(result.execution)
    ]
    if not rows:
        return []
    # Shifted by the account column; slippage in bps of the arrival midpoint, + is a cost.
    numeric = {i + 1 for i in EXECUTION_NUMERIC}
    title = "EXECUTION (slippage against the arrival midpoint, + is a cost)"
    return [title, *_table(("ACCOUNT", *EXECUTION_HEADER), rows, numeric)]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _summary(result: AccountExecutionResult) -> str:
    what = "preview" if result.mode == "print-rebalance" else result.mode
    head = f"{result.account_id} {what} (run {result.run_id}) {result.status}"
    if not result.success:
        return f"{head}: {result.error}"
    if result.snapshot is not None and result.mode == "snapshot":
        snapshot = result.snapshot
        return (
            f"{head}: account value {_money(snapshot.total_value)}, cash "
            f"{_money(snapshot.cash)}, {_count(len(snapshot.positions), 'position')}"
        )
    if not result.trades:
        detail = "no trades needed, the portfolio is on target"
    else:
        detail = _count(len(result.trades), "trade")
        if result.mode == "print-rebalance":
            detail += " proposed"
        else:
            placed = _placed(result)
            filled = sum(1 for t in placed if t.status == OrderStatus.FILLED)
            detail = f"{_count(len(placed), 'order')} placed, {filled} filled"
    value, cash = _money(result.total_value), _money(result.cash_balance)
    return f"{head}: {detail}; account value {value}, cash {cash}"


def format_results(results: Iterable[AccountExecutionResult]) -> str:
    """The previews' plans and the executions' orders as tables, the execution report of the
    orders placed, then one summary line (with each strategy's part, the execution summary
    and warnings) per account run."""
    results = list(results)
    planned = [r for r in results if _shows_plan(r)]
    traded = [r for r in results if not _shows_plan(r)]
    lines: list[str] = []
    if planned:
        with_strategies = any(several_strategies(r) for r in planned)
        header = _PLAN_HEADER + ((_STRATEGIES,) if with_strategies else ())
        lines += _table(header, [row for r in planned for row in _plan_rows(r, with_strategies)])
    with_fills = any(_placed(result) for result in traded)
    with_strategies = any(several_strategies(r) and r.trades for r in traded)
    rows = [row for r in traded for row in _order_rows(r, with_fills, with_strategies)]
    if rows:
        header = (
            _ORDER_HEADER
            + (_FILL_HEADER if with_fills else ())
            + ((_STRATEGIES,) if with_strategies else ())
        )
        lines += _table(header, rows)
    lines.extend(_execution_table(results))
    for result in results:
        lines.append(_summary(result))
        parts = by_strategy_text(result)
        if parts is not None:
            lines.append(f"  by strategy (planned values): {parts}")
        if result.execution is not None:
            lines.append(f"  {execution_summary(result.execution)}")
        lines.extend(f"  warning: {w}" for w in result.warnings)
    return "\n".join(lines)
