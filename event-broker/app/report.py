"""Plain-text tables of account runs, for the CLI and the demo."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from app.models import AccountExecutionResult

__all__ = ["format_results"]

_HEADER = ("ACCOUNT", "ACTION", "SYMBOL", "QUANTITY", "PRICE", "VALUE", "ORDER", "STATUS")


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _rows(result: AccountExecutionResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for trade in result.trades:
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
            )
        )
    return rows


def _summary(result: AccountExecutionResult) -> str:
    what = "preview" if result.mode == "print-rebalance" else "rebalance"
    head = f"{result.account_id} {what} (run {result.run_id}) {result.status}"
    if not result.success:
        return f"{head}: {result.error}"
    if not result.trades:
        detail = "no trades needed, the portfolio is on target"
    else:
        verb = "proposed" if result.mode == "print-rebalance" else "placed"
        detail = f"{len(result.trades)} trades {verb}"
    value, cash = _money(result.total_value), _money(result.cash_balance)
    return f"{head}: {detail}; account value {value}, cash {cash}"


def format_results(results: Iterable[AccountExecutionResult]) -> str:
    """A trade table followed by one summary line (and warnings) per account run."""
    results = list(results)
    rows = [row for result in results for row in _rows(result)]
    lines: list[str] = []
    if rows:
        widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
        numeric = {3, 4, 5}
        for row in [_HEADER, *rows]:
            cells = [
                cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    for result in results:
        lines.append(_summary(result))
        lines.extend(f"  warning: {w}" for w in result.warnings)
    return "\n".join(lines)
