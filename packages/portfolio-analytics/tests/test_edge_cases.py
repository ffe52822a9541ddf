"""Edge cases have defined results (``None`` where a metric is undefined) or clear errors."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from portfolio_analytics import MaxDrawdown, PerformanceMetrics, performance_metrics
from pydantic import ValidationError

START = date(2024, 1, 2)


def _series(*values: str | int, step_days: int = 1) -> list[tuple[date, Decimal]]:
    return [(START + timedelta(days=i * step_days), Decimal(v)) for i, v in enumerate(values)]


RATIOS = [
    "annual_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "omega_ratio",
]


def test_empty_values_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="values is empty"):
        performance_metrics([])


def test_a_single_value_has_no_return_and_every_ratio_undefined() -> None:
    metrics = performance_metrics(_series("1000.00"))
    assert metrics.periods == 0
    assert metrics.total_return == 0.0
    assert metrics.annual_return is None
    assert metrics.cvar_95 is None
    assert metrics.cvar_95_amount is None
    assert all(getattr(metrics, name) is None for name in RATIOS)
    assert metrics.max_drawdown == MaxDrawdown(depth=0.0)
    assert metrics.cumulative_returns == ((START, 0.0),)
    assert metrics.start_value == metrics.end_value == Decimal("1000.00")


def test_two_values_give_return_and_cagr_but_no_dispersion_ratio() -> None:
    metrics = performance_metrics(_series("100", "101"))
    assert metrics.periods == 1
    assert metrics.total_return == pytest.approx(0.01, rel=1e-12)
    assert metrics.annual_return == pytest.approx(1.01**252 - 1, rel=1e-12)
    assert metrics.cvar_95 == pytest.approx(0.01, rel=1e-12)
    assert metrics.annual_volatility is None
    assert metrics.sharpe_ratio is None
    assert metrics.omega_ratio is None


def test_flat_series_has_zero_volatility_and_no_defined_ratio() -> None:
    metrics = performance_metrics(_series(*["2500.00"] * 30))
    assert metrics.total_return == 0.0
    assert metrics.annual_return == 0.0
    assert metrics.annual_volatility == 0.0
    assert metrics.cvar_95 == 0.0
    assert metrics.cvar_95_amount == Decimal("0.00")
    assert metrics.max_drawdown == MaxDrawdown(depth=0.0)
    for name in ["sharpe_ratio", "sortino_ratio", "calmar_ratio", "omega_ratio"]:
        assert getattr(metrics, name) is None, name


def test_constant_positive_returns_have_no_sharpe_sortino_or_omega_instead_of_infinity() -> None:
    values = [Decimal(100) * Decimal("1.01") ** i for i in range(20)]
    metrics = performance_metrics([(START + timedelta(days=i), v) for i, v in enumerate(values)])
    assert metrics.annual_volatility == 0.0
    assert metrics.sharpe_ratio is None  # mean/0
    assert metrics.sortino_ratio is None  # no downside
    assert metrics.omega_ratio is None  # no loss to divide by
    assert metrics.calmar_ratio is None  # no drawdown
    assert metrics.max_drawdown.depth == 0.0


def test_all_positive_varying_returns_have_sharpe_but_no_omega() -> None:
    metrics = performance_metrics(_series("100", "101", "103", "103.5", "110", "111"))
    assert metrics.sharpe_ratio is not None
    assert metrics.sharpe_ratio > 0
    assert metrics.omega_ratio is None
    assert metrics.sortino_ratio is None


def test_drawdown_peak_trough_and_recovery_dates_on_a_hand_example() -> None:
    metrics = performance_metrics(_series("100", "120", "120", "90", "110", "125", "121"))
    drawdown = metrics.max_drawdown
    assert drawdown.depth == pytest.approx(0.25, rel=1e-12)
    assert drawdown.peak == START + timedelta(days=2)  # the last day at 120 before the fall
    assert drawdown.trough == START + timedelta(days=3)
    assert drawdown.recovery == START + timedelta(days=5)
    assert metrics.calmar_ratio == pytest.approx(metrics.annual_return / 0.25)  # type: ignore[operator]


def test_drawdown_not_recovered_by_the_last_date_has_no_recovery_date() -> None:
    metrics = performance_metrics(_series("100", "80", "90", "99.99"))
    assert metrics.max_drawdown.depth == pytest.approx(0.2)
    assert metrics.max_drawdown.peak == START
    assert metrics.max_drawdown.trough == START + timedelta(days=1)
    assert metrics.max_drawdown.recovery is None


@pytest.mark.parametrize("peak", ["120.10", "1000003.37", "0.07"])
def test_a_drawdown_back_to_the_peak_value_to_the_cent_is_recovered_that_day(peak: str) -> None:
    top = Decimal(peak)
    scale = ["0.5", "0.913", "1", "0.71", "0.99", "1", "0.8"]
    values = [top * Decimal(x) for x in scale]
    metrics = performance_metrics([(START + timedelta(days=i), v) for i, v in enumerate(values)])
    assert metrics.max_drawdown.peak == START + timedelta(days=2)
    assert metrics.max_drawdown.trough == START + timedelta(days=3)
    assert metrics.max_drawdown.recovery == START + timedelta(days=5)


def test_cvar_is_the_mean_of_the_lowest_returns_and_its_amount_is_on_the_last_value() -> None:
    # 21 returns: the tail holds floor(20 * 0.05) + 1 = 2 of them.
    returns = [Decimal("0.01")] * 18 + [Decimal("-0.05"), Decimal("-0.03"), Decimal("-0.02")]
    values = [Decimal(1000)]
    for r in returns:
        values.append(values[-1] * (1 + r))
    metrics = performance_metrics([(START + timedelta(days=i), v) for i, v in enumerate(values)])
    assert metrics.cvar_95 == pytest.approx(-0.04, rel=1e-12)
    assert metrics.cvar_95_amount == (Decimal("-0.04") * values[-1]).quantize(Decimal("0.01"))


def test_gaps_between_dates_are_spanned_by_one_return_not_filled() -> None:
    weekly = performance_metrics(_series("100", "110", "99", step_days=7), periods_per_year=52)
    daily = performance_metrics(_series("100", "110", "99"), periods_per_year=52)
    assert weekly.periods == 2
    assert weekly.model_dump(exclude={"cumulative_returns", "end_date", "max_drawdown"}) == (
        daily.model_dump(exclude={"cumulative_returns", "end_date", "max_drawdown"})
    )
    assert weekly.annual_return == pytest.approx(0.99 ** (52 / 2) - 1, rel=1e-12)
    assert weekly.max_drawdown.trough == START + timedelta(days=14)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [("0", "Decimal('0')"), ("-5.00", "Decimal('-5.00')"), ("NaN", "Decimal('NaN')"),
     ("sNaN", "Decimal('sNaN')"), ("Infinity", "Decimal('Infinity')")],
)  # fmt: skip
def test_a_value_that_is_not_positive_and_finite_is_refused_naming_position_and_value(
    bad: str, shown: str
) -> None:
    values = _series("100", "101", bad, "103")
    message = f"values[2]: value {shown} is not a positive finite number"
    with pytest.raises(ValueError, match=re.escape(message)):
        performance_metrics(values)


@pytest.mark.parametrize("number", [102.5, np.float64(102.5)])
def test_a_float_value_is_refused_because_money_is_decimal(number: float) -> None:
    values: list[tuple[date, Decimal | float]] = [*_series("100", "101")]
    values.append((START + timedelta(days=5), number))
    with pytest.raises(ValueError, match=r"values\[2\]: value .*102.5\)? is a float; money"):
        performance_metrics(values)  # type: ignore[arg-type]


@pytest.mark.parametrize("repeat", [0, 1])
def test_dates_not_strictly_increasing_are_refused_naming_the_date(repeat: int) -> None:
    values = _series("100", "101", "102")
    values[2] = (values[1][0] - timedelta(days=repeat), values[2][1])
    with pytest.raises(ValueError, match=r"values\[2\]: date .* is not after the previous date"):
        performance_metrics(values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"risk_free_rate": float("nan")}, "risk_free_rate nan"),
        ({"risk_free_rate": -1.0}, "risk_free_rate -1.0"),
        ({"periods_per_year": 0}, "periods_per_year 0"),
        ({"periods_per_year": 252.0}, "periods_per_year 252.0"),
    ],
)
def test_bad_rates_are_refused_naming_the_argument(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        performance_metrics(_series("100", "101", "102"), **kwargs)  # type: ignore[arg-type]


def test_a_bad_benchmark_value_is_refused_naming_the_benchmark() -> None:
    benchmark = _series("10", "0", "12")
    with pytest.raises(ValueError, match=r"benchmark\[1\]: value Decimal\('0'\)"):
        performance_metrics(_series("100", "101", "102"), benchmark=benchmark)


def test_benchmark_without_common_dates_has_no_relative_metric() -> None:
    later = [(START + timedelta(days=100 + i), Decimal(10 + i)) for i in range(5)]
    metrics = performance_metrics(_series("100", "101", "99"), benchmark=later)
    assert metrics.benchmark is not None
    assert metrics.benchmark.periods == 0
    assert metrics.benchmark.start_date is None
    assert metrics.benchmark.model_dump(exclude={"periods", "start_date", "end_date"}) == {
        "benchmark_total_return": None,
        "alpha": None,
        "beta": None,
        "tracking_error": None,
        "information_ratio": None,
    }


def test_flat_benchmark_has_no_beta_or_alpha_and_tracking_error_is_the_volatility() -> None:
    values = _series("100", "102", "99", "104", "103")
    metrics = performance_metrics(values, benchmark=_series(*["50"] * 5))
    assert metrics.benchmark is not None
    assert metrics.benchmark.beta is None
    assert metrics.benchmark.alpha is None
    assert metrics.benchmark.benchmark_total_return == 0.0
    assert metrics.benchmark.tracking_error == pytest.approx(metrics.annual_volatility, rel=1e-12)


def test_the_account_as_its_own_benchmark_has_beta_one_and_no_active_risk() -> None:
    values = _series("100", "102", "99", "104", "103", "108")
    metrics = performance_metrics(values, benchmark=values, risk_free_rate=0.05)
    assert metrics.benchmark is not None
    assert metrics.benchmark.beta == pytest.approx(1.0, rel=1e-12)
    assert metrics.benchmark.alpha == pytest.approx(0.0, abs=1e-12)
    assert metrics.benchmark.tracking_error == 0.0
    assert metrics.benchmark.information_ratio is None


def test_result_round_trips_through_json_without_nan_or_infinity() -> None:
    metrics = performance_metrics(
        _series("100", "103", "103", "98.50", "120"), benchmark=_series(*["7"] * 5)
    )
    text = metrics.model_dump_json()
    assert "NaN" not in text
    assert "Infinity" not in text
    assert json.loads(text)["cvar_95_amount"] == str(metrics.cvar_95_amount)
    assert PerformanceMetrics.model_validate_json(text) == metrics


def test_result_model_refuses_nan_so_no_stored_metric_can_hold_one() -> None:
    fields = performance_metrics(_series("100", "103", "101")).model_dump()
    with pytest.raises(ValidationError, match="sharpe_ratio"):
        PerformanceMetrics(**(fields | {"sharpe_ratio": float("nan")}))
