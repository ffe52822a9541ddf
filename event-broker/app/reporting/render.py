"""The report as ``rich`` tables: metrics, benchmark, drift, cash flows, recent runs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from app.reporting.model import AccountReport, Drift, ReportMetrics

__all__ = ["format_report", "print_report", "report_renderables"]

_NONE = "n/a"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _money(value: Decimal | None) -> str:
    return _NONE if value is None else f"${value:,.2f}"


def _signed_money(value: Decimal) -> str:
    return f"{'-' if value < 0 else '+'}${abs(value):,.2f}"


def _percent(value: float | Decimal | None, *, signed: bool = False) -> str:
    if value is None:
        return _NONE
    return f"{value * 100:+.2f} %" if signed else f"{value * 100:.2f} %"


def _ratio(value: float | None) -> str:
    return _NONE if value is None else f"{value:.2f}"


def _metrics_table(metrics: ReportMetrics) -> Table:
    table = Table(title="Performance (time-weighted: deposits and withdrawals left out)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    drawdown = metrics.max_drawdown
    dates = ""
    if drawdown.peak is not None and drawdown.trough is not None:
        recovered = drawdown.recovery.isoformat() if drawdown.recovery else "not recovered"
        dates = f" ({drawdown.peak} to {drawdown.trough}, {recovered})"
    rows = [
        ("period", f"{metrics.start_date} to {metrics.end_date} ({metrics.periods} returns)"),
        ("value", f"{_money(metrics.start_value)} to {_money(metrics.end_value)}"),
        ("net deposits", _signed_money(metrics.net_cash_flow)),
        ("total return", _percent(metrics.total_return, signed=True)),
        ("annual return (CAGR)", _percent(metrics.annual_return, signed=True)),
        ("annual volatility", _percent(metrics.annual_volatility)),
        ("Sharpe ratio", _ratio(metrics.sharpe_ratio)),
        ("Sortino ratio", _ratio(metrics.sortino_ratio)),
        ("max drawdown", _percent(drawdown.depth) + dates),
        ("Calmar ratio", _ratio(metrics.calmar_ratio)),
        ("omega ratio", _ratio(metrics.omega_ratio)),
        ("CVaR 95 % (one day)", f"{_percent(metrics.cvar_95)} ({_money(metrics.cvar_95_amount)})"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _benchmark_table(report: AccountReport) -> Table | None:
    comparison = report.benchmark
    if comparison is None:
        return None
    table = Table(title=f"Against {comparison.symbol} (same snapshots)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("common days", f"{comparison.start_date} to {comparison.end_date}")
    benchmark_return = _percent(comparison.benchmark_total_return, signed=True)
    table.add_row(f"{comparison.symbol} return", benchmark_return)
    table.add_row("alpha (annual)", _percent(comparison.alpha, signed=True))
    table.add_row("beta", _ratio(comparison.beta))
    table.add_row("tracking error", _percent(comparison.tracking_error))
    table.add_row("information ratio", _ratio(comparison.information_ratio))
    return table


def _drift_table(drift: Drift) -> Table:
    title = (
        f"Drift from targets at {drift.taken_at:%Y-%m-%d %H:%M} UTC, "
        f"value {_money(drift.total_value)}"
    )
    if not drift.targets_known:
        title += " (targets unknown)"
    table = Table(title=title)
    for name in ("symbol", "shares", "price", "value", "weight", "target", "drift"):
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for line in drift.lines:
        table.add_row(
            line.symbol,
            f"{line.quantity.normalize():f}",
            _money(line.price),
            _money(line.value),
            _percent(line.weight),
            _percent(line.target_weight),
            _percent(line.drift, signed=True),
        )
    cash_drift = None
    if drift.cash_target_weight is not None:
        cash_drift = drift.cash_weight - drift.cash_target_weight
    table.add_row(
        "cash",
        "",
        "",
        _money(drift.cash),
        _percent(drift.cash_weight),
        _percent(drift.cash_target_weight),
        _percent(cash_drift, signed=True),
    )
    return table


def _flows_table(report: AccountReport) -> Table | None:
    if not report.cash_flows:
        return None
    table = Table(title="Deposits (+) and withdrawals (-) found between snapshots")
    for name in ("date", "amount", "cash change", "fills", "commissions"):
        table.add_column(name, justify="left" if name == "date" else "right")
    for flow in report.cash_flows:
        table.add_row(
            flow.date.isoformat(),
            _signed_money(flow.amount),
            _signed_money(flow.cash_change),
            f"{_signed_money(flow.fills_cash)} ({flow.fills})",
            _money(flow.commissions),
        )
    return table


def _runs_table(report: AccountReport) -> RenderableType:
    table = Table(title="Last runs (UTC)", box=box.SIMPLE_HEAD)
    for name in ("started", "run", "mode", "status", "trades"):
        table.add_column(name, no_wrap=True, justify="right" if name == "trades" else "left")
    for run in report.runs:
        table.add_row(
            f"{run.started_at:%m-%d %H:%M}",
            run.run_id,
            "preview" if run.mode == "print-rebalance" else run.mode,
            run.status or "UNFINISHED",
            str(run.trades),
        )
    # Reasons are sentences: below the table, where they have the whole width.
    errors = [Text(f"{run.run_id}: {run.error}") for run in report.runs if run.error]
    return Group(table, *errors)


def report_renderables(report: AccountReport) -> Iterator[RenderableType]:
    """The report's parts, in print order."""
    yield Text(
        f"Account {report.account_id}: {_count(report.snapshots, 'snapshot')}, "
        f"{_count(report.days, 'trading day')}"
        + (f" since {report.since}" if report.since else ""),
        style="bold",
    )
    if report.metrics is not None:
        yield _metrics_table(report.metrics)
    benchmark = _benchmark_table(report)
    if benchmark is not None:
        yield benchmark
    if report.drift is not None:
        yield _drift_table(report.drift)
    flows = _flows_table(report)
    if flows is not None:
        yield flows
    if report.runs:
        yield _runs_table(report)
    for note in report.notes:
        yield Text(f"Note: {note}", style="italic")


def print_report(report: AccountReport, console: Console | None = None) -> None:
    """Print ``report`` (colours only on a terminal)."""
    target = console or Console()
    for part in report_renderables(report):
        target.print(part)


def format_report(report: AccountReport, *, width: int = 110) -> str:
    """``report`` as plain text."""
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
    print_report(report, console)
    return console.export_text()
