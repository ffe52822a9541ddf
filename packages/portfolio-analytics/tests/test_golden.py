"""Golden values: empyrical-reloaded on real ETF closes (skfolio's factor dataset, 2014-2022).

Every metric must agree to ``1e-9 * max(1, |empyrical|)``. The ETF closes are the account values
(as ``Decimal``, exactly as the file writes them) and the next ETF in the file is the benchmark.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from portfolio_analytics import performance_metrics

Golden = Any  # conftest.Golden (test modules cannot import conftest under importlib mode)
Factors = Any  # conftest.FactorPrices

SYMBOLS = ["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]


def _benchmark_of(symbol: str) -> str:
    return SYMBOLS[(SYMBOLS.index(symbol) + 1) % len(SYMBOLS)]


@pytest.mark.parametrize("risk_free_rate", [0.0, 0.04])
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_every_metric_of_an_etf_against_another_agrees_with_empyrical_to_1e9(
    factors: Factors, golden: Golden, symbol: str, risk_free_rate: float
) -> None:
    bench = _benchmark_of(symbol)
    metrics = performance_metrics(
        factors.pairs(symbol), benchmark=factors.pairs(bench), risk_free_rate=risk_free_rate
    )
    expected = golden.metrics(
        golden.simple_returns(factors.floats(symbol)),
        golden.simple_returns(factors.floats(bench)),
        risk_free_rate=risk_free_rate,
    )
    name, worst = golden.worst_deviation(metrics, expected)
    assert worst <= golden.tolerance, f"{name}: ours {golden.field_value(metrics, name)!r}"
    assert metrics.periods == len(factors.dates) - 1 == 2263
    assert metrics.benchmark is not None
    assert metrics.benchmark.periods == 2263


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_cumulative_returns_of_an_etf_agree_with_empyrical_cum_returns(
    factors: Factors, golden: Golden, symbol: str
) -> None:
    import empyrical as ep

    metrics = performance_metrics(factors.pairs(symbol))
    expected = ep.cum_returns(golden.simple_returns(factors.floats(symbol)))
    dates = [when for when, _ in metrics.cumulative_returns]
    ours = np.array([value for _, value in metrics.cumulative_returns])
    assert dates == list(factors.dates)
    assert ours[0] == 0.0
    assert np.max(np.abs(ours[1:] - expected)) <= golden.tolerance


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_max_drawdown_dates_of_an_etf_match_a_plain_loop_over_its_growth(
    factors: Factors, golden: Golden, symbol: str
) -> None:
    metrics = performance_metrics(factors.pairs(symbol))
    growth = [1.0 + value for _, value in metrics.cumulative_returns]
    depth, peak, trough, recovery = golden.reference_drawdown(growth)
    drawdown = metrics.max_drawdown
    assert abs(drawdown.depth - depth) <= golden.tolerance
    assert drawdown.peak == factors.dates[peak]
    assert drawdown.trough == factors.dates[trough] == date(2020, 3, 23)  # the Covid low
    assert recovery is not None
    assert drawdown.recovery == factors.dates[recovery]


def _account_trading_units(
    factors: Factors, symbol: str
) -> tuple[list[tuple[date, Decimal]], list[tuple[date, Decimal]]]:
    """Values of an account that holds only ``symbol`` and trades units with every flow.

    Deposits and withdrawals buy or sell units at that day's close (a flow is at the end of its
    day); one deposit is dated on a Saturday and buys at the next value date's close. The
    account's time-weighted returns are therefore exactly the ETF's.
    """
    closes = factors.closes[symbol]
    flows_at = {
        150: Decimal("5000"),
        400: Decimal("25000.55"),
        700: Decimal("-8000"),
        1100: Decimal("120000"),
        1570: Decimal("-30000.10"),
        2000: Decimal("3.33"),
    }
    saturday = next(
        i
        for i in range(900, 1000)
        if factors.dates[i] - factors.dates[i - 1] > timedelta(days=1)
        and factors.dates[i - 1].weekday() == 4
    )
    units = Decimal(100)
    values: list[tuple[date, Decimal]] = []
    flows: list[tuple[date, Decimal]] = []
    for i, (when, close) in enumerate(zip(factors.dates, closes, strict=True)):
        flow = flows_at.get(i, Decimal(0)) + (Decimal(7777) if i == saturday else Decimal(0))
        units += flow / close
        values.append((when, units * close))
        if i in flows_at:
            flows.append((when, flows_at[i]))
    flows.append((factors.dates[saturday - 1] + timedelta(days=1), Decimal(7777)))
    return values, flows


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_account_whose_flows_buy_and_sell_units_has_the_etf_s_metrics(
    factors: Factors, golden: Golden, symbol: str
) -> None:
    values, flows = _account_trading_units(factors, symbol)
    bench = _benchmark_of(symbol)
    metrics = performance_metrics(
        values, cash_flows=flows, benchmark=factors.pairs(bench), risk_free_rate=0.03
    )
    expected = golden.metrics(
        golden.simple_returns(factors.floats(symbol)),
        golden.simple_returns(factors.floats(bench)),
        risk_free_rate=0.03,
    )
    name, worst = golden.worst_deviation(metrics, expected)
    assert worst <= golden.tolerance, f"{name}: ours {golden.field_value(metrics, name)!r}"
    assert metrics.net_cash_flow == Decimal("119780.78")  # the six flows and the Saturday one
    assert metrics.end_value == values[-1][1]
    cvar_amount = Decimal(repr(expected["cvar_95"])) * values[-1][1]
    assert metrics.cvar_95_amount is not None
    assert abs(metrics.cvar_95_amount - cvar_amount) <= Decimal("0.005")
    # The same values read without their flows count the deposits as gains.
    naive = performance_metrics(values)
    assert naive.total_return - expected["total_return"] > 0.5


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_benchmark_on_other_dates_is_compared_on_the_common_dates_only(
    factors: Factors, golden: Golden, symbol: str
) -> None:
    """Each series misses dates the other has; empyrical gets both sampled at the common ones."""
    bench = _benchmark_of(symbol)
    n = len(factors.dates)
    account_rows = [i for i in range(n) if i % 7 != 3]
    bench_rows = [i for i in range(n) if i % 5 != 1]
    common = sorted(set(account_rows) & set(bench_rows))
    account = [factors.pairs(symbol)[i] for i in account_rows]
    benchmark = [factors.pairs(bench)[i] for i in bench_rows]
    extra_before = (factors.dates[0] - timedelta(days=30), Decimal("1.5"))

    metrics = performance_metrics(account, benchmark=[extra_before, *benchmark])

    expected = golden.metrics(
        golden.simple_returns(factors.floats(symbol)[common]),
        golden.simple_returns(factors.floats(bench)[common]),
    )
    relative = {name: ref for name, ref in expected.items() if name.startswith("benchmark.")}
    name, worst = golden.worst_deviation(metrics, relative)
    assert worst <= golden.tolerance, f"{name}: ours {golden.field_value(metrics, name)!r}"
    assert metrics.benchmark is not None
    assert metrics.benchmark.periods == len(common) - 1
    assert metrics.benchmark.start_date == factors.dates[common[0]]
    assert metrics.benchmark.end_date == factors.dates[common[-1]]
    # The account's own metrics still use every one of its dates.
    assert metrics.periods == len(account_rows) - 1
