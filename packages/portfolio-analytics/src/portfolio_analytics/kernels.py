"""The maths, vectorised over accounts: rows are accounts, columns are periods.

Every formula follows empyrical-reloaded 0.7 (``empyrical.stats``), so the numbers agree with it
to rounding; the package README lists them. Results are float64 arrays with NaN where a metric
is undefined; the caller turns NaN and infinities into ``None``. Nothing here warns: numpy's
divide/invalid/overflow warnings are silenced where a NaN or infinity is the defined outcome,
and every ``ddof=1`` deviation is computed only with at least two returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BETA_MIN_VARIANCE",
    "CVAR_CUTOFF",
    "DISPERSION_NOISE",
    "DRAWDOWN_NOISE",
    "RelativeStats",
    "SeriesStats",
    "per_period_rate",
    "relative_stats",
    "series_stats",
    "time_weighted",
]

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]

CVAR_CUTOFF = 0.05
"""CVaR averages the returns at or below the 5th percentile (a 95 % CVaR)."""
BETA_MIN_VARIANCE = 1.0e-30
"""Below this benchmark variance beta is undefined (empyrical's threshold)."""
DISPERSION_NOISE = 1.0e-12
"""A per-period standard deviation below this is rounding noise, not risk (annualised, under
2e-11): the series counts as constant, its volatility is 0 and a ratio dividing by it is
undefined."""
DRAWDOWN_NOISE = 1.0e-12
"""A fall smaller than this fraction of the peak is rounding noise of the growth index (a
deposit changes how the index is computed), not a drawdown: on a $10 billion account it is
less than a cent."""
NO_INDEX = -1
"""Stands for "no such date" in the drawdown index arrays."""


@dataclass(frozen=True)
class SeriesStats:
    """Per-account metrics of returns ``(m, n)``; drawdown positions index ``growth`` columns."""

    growth: Floats
    """``(m, n + 1)``: 1.0, then ``cumprod(1 + r)``: the time-weighted growth of one unit."""
    total_return: Floats
    annual_return: Floats
    annual_volatility: Floats
    sharpe_ratio: Floats
    sortino_ratio: Floats
    omega_ratio: Floats
    cvar: Floats
    drawdown_depth: Floats
    drawdown_peak: Ints
    drawdown_trough: Ints
    drawdown_recovery: Ints
    calmar_ratio: Floats


@dataclass(frozen=True)
class RelativeStats:
    """Per-account metrics against a benchmark over ``k`` common periods."""

    benchmark_total_return: Floats
    alpha: Floats
    beta: Floats
    tracking_error: Floats
    information_ratio: Floats


def per_period_rate(annual_rate: float, periods_per_year: int) -> float:
    """The per-period rate that compounds to ``annual_rate`` over a year.

    The same conversion empyrical's ``omega_ratio`` applies to its ``required_return``.
    """
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0)


def _zero_dispersion_std(values: Floats) -> Floats:
    """``std(ddof=1)`` per row, exactly 0 where the row is constant up to rounding noise.

    A constant row's float mean can miss its values in the last bit, and two series that are
    equal in exact arithmetic (an account and its own benchmark at another scale) differ by
    rounding: the ~1e-17 residue would turn an undefined ratio into an arbitrary number.
    empyrical zeroes exactly equal rows; ``DISPERSION_NOISE`` also zeroes the rounding residue.
    """
    std = values.std(axis=1, ddof=1)
    constant = (values.max(axis=1) == values.min(axis=1)) | (std < DISPERSION_NOISE)
    return np.where(constant, 0.0, std)


