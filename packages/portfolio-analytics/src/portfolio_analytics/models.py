"""Result models: frozen values; ratios are floats, money is ``Decimal``.

A metric that is undefined for the data (too few returns, a division by zero such as the Sharpe
ratio of a flat series) is ``None``, never NaN or infinity: ``allow_inf_nan=False`` makes the
models refuse either, so a stored or serialised result is always plain JSON.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BenchmarkMetrics", "MaxDrawdown", "PerformanceMetrics"]

_VALUE = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MaxDrawdown(BaseModel):
    """The deepest fall of the growth index below its previous peak.

    ``depth`` is the fall as a fraction of the peak, in ``[0, 1]`` (0.25: 25 % below the peak).
    empyrical's ``max_drawdown`` is the same number with a negative sign. The dates are ``None``
    when the index never fell below a previous peak (``depth == 0``; a fall under 1e-12 of the
    peak is float rounding, not a drawdown).
    """

    model_config = _VALUE

    depth: float = Field(ge=0.0, le=1.0)
    peak: date | None = None
    """Last date, on or before the trough, on which the index stood at the peak level."""
    trough: date | None = None
    """First date on which the deepest fall was reached."""
    recovery: date | None = None
    """First date after the trough on which the index was back at the peak level; ``None``
    while not recovered."""


class BenchmarkMetrics(BaseModel):
    """The account against a benchmark, over the dates both series have.

    ``periods`` counts the returns between consecutive common dates; every ratio needs at least
    two of them and is ``None`` otherwise.
    """

    model_config = _VALUE

    start_date: date | None
    end_date: date | None
    periods: int = Field(ge=0)
    benchmark_total_return: float | None
    """Compounded benchmark return between the first and last common dates."""
    alpha: float | None
    """Annualised Jensen's alpha: ``(1 + mean(r - rf - beta (b - rf)))^P - 1``."""
    beta: float | None
    """``cov(r, b) / var(b)`` (population moments); ``None`` when ``var(b) < 1e-30``."""
    tracking_error: float | None
    """Annualised ``std(r - b, ddof=1) * sqrt(P)``."""
    information_ratio: float | None
    """Annualised ``mean(r - b) / std(r - b, ddof=1) * sqrt(P)``; ``None`` when ``r - b`` is
    constant."""


class PerformanceMetrics(BaseModel):
    """Performance of one account over its dated values (see the package README for formulas).

    ``r`` are the time-weighted simple returns between consecutive values, ``P`` is
    ``periods_per_year`` and ``rf`` the risk-free return per period derived from the annual
    ``risk_free_rate``.
    """

    model_config = _VALUE

    start_date: date
    end_date: date
    periods: int = Field(ge=0)
    """Number of returns: one per pair of consecutive values, whatever the calendar gap."""
    periods_per_year: int = Field(ge=1)
    risk_free_rate: float
    """Annual risk-free rate as given; ``rf = (1 + risk_free_rate)^(1/P) - 1`` per period."""
    start_value: Decimal
    end_value: Decimal
    net_cash_flow: Decimal
    """Sum of the deposits (+) and withdrawals (-) booked between the first and last dates."""
    total_return: float
    """Time-weighted: ``prod(1 + r) - 1``; deposits and withdrawals are not gains or losses."""
    annual_return: float | None
    """CAGR: ``(1 + total_return)^(P / periods) - 1``."""
    annual_volatility: float | None
    """``std(r, ddof=1) * sqrt(P)``."""
    sharpe_ratio: float | None
    """``mean(r - rf) / std(r - rf, ddof=1) * sqrt(P)``."""
    sortino_ratio: float | None
    """``mean(r - rf) * P / (sqrt(mean(min(r - rf, 0)^2)) * sqrt(P))``."""
    max_drawdown: MaxDrawdown
    calmar_ratio: float | None
    """``annual_return / max_drawdown.depth``; ``None`` without a drawdown."""
    omega_ratio: float | None
    """``sum(max(r - rf, 0)) / sum(max(rf - r, 0))``; ``None`` without a return below ``rf``."""
    cvar_95: float | None
    """Historical CVaR at 95 %: the mean of the ``floor((periods - 1) * 0.05) + 1`` lowest
    returns (a return: negative when that tail loses money)."""
    cvar_95_amount: Decimal | None
    """``cvar_95 * end_value``, rounded to the cent (negative for a loss)."""
    cumulative_returns: tuple[tuple[date, float], ...]
    """``(date, growth - 1)`` on every value date, starting with ``(start_date, 0.0)``."""
    benchmark: BenchmarkMetrics | None = None
    """Relative metrics, present when a benchmark was given."""
