"""Benchmark of ``portfolio_analytics``: 100 accounts x 10 years of daily values, vs empyrical.

Run from the repository root with the project venv::

    .venv/bin/python bench/analytics.py            # best of 15 rounds
    .venv/bin/python bench/analytics.py --rounds 3

A fixed-seed set of 100 accounts (2,520 trading days each, values to the cent, every account a
different beta to one benchmark plus its own noise, some flat days) and the benchmark are
measured three ways, each computing every metric of the package (total return, CAGR,
volatility, Sharpe, Sortino, max drawdown, Calmar, omega, 95 % CVaR, cumulative returns, alpha,
beta, tracking error, information ratio), risk-free rate 4 %:

* ``performance_metrics_batch`` on the 100 x 2,521 float64 grid (the vectorised path): every
  metric as arrays over the accounts, cumulative returns as a 100 x 2,521 array,
* the same, then ``batch.account(i)`` for every account: 100 ``PerformanceMetrics`` models
  (each with its 2,521-point cumulative-returns series as ``(date, float)`` pairs),
* ``performance_metrics`` once per account on ``(date, Decimal)`` pairs (the single path, input
  validation and Decimal-to-float conversion included),
* empyrical-reloaded (the baseline, a test-only dependency), one call per metric per account on
  numpy arrays (its fastest input; the legacy code passed pandas Series, which is slower).
  empyrical has no drawdown-date function, so the baseline does a little less work than ours.

Each figure is the wall time of the whole set, best of ``--rounds`` (median in brackets).
Targets: the batch path <= 50 ms for all 100 accounts and >= 10x faster than empyrical. The
machine is shared: the load average is printed, figures move with it. It prints figures; it
never fails on them.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from portfolio_analytics import (
    MetricsBatch,
    PerformanceMetrics,
    performance_metrics,
    performance_metrics_batch,
)

try:
    import empyrical as ep

    HAVE_EMPYRICAL = True
except ImportError:  # a test-only dependency: say so instead of a traceback
    HAVE_EMPYRICAL = False

SEED = 20_141_014
ACCOUNTS = 100
DAYS = 2_520  # 10 years of 252 trading days
RISK_FREE_RATE = 0.04
Floats = NDArray[np.float64]
T = TypeVar("T")


def trading_days(first: date, count: int) -> list[date]:
    """``count`` weekdays from ``first`` on (holidays are not modelled)."""
    days: list[date] = []
    day = first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def make_data(rng: np.random.Generator) -> tuple[list[date], Floats, Floats]:
    """Dates, ``(ACCOUNTS, DAYS + 1)`` account values to the cent, benchmark closes."""
    market = rng.normal(0.0004, 0.011, DAYS)
    betas = rng.uniform(0.2, 1.4, (ACCOUNTS, 1))
    noise = rng.normal(0.0001, 0.006, (ACCOUNTS, DAYS)) * rng.uniform(0.3, 2.0, (ACCOUNTS, 1))
    returns = betas * market + noise
    returns[rng.random((ACCOUNTS, DAYS)) < 0.02] = 0.0  # a few flat days (a closed account day)
    start = np.exp(rng.uniform(np.log(5_000), np.log(5_000_000), (ACCOUNTS, 1)))
    growth = np.cumprod(np.hstack([np.ones((ACCOUNTS, 1)), 1.0 + returns]), axis=1)
    values: Floats = np.round(start * growth, 2)
    bench: Floats = np.round(250.0 * np.cumprod(np.concatenate([[1.0], 1.0 + market])), 2)
    return trading_days(date(2013, 1, 2), DAYS + 1), values, bench


def timed(job: Callable[[], T], rounds: int) -> tuple[float, float, T]:
    """Best and median wall time of ``job`` in seconds, and its last result."""
    times: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = job()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def report(label: str, best: float, median: float, note: str = "") -> None:
    print(f"{label:<52} {best * 1e3:8.1f} ms [{median * 1e3:.1f}] {note}")


def empyrical_all(values: Floats, bench: Floats) -> list[dict[str, float]]:
    """Every metric with empyrical-reloaded, one account at a time."""
    rf = (1.0 + RISK_FREE_RATE) ** (1.0 / 252) - 1.0
    bench_returns = ep.simple_returns(bench)
    results = []
    for row in values:
        r = ep.simple_returns(row)
        alpha, beta = ep.alpha_beta_aligned(r, bench_returns, risk_free=rf)
        results.append(
            {
                "total_return": ep.cum_returns_final(r),
                "annual_return": ep.annual_return(r),
                "annual_volatility": ep.annual_volatility(r),
                "sharpe_ratio": ep.sharpe_ratio(r, risk_free=rf),
                "sortino_ratio": ep.sortino_ratio(r, required_return=rf),
                "max_drawdown": -ep.max_drawdown(r),
                "calmar_ratio": ep.calmar_ratio(r),
                "omega_ratio": ep.omega_ratio(r, risk_free=rf),
                "cvar_95": ep.conditional_value_at_risk(r),
                "cumulative": ep.cum_returns(r)[-1],
                "alpha": alpha,
                "beta": beta,
                "tracking_error": ep.annual_volatility(r - bench_returns),
                "information_ratio": ep.excess_sharpe(r, bench_returns) * math.sqrt(252),
            }
        )
    return results


def ours_as_arrays(batch: MetricsBatch) -> dict[str, Floats]:
    assert batch.benchmark is not None
    return {
        "total_return": batch.total_return,
        "annual_return": batch.annual_return,
        "annual_volatility": batch.annual_volatility,
        "sharpe_ratio": batch.sharpe_ratio,
        "sortino_ratio": batch.sortino_ratio,
        "max_drawdown": batch.max_drawdown,
        "calmar_ratio": batch.calmar_ratio,
        "omega_ratio": batch.omega_ratio,
        "cvar_95": batch.cvar_95,
        "cumulative": batch.cumulative_returns[:, -1],
        "alpha": batch.benchmark.alpha,
        "beta": batch.benchmark.beta,
        "tracking_error": batch.benchmark.tracking_error,
        "information_ratio": batch.benchmark.information_ratio,
    }


def worst_deviation(batch: MetricsBatch, theirs: list[dict[str, float]]) -> float:
    """Largest ``|ours - empyrical| / max(1, |empyrical|)`` over every metric and account."""
    worst = 0.0
    for name, ours in ours_as_arrays(batch).items():
        reference = np.array([metrics[name] for metrics in theirs])
        worst = max(
            worst, float(np.max(np.abs(ours - reference) / np.maximum(1.0, np.abs(reference))))
        )
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per method")
    args = parser.parse_args(argv)

    dates, values, bench = make_data(np.random.default_rng(SEED))
    decimal_values = [
        list(zip(dates, (Decimal(repr(v)) for v in row.tolist()), strict=True)) for row in values
    ]
    bench_pairs = list(zip(dates, (Decimal(repr(v)) for v in bench.tolist()), strict=True))
    load = os.getloadavg()
    print(
        f"{ACCOUNTS} accounts x {DAYS} daily returns ({dates[0]}..{dates[-1]}), benchmark, "
        f"risk-free {RISK_FREE_RATE:.0%}; best of {args.rounds} rounds [median]"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        "(shared machine: figures move with the load)"
    )

    def batch_job() -> MetricsBatch:
        return performance_metrics_batch(
            dates, values, benchmark=bench, risk_free_rate=RISK_FREE_RATE
        )

    batch_best, batch_median, batch = timed(batch_job, args.rounds)

    def models_job() -> list[PerformanceMetrics]:
        batch = batch_job()
        return [batch.account(i) for i in range(len(batch))]

    models_best, models_median, _ = timed(models_job, args.rounds)
    single_best, single_median, _ = timed(
        lambda: [
            performance_metrics(pairs, benchmark=bench_pairs, risk_free_rate=RISK_FREE_RATE)
            for pairs in decimal_values
        ],
        args.rounds,
    )
    report("ours, performance_metrics_batch (arrays)", batch_best, batch_median, "(target <= 50)")
    report(f"ours, the batch then {ACCOUNTS} account models", models_best, models_median)
    report(f"ours, performance_metrics x {ACCOUNTS} (Decimal pairs)", single_best, single_median)
    if not HAVE_EMPYRICAL:
        print("no baseline: empyrical-reloaded is not installed (portfolio-analytics[test])")
        return 0
    base_best, base_median, reference = timed(lambda: empyrical_all(values, bench), args.rounds)
    report("empyrical-reloaded, per account (numpy arrays)", base_best, base_median)
    print(
        f"empyrical / ours: batch {base_best / batch_best:.1f}x (target >= 10x), batch with "
        f"models {base_best / models_best:.1f}x, single path {base_best / single_best:.1f}x"
    )
    worst = worst_deviation(batch, reference)
    print(f"largest deviation from empyrical, any metric or account: {worst:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