def _divide(numerator: Floats, denominator: Floats) -> Floats:
    """Element-wise division where x/0 is NaN (undefined), not an infinity."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0.0, numerator / denominator, np.nan)


def time_weighted(values: Floats, ends: Floats) -> tuple[Floats, Floats]:
    """Returns ``(m, n)`` and growth index ``(m, n + 1)`` of values ``(m, n + 1)``.

    ``ends`` are ``values[:, 1:]`` less each day's cash flow. The return of a period is
    ``ends / previous value - 1``. The growth index, ``prod(1 + r)`` up to each date, is
    computed as ``value / units`` where ``units`` starts at the first value and changes only on
    flow days (by ``value / end``): between flows it is one division of the value itself, so two
    equal values give exactly equal growth and a drawdown recovered to the cent is recovered.
    """
    returns = ends / values[:, :-1] - 1.0
    units = np.empty_like(values)
    units[:, 0] = values[:, 0]
    np.cumprod(values[:, 1:] / ends, axis=1, out=units[:, 1:])
    units[:, 1:] *= values[:, :1]
    growth = values / units
    growth[:, 0] = 1.0
    return returns, growth


def series_stats(
    returns: Floats, growth: Floats, *, rf: float, periods_per_year: int
) -> SeriesStats:
    """Every single-series metric for each row of ``returns`` ``(m, n)`` and its ``growth``."""
    m, n = returns.shape
    final = growth[:, -1]
    nan = np.full(m, np.nan)
    annual_return = nan
    if n >= 1:
        with np.errstate(over="ignore", invalid="ignore"):
            annual_return = final ** (1.0 / (n / periods_per_year)) - 1.0
    depth, peak, trough, recovery = _max_drawdowns(growth)
    with np.errstate(divide="ignore", invalid="ignore"):
        calmar = np.where(depth > 0.0, annual_return / depth, np.nan)
    volatility = sharpe = sortino = omega = nan
    if n >= 2:
        root = np.sqrt(periods_per_year)
        volatility = _zero_dispersion_std(returns) * root
        excess = returns - rf
        mean_excess = excess.mean(axis=1)
        sharpe = _divide(mean_excess, _zero_dispersion_std(excess)) * root
        downside = np.sqrt(np.square(np.minimum(excess, 0.0)).mean(axis=1)) * root
        sortino = _divide(mean_excess * periods_per_year, downside)
        gains = np.maximum(excess, 0.0).sum(axis=1)
        losses = -np.minimum(excess, 0.0).sum(axis=1)
        omega = _divide(gains, losses)
    return SeriesStats(
        growth=growth,
        total_return=final - 1.0,
        annual_return=annual_return,
        annual_volatility=volatility,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        omega_ratio=omega,
        cvar=_cvar(returns),
        drawdown_depth=depth,
        drawdown_peak=peak,
        drawdown_trough=trough,
        drawdown_recovery=recovery,
        calmar_ratio=calmar,
    )


def _cvar(returns: Floats) -> Floats:
    """Mean of the ``floor((n - 1) * 0.05) + 1`` lowest returns of each row (empyrical's)."""
    m, n = returns.shape
    if n == 0:
        return np.full(m, np.nan)
    cutoff = int((n - 1) * CVAR_CUTOFF)
    tail = np.partition(returns, cutoff, axis=1)[:, : cutoff + 1]
    mean: Floats = tail.mean(axis=1)
    return mean


def _max_drawdowns(growth: Floats) -> tuple[Floats, Ints, Ints, Ints]:
    """Depth, peak, trough and recovery columns of the deepest drawdown of each row.

    The drawdown at ``t`` is ``(g_t - max_{s<=t} g_s) / max_{s<=t} g_s`` with the leading 1.0
    as the first peak (empyrical anchors its index the same way); falls within
    ``DRAWDOWN_NOISE`` count as standing at the peak.
    """
    m, width = growth.shape
    running_peak = np.maximum.accumulate(growth, axis=1)
    drawdown = (growth - running_peak) / running_peak
    drawdown[drawdown > -DRAWDOWN_NOISE] = 0.0
    rows = np.arange(m)
    deepest = drawdown.min(axis=1)
    trough = (drawdown <= deepest[:, None] + DRAWDOWN_NOISE).argmax(axis=1)
    depth = np.clip(-deepest, 0.0, 1.0)
    columns = np.arange(width)
    # Column of the latest value standing at its running peak, carried forward: at the trough it
    # is the last date the index stood at the peak it then fell from.
    at_peak = np.maximum.accumulate(np.where(drawdown == 0.0, columns, 0), axis=1)
    peak = at_peak[rows, trough]
    peak_level = running_peak[rows, trough][:, None]
    back = ((growth - peak_level) / peak_level > -DRAWDOWN_NOISE) & (columns > trough[:, None])
    recovery = np.where(back.any(axis=1), back.argmax(axis=1), NO_INDEX)
    none = depth == 0.0
    return (
        depth,
        np.where(none, NO_INDEX, peak),
        np.where(none, NO_INDEX, trough),
        np.where(none, NO_INDEX, recovery),
    )


def relative_stats(
    returns: Floats, benchmark: Floats, *, rf: float, periods_per_year: int
) -> RelativeStats:
    """Alpha, beta, tracking error and information ratio of each row against the benchmark.

    ``returns`` is ``(m, k)``; ``benchmark`` is ``(k,)`` (shared) or ``(m, k)``, on the same
    periods.
    """
    m, k = returns.shape
    bench = np.broadcast_to(benchmark, (m, k))
    nan = np.full(m, np.nan)
    bench_total = np.prod(1.0 + bench, axis=1) - 1.0 if k >= 1 else nan
    if k < 2:
        return RelativeStats(
            benchmark_total_return=bench_total,
            alpha=nan,
            beta=nan,
            tracking_error=nan,
            information_ratio=nan,
        )
    root = np.sqrt(periods_per_year)
    residual = bench - bench.mean(axis=1, keepdims=True)
    covariance = (residual * returns).mean(axis=1)
    variance = np.square(residual).mean(axis=1)
    beta = np.where(variance < BETA_MIN_VARIANCE, np.nan, covariance / np.maximum(variance, 1e-300))
    excess_alpha = (returns - rf) - beta[:, None] * (bench - rf)
    with np.errstate(over="ignore", invalid="ignore"):
        alpha = (1.0 + excess_alpha.mean(axis=1)) ** periods_per_year - 1.0
    active = returns - bench
    active_std = _zero_dispersion_std(active)
    return RelativeStats(
        benchmark_total_return=bench_total,
        alpha=alpha,
        beta=beta,
        tracking_error=active_std * root,
        information_ratio=_divide(active.mean(axis=1), active_std) * root,
    )
