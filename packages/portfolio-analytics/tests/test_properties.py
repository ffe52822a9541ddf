"""Invariants over random accounts (hypothesis): scale, deposits, drawdowns, batch = single."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from portfolio_analytics import PerformanceMetrics, performance_metrics, performance_metrics_batch

PROFILE = settings(max_examples=200, deadline=None)
START = date(2023, 3, 1)
CENT = Decimal("0.01")
REL = 1e-6
"""Two computations that are equal in exact arithmetic differ by float rounding of the returns
(~1e-16). Ratios built on small differences amplify it: an account tracking its benchmark to
the cent has active returns ~1e-7, so its information ratio moves by ~1e-9 relative. 1e-6 is
far above that and far below any real dependence on the amounts (an error of the kind the
tests look for moves a metric by percents)."""

RETURN_FIELDS = [
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "omega_ratio",
    "cvar_95",
    "max_drawdown.depth",
    "benchmark.benchmark_total_return",
    "benchmark.alpha",
    "benchmark.beta",
    "benchmark.tracking_error",
    "benchmark.information_ratio",
]
"""Every metric that depends on the returns only (not on the amounts)."""


@dataclass(frozen=True)
class Account:
    values: list[tuple[date, Decimal]]
    benchmark: list[tuple[date, Decimal]]


def _walk(draw: st.DrawFn, n: int, start: Decimal) -> list[Decimal]:
    """``n`` values moving by random daily returns (some exactly flat), to the cent, >= 0.01."""
    moves = draw(
        st.lists(
            st.one_of(st.just(0.0), st.floats(-0.15, 0.15, allow_nan=False)),
            min_size=n - 1,
            max_size=n - 1,
        )
    )
    values = [start]
    for move in moves:
        values.append(max(CENT, (values[-1] * Decimal(repr(1 + move))).quantize(CENT)))
    return values


@st.composite
def accounts(draw: st.DrawFn, min_size: int = 2, max_size: int = 40) -> Account:
    n = draw(st.integers(min_size, max_size))
    gaps = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    dates = [START + timedelta(days=sum(gaps[: i + 1])) for i in range(n)]
    values = _walk(draw, n, draw(st.decimals(100, 10_000_000, places=2)))
    bench = _walk(draw, n, draw(st.decimals(10, 5_000, places=2)))
    return Account(
        values=list(zip(dates, values, strict=True)),
        benchmark=list(zip(dates, bench, strict=True)),
    )


def _get(metrics: PerformanceMetrics, dotted: str) -> Any:
    value: Any = metrics
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _assert_same_returns_metrics(a: PerformanceMetrics, b: PerformanceMetrics, rel: float) -> None:
    for name in RETURN_FIELDS:
        x, y = _get(a, name), _get(b, name)
        assert (x is None) == (y is None), f"{name}: {x!r} vs {y!r}"
        if x is not None:
            assert math.isclose(x, y, rel_tol=rel, abs_tol=rel), f"{name}: {x!r} vs {y!r}"
    assert a.max_drawdown.model_dump(exclude={"depth"}) == b.max_drawdown.model_dump(
        exclude={"depth"}
    )


@PROFILE
@given(
    account=accounts(),
    factor=st.decimals(Decimal("0.001"), Decimal(1000), places=3),
    risk_free_rate=st.sampled_from([0.0, 0.045]),
)
def test_scaling_every_value_by_a_constant_changes_no_ratio(
    account: Account, factor: Decimal, risk_free_rate: float
) -> None:
    scaled = [(when, value * factor) for when, value in account.values]
    kwargs: dict[str, Any] = {"benchmark": account.benchmark, "risk_free_rate": risk_free_rate}
    original = performance_metrics(account.values, **kwargs)
    rescaled = performance_metrics(scaled, **kwargs)
    _assert_same_returns_metrics(original, rescaled, rel=REL)
    assert rescaled.end_value == original.end_value * factor
    if original.cvar_95_amount is not None:
        assert rescaled.cvar_95_amount is not None
        # Both amounts are rounded to the cent, the original's error is then scaled.
        bound = CENT / 2 * (1 + factor)
        assert abs(rescaled.cvar_95_amount - original.cvar_95_amount * factor) <= bound


@PROFILE
@given(
    account=accounts(min_size=2),
    day=st.integers(0, 39),
    share=st.decimals(Decimal("-0.9"), Decimal(20), places=4).filter(lambda x: x != 0),
)
def test_a_deposit_or_withdrawal_invested_like_the_account_leaves_every_return_unchanged(
    account: Account, day: int, share: Decimal
) -> None:
    """A flow on day k, invested like the rest, scales every later value by (V_k + F) / V_k."""
    k = day % len(account.values)
    when, value_k = account.values[k]
    flow = (value_k * share).quantize(CENT)
    if value_k + flow <= 0 or flow == 0:
        return
    factor = (value_k + flow) / value_k
    with_flow = [(d, v * factor if i >= k else v) for i, (d, v) in enumerate(account.values)]
    plain = performance_metrics(account.values, benchmark=account.benchmark)
    funded = performance_metrics(with_flow, cash_flows=[(when, flow)], benchmark=account.benchmark)
    _assert_same_returns_metrics(plain, funded, rel=REL)
    assert funded.net_cash_flow == (flow if k > 0 else 0)


@PROFILE
@given(account=accounts(min_size=1))
def test_max_drawdown_is_the_largest_fall_from_any_earlier_value_and_within_0_and_1(
    account: Account,
) -> None:
    metrics = performance_metrics(account.values)
    values = [float(v) for _, v in account.values]
    brute = max(
        (
            (values[i] - values[j]) / values[i]
            for i in range(len(values))
            for j in range(i, len(values))
        ),
    )
    drawdown = metrics.max_drawdown
    assert 0.0 <= drawdown.depth <= 1.0
    assert math.isclose(drawdown.depth, brute, rel_tol=1e-9, abs_tol=1e-12)
    if drawdown.depth == 0.0:
        assert drawdown.peak is drawdown.trough is drawdown.recovery is None
        return
    assert drawdown.peak is not None
    assert drawdown.trough is not None
    assert drawdown.peak < drawdown.trough
    by_date = dict(account.values)
    assert by_date[drawdown.trough] < by_date[drawdown.peak]
    after = [v for d, v in account.values if d > drawdown.trough]
    recovered = next(
        (d for d, v in account.values if d > drawdown.trough and v >= by_date[drawdown.peak]), None
    )
    assert drawdown.recovery == recovered, after


@PROFILE
@given(account=accounts(min_size=2))
def test_cvar_lies_between_the_worst_return_and_the_mean_return(account: Account) -> None:
    metrics = performance_metrics(account.values)
    growth = np.array([1.0 + c for _, c in metrics.cumulative_returns])
    returns = growth[1:] / growth[:-1] - 1.0
    assert metrics.cvar_95 is not None
    assert returns.min() - 1e-12 <= metrics.cvar_95 <= returns.mean() + 1e-12


@st.composite
def same_dated_accounts(draw: st.DrawFn) -> list[Account]:
    n = draw(st.integers(3, 30))
    return draw(st.lists(accounts(min_size=n, max_size=n), min_size=1, max_size=5))


@settings(max_examples=50, deadline=None)
@given(group=same_dated_accounts(), risk_free_rate=st.sampled_from([0.0, 0.02]))
def test_batch_results_equal_the_single_account_results(
    group: list[Account], risk_free_rate: float
) -> None:
    """Every account on the first one's dates and benchmark, each with a deposit on its last day."""
    dates = [d for d, _ in group[0].values]
    grid = np.array([[float(v) for _, v in account.values] for account in group])
    flows = np.zeros_like(grid)
    flows[:, -1] = np.round(grid[:, -1] / 3, 2)
    bench = np.array([float(v) for _, v in group[0].benchmark])
    batch = performance_metrics_batch(
        dates, grid, cash_flows=flows, benchmark=bench, risk_free_rate=risk_free_rate
    )
    assert len(batch) == len(group)
    for row, account in enumerate(group):
        result = batch.account(row)
        single = performance_metrics(
            [(d, v) for d, (_, v) in zip(dates, account.values, strict=True)],
            cash_flows=[(dates[-1], Decimal(repr(float(flows[row, -1]))))],
            benchmark=list(zip(dates, (Decimal(repr(float(b))) for b in bench), strict=True)),
            risk_free_rate=risk_free_rate,
        )
        _assert_same_returns_metrics(result, single, rel=REL)
        assert result.end_value == single.end_value
        assert result.net_cash_flow == single.net_cash_flow
