"""Real ETF prices and the empyrical-reloaded reference the golden tests compare against.

``data/factors_dataset.csv.gz`` is skfolio 1.12.2's ``load_factors_dataset`` file, unchanged:
daily adjusted closes of MTUM, QUAL, SIZE, USMV and VLUE from 2014-01-02 to 2022-12-28
(2,264 dates), BSD-3-Clause, notice in ``data/LICENSE-skfolio``. empyrical-reloaded is a
test-only dependency (the package's ``test`` extra).
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import empyrical as ep
import numpy as np
import pytest
from numpy.typing import NDArray

DATA = Path(__file__).parent / "data" / "factors_dataset.csv.gz"
TOLERANCE = 1e-9
"""Golden agreement: ``|ours - empyrical| <= 1e-9 * max(1, |empyrical|)``."""


@dataclass(frozen=True)
class FactorPrices:
    """The dataset: one date axis, each symbol's closes as ``Decimal`` (exactly as written)."""

    dates: tuple[date, ...]
    closes: dict[str, tuple[Decimal, ...]]

    def pairs(self, symbol: str) -> list[tuple[date, Decimal]]:
        return list(zip(self.dates, self.closes[symbol], strict=True))

    def floats(self, symbol: str) -> NDArray[np.float64]:
        return np.array([float(close) for close in self.closes[symbol]])


def _load() -> FactorPrices:
    with gzip.open(DATA, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    return FactorPrices(
        dates=tuple(date.fromisoformat(row[0]) for row in body),
        closes={
            symbol: tuple(Decimal(row[column]) for row in body)
            for column, symbol in enumerate(header[1:], start=1)
        },
    )


@pytest.fixture(scope="session")
def factors() -> FactorPrices:
    return _load()


def simple_returns(prices: NDArray[np.float64]) -> NDArray[np.float64]:
    returns: NDArray[np.float64] = ep.simple_returns(prices)
    return returns


def empyrical_metrics(
    returns: NDArray[np.float64],
    benchmark: NDArray[np.float64] | None = None,
    *,
    risk_free_rate: float = 0.0,
) -> dict[str, float]:
    """Every metric as empyrical-reloaded computes it, named as our model's fields.

    The per-period risk-free return is ``(1 + rate)^(1/252) - 1``; empyrical has no tracking
    error or information ratio function, so they are its ``annual_volatility`` of the active
    returns and its (unannualised) ``excess_sharpe`` times ``sqrt(252)``.
    """
    rf = (1.0 + risk_free_rate) ** (1.0 / 252) - 1.0
    expected: dict[str, Any] = {
        "total_return": ep.cum_returns_final(returns),
        "annual_return": ep.annual_return(returns),
        "annual_volatility": ep.annual_volatility(returns),
        "sharpe_ratio": ep.sharpe_ratio(returns, risk_free=rf),
        "sortino_ratio": ep.sortino_ratio(returns, required_return=rf),
        "max_drawdown.depth": -ep.max_drawdown(returns),
        "calmar_ratio": ep.calmar_ratio(returns),
        "omega_ratio": ep.omega_ratio(returns, risk_free=rf),
        "cvar_95": ep.conditional_value_at_risk(returns, cutoff=0.05),
    }
    if benchmark is not None:
        alpha, beta = ep.alpha_beta(returns, benchmark, risk_free=rf)
        expected |= {
            "benchmark.benchmark_total_return": ep.cum_returns_final(benchmark),
            "benchmark.alpha": alpha,
            "benchmark.beta": beta,
            "benchmark.tracking_error": ep.annual_volatility(returns - benchmark),
            "benchmark.information_ratio": ep.excess_sharpe(returns, benchmark) * math.sqrt(252),
        }
    return {name: float(value) for name, value in expected.items()}


def field_value(metrics: Any, dotted: str) -> Any:
    """``field_value(m, "benchmark.beta")`` is ``m.benchmark.beta``."""
    value = metrics
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def deviation(ours: float | None, reference: float) -> float:
    """``|ours - reference| / max(1, |reference|)``.

    Where empyrical's value is NaN or infinite (undefined) ours must be ``None``: 0 then,
    infinite otherwise; a ``None`` against a finite reference is infinite.
    """
    if not math.isfinite(reference):
        return 0.0 if ours is None else math.inf
    if ours is None:
        return math.inf
    return abs(ours - reference) / max(1.0, abs(reference))


def worst_deviation(metrics: Any, expected: dict[str, float]) -> tuple[str, float]:
    """The metric that deviates most from the reference, and by how much."""
    deviations = {
        name: deviation(field_value(metrics, name), ref) for name, ref in expected.items()
    }
    name = max(deviations, key=lambda key: deviations[key])
    return name, deviations[name]


def reference_drawdown(growth: Sequence[float]) -> tuple[float, int, int, int | None]:
    """Depth, peak, trough and recovery positions by a plain loop (independent of the package).

    Peak is the last position at the peak level before the trough, trough the first position of
    the deepest fall, recovery the first position after it back at the peak level.
    """
    peak_level, peak_at = growth[0], 0
    depth, best_peak, trough = 0.0, 0, 0
    for i, level in enumerate(growth):
        if level >= peak_level:
            peak_level, peak_at = level, i
        fall = (peak_level - level) / peak_level
        if fall > depth:
            depth, best_peak, trough = fall, peak_at, i
    recovery = next(
        (i for i in range(trough + 1, len(growth)) if growth[i] >= growth[best_peak]), None
    )
    return depth, best_peak, trough, recovery


class Golden:
    """The helpers above, handed to test modules as the ``golden`` fixture (test modules cannot
    import this conftest under ``--import-mode=importlib``)."""

    tolerance = TOLERANCE
    simple_returns = staticmethod(simple_returns)
    metrics = staticmethod(empyrical_metrics)
    worst_deviation = staticmethod(worst_deviation)
    field_value = staticmethod(field_value)
    reference_drawdown = staticmethod(reference_drawdown)


@pytest.fixture(scope="session")
def golden() -> Golden:
    return Golden()
