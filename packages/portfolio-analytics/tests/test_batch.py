"""``performance_metrics_batch``: many accounts at once, same numbers, clear errors."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from portfolio_analytics import performance_metrics, performance_metrics_batch

Golden = Any  # conftest.Golden
Factors = Any  # conftest.FactorPrices

DATES = [date(2024, 1, 2) + timedelta(days=i) for i in range(4)]
GRID = np.array([[100.0, 101.0, 99.5, 102.0], [50.0, 49.0, 51.0, 51.5]])


def test_batch_over_the_five_etfs_agrees_with_empyrical_for_every_account(
    factors: Factors, golden: Golden
) -> None:
    symbols = list(factors.closes)
    grid = np.array([factors.floats(symbol) for symbol in symbols])
    bench = factors.floats("USMV")
    batch = performance_metrics_batch(factors.dates, grid, benchmark=bench, risk_free_rate=0.02)
    assert len(batch) == len(symbols)
    for index, symbol in enumerate(symbols):
        metrics = batch.account(index)
        expected = golden.metrics(
            golden.simple_returns(factors.floats(symbol)),
            golden.simple_returns(bench),
            risk_free_rate=0.02,
        )
        name, worst = golden.worst_deviation(metrics, expected)
        assert worst <= golden.tolerance, f"{symbol} {name}"
        assert metrics.max_drawdown == performance_metrics(factors.pairs(symbol)).max_drawdown


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": GRID[:, :3]}, r"values: shape \(2, 3\) does not match \(accounts, 4\)"),
        ({"values": GRID * [[1, 1, 0, 1]]}, r"values\[0, 2\]: 0.0 is not a positive finite"),
        ({"values": GRID * [[1, 1, 1, 1], [1, np.nan, 1, 1]]}, r"values\[1, 1\]: nan is not"),
        ({"cash_flows": np.zeros((1, 4))}, r"cash_flows: shape \(1, 4\) does not match \(2, 4\)"),
        ({"cash_flows": [[0, 0, 0, 0], [0, 0, np.inf, 0]]}, r"cash_flows\[1, 2\]: inf is not"),
        ({"cash_flows": [[0, 0, 0, 102], [0, 0, 0, 0]]}, r"cash_flows\[0, 3\]: flow 102.0 is"),
        ({"benchmark": [1.0, 2.0, 3.0]}, r"benchmark: shape \(3,\) does not match"),
        ({"benchmark": [[1.0, 2, 3, 4]] * 2}, r"benchmark: expected one series"),
        ({"benchmark": [1.0, -2, 3, 4]}, r"benchmark\[0, 1\]: -2.0 is not a positive"),
        ({"dates": [DATES[0], DATES[2], DATES[1], DATES[3]]}, r"dates\[2\]: date 2024-01-03"),
    ],
)
def test_bad_batch_input_is_refused_naming_the_argument_and_position(
    kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"dates": DATES, "values": GRID} | kwargs
    with pytest.raises(ValueError, match=message):
        performance_metrics_batch(arguments.pop("dates"), arguments.pop("values"), **arguments)


def test_batch_flows_in_the_first_column_are_part_of_the_starting_value() -> None:
    flows = np.zeros_like(GRID)
    flows[:, 0] = 40.0
    with_first = performance_metrics_batch(DATES, GRID, cash_flows=flows)
    plain = performance_metrics_batch(DATES, GRID)
    assert [with_first.account(i) for i in range(2)] == [plain.account(i) for i in range(2)]


def test_batch_arrays_are_read_only_and_hold_nan_where_a_metric_is_undefined() -> None:
    flat = np.array([[100.0, 100.0, 100.0, 100.0], [10.0, 11.0, 12.0, 13.0]])
    batch = performance_metrics_batch(DATES, flat)
    assert np.isnan(batch.sharpe_ratio[0])
    assert batch.account(0).sharpe_ratio is None
    assert list(batch.max_drawdown_trough) == [-1, -1]
    with pytest.raises(ValueError, match="read-only"):
        batch.sharpe_ratio[0] = 1.0
