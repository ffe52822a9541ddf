"""The single-account entry point: dated ``Decimal`` values in, a frozen model out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import numpy as np

from portfolio_analytics.batch import BenchmarkBatch, MetricsBatch, check_rates
from portfolio_analytics.kernels import (
    per_period_rate,
    relative_stats,
    series_stats,
    time_weighted,
)
from portfolio_analytics.models import PerformanceMetrics
from portfolio_analytics.series import DatedValues, align_on_common_dates, time_weighted_series

__all__ = ["performance_metrics"]


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
            that is not positive and finite, a float value (money is ``Decimal``), a deposit not
            smaller than its day's value, a flow that is not a finite ``Decimal``, or a bad
            ``risk_free_rate``/``periods_per_year``. The message names the argument, the
            position and the value.
    """
    check_rates(risk_free_rate, periods_per_year)
    series = time_weighted_series(values, cash_flows)
    rf = per_period_rate(risk_free_rate, periods_per_year)
    ends = None if series.ends is None else series.ends[None, :]
    returns, growth = time_weighted(series.values[None, :], ends)
    relative = None
    if benchmark is not None:
        common, account_returns, bench_returns = align_on_common_dates(
            series.dates, returns[0], growth[0], benchmark
        )
        relative = BenchmarkBatch.of(
            common,
            relative_stats(
                account_returns[None, :], bench_returns, rf=rf, periods_per_year=periods_per_year
            ),
        )
    batch = MetricsBatch.of(
        dates=series.dates,
        money=(
            np.array([float(series.start_value)]),
            np.array([float(series.end_value)]),
            np.array([float(series.net_cash_flow)]),
        ),
        stats=series_stats(returns, growth, rf=rf, periods_per_year=periods_per_year),
        growth=growth,
        benchmark=relative,
        risk_free_rate=risk_free_rate,
        periods_per_year=periods_per_year,
    )
    return batch.model(
        0,
        start_value=series.start_value,
        end_value=series.end_value,
        net_cash_flow=series.net_cash_flow,
    )
