"""Plain-text tables of account runs, for the CLI and the demo: the trades, then (for runs
that placed orders) the execution report of every order and each run's summary of it."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from broker_connector_base import OrderStatus, Trade

from app.models import AccountExecutionResult
from app.notify.execution import (
    EXECUTION_HEADER,
    EXECUTION_NUMERIC,
    execution_rows,
    execution_summary,
)

__all__ = ["format_results"]

_HEADER = ("ACCOUNT", "ACTION", "SYMBOL", "QUANTITY", "PRICE", "VALUE", "ORDER", "STATUS")
# Added when orders were placed: what actually happened, next to what was planned.
_FILL_HEADER = ("FILLED", "AVG FILL")
_NUMERIC = {3, 4, 5, 8, 9}


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _placed(result: AccountExecutionResult) -> list[Trade]:
    return [t for t in result.trades if t.order_id is not None]


def _rows(result: AccountExecutionResult, with_fills: bool) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for trade in result.trades:
        fills: tuple[str, ...] = ()
        if with_fills:
            filled = trade.filled_quantity
            fills = ("-" if filled is None else str(abs(filled)), _money(trade.avg_fill_price))
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
            )
        )
    return rows


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


def _table(
    header: tuple[str, ...], rows: list[tuple[str, ...]], numeric: frozenset[int] | set[int]
) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
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


def format_results(results: Iterable[AccountExecutionResult]) -> str:
    """A trade table, the execution report of the orders placed, then one summary line (with
    its execution summary and warnings) per account run."""
    results = list(results)
    with_fills = any(_placed(result) for result in results)
    header = _HEADER + _FILL_HEADER if with_fills else _HEADER
    rows = [row for result in results for row in _rows(result, with_fills)]
    lines: list[str] = []
    if rows:
        lines.extend(_table(header, rows, _NUMERIC))
    lines.extend(_execution_table(results))
    for result in results:
        lines.append(_summary(result))
        if result.execution is not None:
            lines.append(f"  {execution_summary(result.execution)}")
        lines.extend(f"  warning: {w}" for w in result.warnings)
    return "\n".join(lines)
