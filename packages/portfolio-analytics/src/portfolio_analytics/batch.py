"""Many accounts at once: metrics as read-only arrays, one model per account on request."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields
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

__all__ = ["BenchmarkBatch", "MetricsBatch", "check_rates", "performance_metrics_batch"]

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]
CENT = Decimal("0.01")


def _read_only(dataclass_instance: object) -> None:
    for field in fields(dataclass_instance):  # type: ignore[arg-type]
        value = getattr(dataclass_instance, field.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False


@dataclass(frozen=True)
class BenchmarkBatch:
    """Relative metrics of every account (arrays over accounts, NaN where undefined)."""

    dates: tuple[date, ...]
    """The common dates the relative metrics were computed on."""
    benchmark_total_return: Floats
    alpha: Floats
    beta: Floats
    tracking_error: Floats
    information_ratio: Floats

    @classmethod
    def of(cls, dates: tuple[date, ...], stats: RelativeStats) -> BenchmarkBatch:
        batch = cls(dates=dates, **vars(stats))
        _read_only(batch)
        return batch

    def metrics(self, index: int) -> BenchmarkMetrics:
        """The relative metrics of account ``index`` as a model (NaN becomes ``None``)."""
        return BenchmarkMetrics(
            start_date=self.dates[0] if self.dates else None,
            end_date=self.dates[-1] if self.dates else None,
            periods=max(len(self.dates) - 1, 0),
            benchmark_total_return=_optional(self.benchmark_total_return[index]),
            alpha=_optional(self.alpha[index]),
            beta=_optional(self.beta[index]),
            tracking_error=_optional(self.tracking_error[index]),
            information_ratio=_optional(self.information_ratio[index]),
        )


@dataclass(frozen=True)
class MetricsBatch:
    """Every metric of ``len(batch)`` accounts sharing one date axis, as read-only arrays.

    Each array has one entry per account (``cumulative_returns`` one row), NaN where the metric
    is undefined, and the drawdown dates are positions in ``dates`` (-1: none). Formulas and
    edge cases are those of :class:`PerformanceMetrics`; :meth:`account` gives that model.
    """

    dates: tuple[date, ...]
    periods_per_year: int
    risk_free_rate: float
    start_value: Floats
    end_value: Floats
    net_cash_flow: Floats
    total_return: Floats
    annual_return: Floats
    annual_volatility: Floats
    sharpe_ratio: Floats
    sortino_ratio: Floats
    max_drawdown: Floats
    max_drawdown_peak: Ints
    max_drawdown_trough: Ints
    max_drawdown_recovery: Ints
    calmar_ratio: Floats
    omega_ratio: Floats
    cvar_95: Floats
    cumulative_returns: Floats
    """``(accounts, len(dates))``: growth - 1 on every date, 0.0 on the first."""
    benchmark: BenchmarkBatch | None

    @classmethod
    def of(
        cls,
        *,
        dates: tuple[date, ...],
        money: tuple[Floats, Floats, Floats],
        stats: SeriesStats,
        growth: Floats,
        benchmark: BenchmarkBatch | None,
        risk_free_rate: float,
        periods_per_year: int,
    ) -> MetricsBatch:
        """Assemble the kernel outputs (``money``: start values, end values, net flows).

        ``growth`` becomes ``cumulative_returns`` in place: the caller hands it over.
        """
        cumulative = growth
        cumulative -= 1.0
        batch = cls(
            dates=dates,
            periods_per_year=periods_per_year,
            risk_free_rate=risk_free_rate,
            start_value=money[0],
            end_value=money[1],
            net_cash_flow=money[2],
            total_return=stats.total_return,
            annual_return=stats.annual_return,
            annual_volatility=stats.annual_volatility,
            sharpe_ratio=stats.sharpe_ratio,
            sortino_ratio=stats.sortino_ratio,
            max_drawdown=stats.drawdown.depth,
            max_drawdown_peak=stats.drawdown.peak,
            max_drawdown_trough=stats.drawdown.trough,
            max_drawdown_recovery=stats.drawdown.recovery,
            calmar_ratio=stats.calmar_ratio,
            omega_ratio=stats.omega_ratio,
            cvar_95=stats.cvar,
            cumulative_returns=cumulative,
            benchmark=benchmark,
        )
        _read_only(batch)
        return batch

    def __len__(self) -> int:
        return int(self.total_return.shape[0])

    def account(self, index: int) -> PerformanceMetrics:
        """The metrics of account ``index`` as a model; money is the floats' shortest decimal."""
        money = (self.start_value, self.end_value, self.net_cash_flow)
        start, end, flow = (Decimal(repr(float(array[index]))) for array in money)
        return self.model(index, start_value=start, end_value=end, net_cash_flow=flow)

    def model(
        self, index: int, *, start_value: Decimal, end_value: Decimal, net_cash_flow: Decimal
    ) -> PerformanceMetrics:
        """Account ``index`` as a model, with its money given exactly."""
        cvar = _optional(self.cvar_95[index])
        cvar_amount = None if cvar is None else (Decimal(repr(cvar)) * end_value).quantize(CENT)
        cumulative = self.cumulative_returns[index].tolist()
        return PerformanceMetrics(
            start_date=self.dates[0],
            end_date=self.dates[-1],
            periods=len(self.dates) - 1,
            periods_per_year=self.periods_per_year,
            risk_free_rate=self.risk_free_rate,
            start_value=start_value,
            end_value=end_value,
            net_cash_flow=net_cash_flow,
            total_return=float(self.total_return[index]),
            annual_return=_optional(self.annual_return[index]),
            annual_volatility=_optional(self.annual_volatility[index]),
            sharpe_ratio=_optional(self.sharpe_ratio[index]),
            sortino_ratio=_optional(self.sortino_ratio[index]),
            max_drawdown=MaxDrawdown(
                depth=float(self.max_drawdown[index]),
                peak=self._date_at(self.max_drawdown_peak[index]),
                trough=self._date_at(self.max_drawdown_trough[index]),
                recovery=self._date_at(self.max_drawdown_recovery[index]),
            ),
            calmar_ratio=_optional(self.calmar_ratio[index]),
            omega_ratio=_optional(self.omega_ratio[index]),
            cvar_95=cvar,
            cvar_95_amount=cvar_amount,
            cumulative_returns=tuple(zip(self.dates, cumulative, strict=True)),
            benchmark=None if self.benchmark is None else self.benchmark.metrics(index),
        )

    def _date_at(self, position: np.intp) -> date | None:
        return None if position < 0 else self.dates[position]


