"""Plain-text tables of account runs, for the CLI and the demo."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from broker_connector_base import OrderStatus, Trade

from app.models import AccountExecutionResult

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


def format_results(results: Iterable[AccountExecutionResult]) -> str:
    """A trade table followed by one summary line (and warnings) per account run."""
    results = list(results)
    with_fills = any(_placed(result) for result in results)
    header = _HEADER + _FILL_HEADER if with_fills else _HEADER
    rows = [row for result in results for row in _rows(result, with_fills)]
    lines: list[str] = []
    if rows:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = [
                cell.rjust(widths[i]) if i in _NUMERIC else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    for result in results:
        lines.append(_summary(result))
        lines.extend(f"  warning: {w}" for w in result.warnings)
    return "\n".join(lines)
