"""Public entry points: one account's dated ``Decimal`` values, or many accounts' float arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from portfolio_analytics.kernels import (
    RelativeStats,
    SeriesStats,
    per_period_rate,
    relative_stats,
    series_stats,
    time_weighted,
)
from portfolio_analytics.models import BenchmarkMetrics, MaxDrawdown, PerformanceMetrics
from portfolio_analytics.series import (
    DatedValues,
    align_on_common_dates,
    check_dated_values,
    time_weighted_series,
)

__all__ = ["performance_metrics", "performance_metrics_batch"]

Floats = NDArray[np.float64]
CENT = Decimal("0.01")


def performance_metrics(
    values: DatedValues,
    *,
    cash_flows: Sequence[tuple[date, Decimal]] | None = None,
    benchmark: Sequence[tuple[date, Decimal | float]] | None = None,
    risk_free_rate: float = 0.0,
    periods_per_year: int = 252,
) -> PerformanceMetrics:
    """Performance of one account from its dated values.

    Args:
        values: ``(date, value)`` pairs in strictly increasing date order, values in money
            (``Decimal``) and positive. Each pair of consecutive values is one period, whatever
            the calendar gap between them: missing dates are not filled in, the return simply
            spans the gap.
        cash_flows: ``(date, amount)`` deposits (+) and withdrawals (-), in any order. They are
            kept out of the returns (time-weighted): a flow happens at the end of its date's
            day, or of the next value date when its date has no value; flows on or before the
            first value date, or after the last, are ignored (see
            :func:`portfolio_analytics.series.time_weighted_series`).
        benchmark: ``(date, value)`` pairs of a benchmark (prices or an index level, increasing
            dates, positive). Relative metrics use only the dates both series have.
        risk_free_rate: Annual risk-free rate (0.05 for 5 %), converted to the per-period
            ``(1 + rate)^(1/periods_per_year) - 1`` that the Sharpe, Sortino, omega and alpha
            formulas subtract.
        periods_per_year: Returns per year for annualising: 252 for trading days, 52 for weekly
            values, 12 for monthly.

    Returns:
        The metrics; ratios are floats (``None`` where undefined), money stays ``Decimal``.

    Raises:
        ValueError: empty ``values``, dates not strictly increasing, a value or benchmark value
            that is not positive and finite, a deposit not smaller than its day's value, a
            non-finite flow, or a bad ``risk_free_rate``/``periods_per_year``. The message names
            the argument, the position and the value.
    """
    _check_rates(risk_free_rate, periods_per_year)
    series = time_weighted_series(values, cash_flows)
    rf = per_period_rate(risk_free_rate, periods_per_year)
    returns, growth = time_weighted(series.values[None, :], series.ends[None, :])
    stats = series_stats(returns, growth, rf=rf, periods_per_year=periods_per_year)
    relative = None
    if benchmark is not None:
        common, account_returns, bench_returns = align_on_common_dates(
            series.dates, returns[0], growth[0], benchmark
        )
        rel = relative_stats(
            account_returns[None, :], bench_returns, rf=rf, periods_per_year=periods_per_year
        )
        relative = _benchmark_model(common, rel, 0)
    return _metrics_model(
        series.dates,
        stats,
        0,
        money=(series.start_value, series.end_value, series.net_cash_flow),
        risk_free_rate=risk_free_rate,
        periods_per_year=periods_per_year,
        benchmark=relative,
    )


def performance_metrics_batch(
    dates: Sequence[date],
    values: ArrayLike,
    *,
    cash_flows: ArrayLike | None = None,
    benchmark: ArrayLike | None = None,
    risk_free_rate: float = 0.0,
    periods_per_year: int = 252,
) -> list[PerformanceMetrics]:
    """The same metrics for many accounts sharing one date axis, vectorised over accounts.

    For backtests and benchmarks, where values are already float64. Each account's result
    equals :func:`performance_metrics` on its row (to float rounding); the money fields are the
    floats' shortest decimal representation.

    Args:
        dates: The shared dates, strictly increasing.
        values: ``(accounts, len(dates))`` positive finite account values.
        cash_flows: Same shape as ``values``: the net flow at the end of each date (0 where
            none); the first column is part of the starting value and ignored.
        benchmark: ``(len(dates),)`` positive benchmark values on the same dates.
        risk_free_rate: As in :func:`performance_metrics`.
        periods_per_year: As in :func:`performance_metrics`.

    Raises:
        ValueError: a shape that does not match ``dates``, dates not strictly increasing, a
            value that is not positive and finite, or a flow not smaller than its day's value.
    """
    _check_rates(risk_free_rate, periods_per_year)
    checked_dates, _, _ = check_dated_values([(when, 1.0) for when in dates], "dates")
    grid = _float_grid(values, "values", rows=None, columns=len(checked_dates), positive=True)
    ends = grid[:, 1:]
    flows = np.zeros_like(grid)
    if cash_flows is not None:
        flows = _float_grid(cash_flows, "cash_flows", rows=grid.shape[0], columns=grid.shape[1])
        ends = ends - flows[:, 1:]
        if (ends <= 0.0).any():
            row, column = np.argwhere(ends <= 0.0)[0]
            raise ValueError(
                f"cash_flows[{row}, {column + 1}]: flow {float(flows[row, column + 1])!r} is not "
                f"less than that day's value {float(grid[row, column + 1])!r}"
            )
    rf = per_period_rate(risk_free_rate, periods_per_year)
    returns, growth = time_weighted(grid, ends)
    stats = series_stats(returns, growth, rf=rf, periods_per_year=periods_per_year)
    relative = None
    if benchmark is not None:
        bench = _float_grid(benchmark, "benchmark", rows=None, columns=grid.shape[1], positive=True)
        if bench.shape[0] != 1:
            raise ValueError(f"benchmark: expected one series, got shape {np.shape(benchmark)}")
        bench_returns = bench[0, 1:] / bench[0, :-1] - 1.0
        relative = relative_stats(
            returns,
            bench_returns,
            rf=rf,
            periods_per_year=periods_per_year,
        )
    net_flows = flows[:, 1:].sum(axis=1)
    return [
        _metrics_model(
            checked_dates,
            stats,
            row,
            money=(_money(grid[row, 0]), _money(grid[row, -1]), _money(net_flows[row])),
            risk_free_rate=risk_free_rate,
            periods_per_year=periods_per_year,
            benchmark=None if relative is None else _benchmark_model(checked_dates, relative, row),
        )
        for row in range(grid.shape[0])
    ]


def _check_rates(risk_free_rate: float, periods_per_year: int) -> None:
    if not math.isfinite(risk_free_rate) or risk_free_rate <= -1.0:
        raise ValueError(f"risk_free_rate {risk_free_rate!r} must be a finite rate above -1")
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int):
        raise ValueError(f"periods_per_year {periods_per_year!r} must be an integer")
    if periods_per_year < 1:
        raise ValueError(f"periods_per_year {periods_per_year} must be at least 1")


def _float_grid(
    data: ArrayLike, name: str, *, rows: int | None, columns: int, positive: bool = False
) -> Floats:
    """``data`` as a finite float64 ``(rows, columns)`` array (a 1-D array is one row)."""
    grid = np.atleast_2d(np.asarray(data, dtype=np.float64))
    if grid.ndim != 2 or grid.shape[1] != columns or (rows is not None and grid.shape[0] != rows):
        expected = f"({rows if rows is not None else 'accounts'}, {columns})"
        raise ValueError(f"{name}: shape {np.shape(data)} does not match {expected}")
    bad = ~np.isfinite(grid) | ((grid <= 0.0) if positive else False)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        rule = "a positive finite number" if positive else "finite"
        raise ValueError(f"{name}[{row}, {column}]: {float(grid[row, column])!r} is not {rule}")
    return grid


def _optional(number: float) -> float | None:
    """A metric as stored: ``None`` for NaN (undefined) and for infinities."""
    value = float(number)
    return value if math.isfinite(value) else None


def _money(number: float) -> Decimal:
    return Decimal(repr(float(number)))


def _date_at(dates: Sequence[date], position: int) -> date | None:
    return None if position < 0 else dates[position]


def _benchmark_model(common: Sequence[date], rel: RelativeStats, row: int) -> BenchmarkMetrics:
    return BenchmarkMetrics(
        start_date=common[0] if common else None,
        end_date=common[-1] if common else None,
        periods=max(len(common) - 1, 0),
        benchmark_total_return=_optional(rel.benchmark_total_return[row]),
        alpha=_optional(rel.alpha[row]),
        beta=_optional(rel.beta[row]),
        tracking_error=_optional(rel.tracking_error[row]),
        information_ratio=_optional(rel.information_ratio[row]),
    )


def _metrics_model(
    dates: Sequence[date],
    stats: SeriesStats,
    row: int,
    *,
    money: tuple[Decimal, Decimal, Decimal],
    risk_free_rate: float,
    periods_per_year: int,
    benchmark: BenchmarkMetrics | None,
) -> PerformanceMetrics:
    start_value, end_value, net_cash_flow = money
    cvar = _optional(stats.cvar[row])
    cvar_amount = None if cvar is None else (Decimal(repr(cvar)) * end_value).quantize(CENT)
    return PerformanceMetrics(
        start_date=dates[0],
        end_date=dates[-1],
        periods=len(dates) - 1,
        periods_per_year=periods_per_year,
        risk_free_rate=risk_free_rate,
        start_value=start_value,
        end_value=end_value,
        net_cash_flow=net_cash_flow,
        total_return=float(stats.total_return[row]),
        annual_return=_optional(stats.annual_return[row]),
        annual_volatility=_optional(stats.annual_volatility[row]),
        sharpe_ratio=_optional(stats.sharpe_ratio[row]),
        sortino_ratio=_optional(stats.sortino_ratio[row]),
        max_drawdown=MaxDrawdown(
            depth=float(stats.drawdown_depth[row]),
            peak=_date_at(dates, int(stats.drawdown_peak[row])),
            trough=_date_at(dates, int(stats.drawdown_trough[row])),
            recovery=_date_at(dates, int(stats.drawdown_recovery[row])),
        ),
        calmar_ratio=_optional(stats.calmar_ratio[row]),
        omega_ratio=_optional(stats.omega_ratio[row]),
        cvar_95=cvar,
        cvar_95_amount=cvar_amount,
        cumulative_returns=tuple(zip(dates, (stats.growth[row] - 1.0).tolist(), strict=True)),
        benchmark=benchmark,
    )