def _optional(number: float | np.floating) -> float | None:
    """A metric as stored: ``None`` for NaN (undefined) and for infinities."""
    value = float(number)
    return value if math.isfinite(value) else None


def check_rates(risk_free_rate: float, periods_per_year: int) -> None:
    """Refuse a risk-free rate or annualisation factor the formulas cannot use."""
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
    # min/max propagate NaN: two reductions check the whole grid without a temporary.
    low, high = grid.min(initial=np.inf), grid.max(initial=-np.inf)
    if not (low > 0.0 if positive else low > -np.inf) or not high < np.inf:
        good = (grid > 0.0) & (grid < np.inf) if positive else np.isfinite(grid)
        row, column = np.argwhere(~good)[0]
        rule = "a positive finite number" if positive else "finite"
        raise ValueError(f"{name}[{row}, {column}]: {float(grid[row, column])!r} is not {rule}")
    return grid


def _check_dates(dates: Sequence[date]) -> tuple[date, ...]:
    checked = tuple(dates)
    if not checked:
        raise ValueError("dates is empty: at least one date is needed")
    if not all(map(operator.lt, checked, checked[1:])):
        i = next(i for i in range(1, len(checked)) if not checked[i - 1] < checked[i])
        raise ValueError(
            f"dates[{i}]: date {checked[i]} is not after the previous date {checked[i - 1]}; "
            "dates must be strictly increasing"
        )
    return checked


def performance_metrics_batch(
    dates: Sequence[date],
    values: ArrayLike,
    *,
    cash_flows: ArrayLike | None = None,
    benchmark: ArrayLike | None = None,
    risk_free_rate: float = 0.0,
    periods_per_year: int = 252,
) -> MetricsBatch:
    """The metrics of many accounts sharing one date axis, vectorised over accounts.

    For backtests and dashboards, where values are already float64: the result holds arrays
    (``batch.sharpe_ratio[i]``), and ``batch.account(i)`` gives account ``i`` as the
    :class:`PerformanceMetrics` that :func:`performance_metrics` returns for it (equal to float
    rounding; money is the floats' shortest decimal representation).

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
            value that is not positive and finite, or a flow not smaller than its day's value;
            the message names the argument and the ``[account, date]`` position.
    """
    check_rates(risk_free_rate, periods_per_year)
    checked_dates = _check_dates(dates)
    grid = _float_grid(values, "values", rows=None, columns=len(checked_dates), positive=True)
    ends = None
    net_flows = np.zeros(grid.shape[0])
    if cash_flows is not None:
        flows = _float_grid(cash_flows, "cash_flows", rows=grid.shape[0], columns=grid.shape[1])
        if flows[:, 1:].any():
            ends = grid[:, 1:] - flows[:, 1:]
            if (ends <= 0.0).any():
                row, column = np.argwhere(ends <= 0.0)[0]
                raise ValueError(
                    f"cash_flows[{row}, {column + 1}]: flow {float(flows[row, column + 1])!r} "
                    f"is not less than that day's value {float(grid[row, column + 1])!r}"
                )
            net_flows = flows[:, 1:].sum(axis=1)
    rf = per_period_rate(risk_free_rate, periods_per_year)
    returns, growth = time_weighted(grid, ends)
    relative = None
    if benchmark is not None:
        bench = _float_grid(benchmark, "benchmark", rows=None, columns=grid.shape[1], positive=True)
        if bench.shape[0] != 1:
            raise ValueError(f"benchmark: expected one series, got shape {np.shape(benchmark)}")
        bench_returns = bench[0, 1:] / bench[0, :-1] - 1.0
        relative = BenchmarkBatch.of(
            checked_dates,
            relative_stats(returns, bench_returns, rf=rf, periods_per_year=periods_per_year),
        )
    return MetricsBatch.of(
        dates=checked_dates,
        money=(grid[:, 0].copy(), grid[:, -1].copy(), net_flows),
        stats=series_stats(returns, growth, rf=rf, periods_per_year=periods_per_year),
        growth=growth,
        benchmark=relative,
        risk_free_rate=risk_free_rate,
        periods_per_year=periods_per_year,
    )
