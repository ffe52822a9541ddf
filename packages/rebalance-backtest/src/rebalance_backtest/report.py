"""Tables and pictures of stored backtests: a side-by-side comparison, equity curves in a PNG."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy
from broker_connector_base import InvalidInputError

from rebalance_backtest.store import StoredBacktest

__all__ = ["compare_table", "list_table", "plot_equity"]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


_ROWS: list[tuple[str, Callable[[StoredBacktest], str]]] = [
    ("strategy", lambda b: b.strategy),
    ("period", lambda b: f"{b.equity[0][0]} .. {b.equity[-1][0]}"),
    ("fill at / check", lambda b: f"{b.settings.fill_at} / {b.settings.check}"),
    ("cash reserve", lambda b: f"{b.settings.account.cash_reserve_percent}%"),
    ("drift band", lambda b: f"{b.settings.account.drift_band_percent}%"),
    ("min trade", lambda b: f"{b.settings.account.min_trade_value}"),
    ("half spread", lambda b: f"{b.settings.half_spread_bps} bps"),
    ("commissions", lambda b: b.settings.charged_schedule),
    ("start equity", lambda b: f"{b.equity[0][1]:,.2f}"),
    ("final equity", lambda b: f"{b.final_equity:,.2f}"),
    ("total return", lambda b: _pct(b.metrics.total_return)),
    ("annual return", lambda b: _pct(b.metrics.annual_return)),
    ("annual volatility", lambda b: _pct(b.metrics.annual_volatility)),
    ("Sharpe", lambda b: _ratio(b.metrics.sharpe_ratio)),
    ("Sortino", lambda b: _ratio(b.metrics.sortino_ratio)),
    ("max drawdown", lambda b: _pct(b.metrics.max_drawdown.depth)),
    ("rebalances", lambda b: str(b.runs)),
    ("trades", lambda b: str(b.trades)),
    ("commissions paid", lambda b: f"{b.commissions:,.2f}"),
    ("warnings", lambda b: str(len(b.warnings))),
]


def compare_table(backtests: Sequence[StoredBacktest]) -> str:
    """One column per backtest, one row per setting or metric (plain text)."""
    header = ["", *(b.name for b in backtests)]
    rows = [header, *([label, *(cell(b) for b in backtests)] for label, cell in _ROWS)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def list_table(backtests: Sequence[StoredBacktest]) -> str:
    """One line per backtest: name, period, final equity, return, Sharpe, drawdown."""
    if not backtests:
        return "no backtests stored"
    lines = []
    for b in backtests:
        lines.append(
            f"{b.name}  {b.equity[0][0]}..{b.equity[-1][0]}  final {b.final_equity:,.2f}  "
            f"return {_pct(b.metrics.total_return)}  Sharpe {_ratio(b.metrics.sharpe_ratio)}  "
            f"max drawdown {_pct(b.metrics.max_drawdown.depth)}"
        )
    return "\n".join(lines)


def plot_equity(backtests: Sequence[StoredBacktest], path: Path) -> None:
    """Draw every backtest's equity curve in one PNG at ``path``.

    matplotlib (the ``plot`` extra) is imported here only, with the Agg backend (no display).

    Raises:
        InvalidInputError: matplotlib is not installed, or the file cannot be written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise InvalidInputError(
            "plotting needs matplotlib: pip install 'rebalance-backtest[plot]'", str(path)
        ) from None
    figure, axes = pyplot.subplots(figsize=(10, 5), dpi=100)
    try:
        for backtest in backtests:
            days = numpy.array([day for day, _ in backtest.equity], dtype="datetime64[D]")
            axes.plot(days, [float(value) for _, value in backtest.equity], label=backtest.name)
        axes.set_ylabel("equity")
        axes.set_title("Backtest equity at each close")
        axes.grid(True, alpha=0.3)
        axes.legend(loc="upper left", fontsize="small")
        figure.autofmt_xdate()
        try:
            figure.savefig(path, format="png")
        except OSError as exc:
            raise InvalidInputError(f"cannot write the plot: {exc.strerror}", str(path)) from None
    finally:
        pyplot.close(figure)
