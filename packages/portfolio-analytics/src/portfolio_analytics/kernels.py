"""The maths, vectorised over accounts: rows are accounts, columns are periods.

Every formula follows empyrical-reloaded 0.7 (``empyrical.stats``), so the numbers agree with it
to rounding; the package README lists them. Where a formula allows, a statistic is taken from
row sums the others already needed (the mean excess return from the mean return, the omega
gains from the losses and the sum) instead of another pass over the data: the results equal
empyrical's to ~1e-15. Results are float64 arrays with NaN where a metric is undefined; callers
turn NaN and infinities into ``None``. Nothing here warns: numpy's divide/invalid/overflow
warnings are silenced where a NaN or infinity is the defined outcome, and every ``ddof=1``
deviation is computed only with at least two returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from portfolio_analytics.drawdown import Drawdowns, max_drawdowns

__all__ = [
    "BETA_MIN_VARIANCE",
    "CVAR_CUTOFF",
    "DISPERSION_NOISE",
    "RelativeStats",
    "SeriesStats",
    "per_period_rate",
    "relative_stats",
    "series_stats",
    "time_weighted",
]

Floats = NDArray[np.float64]

CVAR_CUTOFF = 0.05
"""CVaR averages the returns at or below the 5th percentile (a 95 % CVaR)."""
BETA_MIN_VARIANCE = 1.0e-30
"""Below this benchmark variance beta is undefined (empyrical's threshold)."""
DISPERSION_NOISE = 1.0e-12
"""A per-period standard deviation below this is rounding noise, not risk (annualised, under
2e-11): the series counts as constant, its volatility is 0 and a ratio dividing by it is
undefined."""


@dataclass(frozen=True)
class SeriesStats:
    """Per-account metrics of ``m`` accounts over ``n`` returns."""

    total_return: Floats
    annual_return: Floats
    annual_volatility: Floats
    sharpe_ratio: Floats
    sortino_ratio: Floats
    omega_ratio: Floats
    cvar: Floats
    drawdown: Drawdowns
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


def time_weighted(values: Floats, ends: Floats | None) -> tuple[Floats, Floats]:
    """Returns ``(m, n)`` and growth index ``(m, n + 1)`` of values ``(m, n + 1)``.

    ``ends`` are ``values[:, 1:]`` less each day's cash flow (``None``: no flow). The return of a
    period is ``end / previous value - 1``. The growth index, ``prod(1 + r)`` up to each date,
    is computed as ``value / units``, where ``units`` starts at the first value and changes only
    on flow days (by ``value / end``): between flows it is one division of the value itself,
    so two equal values give exactly equal growth and a drawdown recovered to the cent is
    recovered.
    """
    if ends is None:
        returns = values[:, 1:] / values[:, :-1]
        returns -= 1.0
        return returns, values / values[:, :1]
    returns = ends / values[:, :-1]
    returns -= 1.0
    units = np.empty_like(values)
    units[:, 0] = values[:, 0]
    np.cumprod(values[:, 1:] / ends, axis=1, out=units[:, 1:])
    units[:, 1:] *= values[:, :1]
    growth = values / units
    growth[:, 0] = 1.0
    return returns, growth


def _sample_std(values: Floats, mean: Floats, scratch: Floats) -> Floats:
    """``std(ddof=1)`` per row (two-pass), 0 where the row is constant up to rounding noise.

    ``scratch`` (the shape of ``values``, may be ``values`` itself) receives the deviations.

    A constant row's float mean can miss its values in the last bit, and two series equal in
    exact arithmetic (an account and its own benchmark at another scale) differ by rounding:
    the ~1e-17 residue would turn an undefined ratio into an arbitrary number. empyrical
    zeroes exactly equal rows; ``DISPERSION_NOISE`` zeroes them and the rounding residue.
    """
    n = values.shape[1]
    centered = np.subtract(values, mean[:, None], out=scratch)
    std = np.sqrt(np.einsum("ij,ij->i", centered, centered) / (n - 1))
    return np.where(std < DISPERSION_NOISE, 0.0, std)


def _divide(numerator: Floats, denominator: Floats) -> Floats:
    """Element-wise division where x/0 is NaN (undefined), not an infinity."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0.0, numerator / denominator, np.nan)


def series_stats(
    returns: Floats, growth: Floats, *, rf: float, periods_per_year: int
) -> SeriesStats:
    """Every single-series metric for each row of ``returns`` ``(m, n)`` and its ``growth``."""
    m, n = returns.shape
    final = growth[:, -1]
    nan = np.full(m, np.nan)
    annual_return = nan
    if n >= 1:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            annual_return = final ** (1.0 / (n / periods_per_year)) - 1.0
    drawdown = max_drawdowns(growth)
    with np.errstate(divide="ignore", invalid="ignore"):
        calmar = np.where(drawdown.depth > 0.0, annual_return / drawdown.depth, np.nan)
    volatility = sharpe = sortino = omega = nan
    # One scratch array serves the deviations, the shortfalls and the CVaR partition in turn:
    # fewer large temporaries is most of the speed on 100 accounts x 10 years.
    scratch = np.empty_like(returns)
    if n >= 2:
        root = np.sqrt(periods_per_year)
        mean = returns.mean(axis=1)
        # std(r - rf) is std(r): one deviation serves volatility and Sharpe.
        std = _sample_std(returns, mean, scratch)
        volatility = std * root
        mean_excess = mean - rf
        sharpe = _divide(mean_excess, std) * root
        if rf == 0.0:
            shortfall = np.minimum(returns, 0.0, out=scratch)
        else:
            shortfall = np.subtract(returns, rf, out=scratch)
            np.minimum(shortfall, 0.0, out=shortfall)
        losses = -shortfall.sum(axis=1)
        downside = np.sqrt(np.einsum("ij,ij->i", shortfall, shortfall) / n) * root
        sortino = _divide(mean_excess * periods_per_year, downside)
        # sum(max(r - rf, 0)) = sum(r - rf) + sum(max(rf - r, 0))
        omega = _divide(mean_excess * n + losses, losses)
    return SeriesStats(
        total_return=final - 1.0,
        annual_return=annual_return,
        annual_volatility=volatility,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        omega_ratio=omega,
        cvar=_cvar(returns, scratch),
        drawdown=drawdown,
        calmar_ratio=calmar,
    )


def _cvar(returns: Floats, scratch: Floats) -> Floats:
    """Mean of the ``floor((n - 1) * 0.05) + 1`` lowest returns of each row (empyrical's)."""
    m, n = returns.shape
    if n == 0:
        return np.full(m, np.nan)
    cutoff = int((n - 1) * CVAR_CUTOFF)
    np.copyto(scratch, returns)
    scratch.partition(cutoff, axis=1)
    mean: Floats = scratch[:, : cutoff + 1].mean(axis=1)
    return mean


def relative_stats(
    returns: Floats, benchmark: Floats, *, rf: float, periods_per_year: int
) -> RelativeStats:
    """Alpha, beta, tracking error and information ratio of each row against the benchmark.

    ``returns`` is ``(m, k)``, ``benchmark`` ``(k,)`` on the same periods.
    """
    m, k = returns.shape
    nan = np.full(m, np.nan)
    bench_total = np.full(m, np.prod(1.0 + benchmark) - 1.0) if k >= 1 else nan
    if k < 2:
        return RelativeStats(
            benchmark_total_return=bench_total,
            alpha=nan,
            beta=nan,
            tracking_error=nan,
            information_ratio=nan,
        )
    root = np.sqrt(periods_per_year)
    mean = returns.mean(axis=1)
    bench_mean = benchmark.mean()
    residual = benchmark - bench_mean
    variance = residual @ residual / k
    beta = nan if variance < BETA_MIN_VARIANCE else (returns @ residual / k) / variance
    # mean(r - rf - beta (b - rf)), from the means already at hand.
    with np.errstate(over="ignore", invalid="ignore"):
        alpha = (1.0 + (mean - rf) - beta * (bench_mean - rf)) ** periods_per_year - 1.0
    active = returns - benchmark
    active_mean = active.mean(axis=1)
    active_std = _sample_std(active, active_mean, scratch=active)
    return RelativeStats(
        benchmark_total_return=bench_total,
        alpha=alpha,
        beta=beta,
        tracking_error=active_std * root,
        information_ratio=_divide(active_mean, active_std) * root,
    )
