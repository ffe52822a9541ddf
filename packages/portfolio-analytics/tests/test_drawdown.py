"""The blocked drawdown search (large batches) gives exactly the full one's results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from portfolio_analytics.drawdown import BLOCK, Drawdowns, _blocked, _full, max_drawdowns

Floats = NDArray[np.float64]


def _assert_same(a: Drawdowns, b: Drawdowns) -> None:
    for name in ["depth", "peak", "trough", "recovery"]:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def _growth(values: Floats) -> Floats:
    growth: Floats = values / values[:, :1]
    return growth


@st.composite
def batches(draw: st.DrawFn) -> Floats:
    """Market-like values to the cent (exact repeats, flat stretches), some rows shaped."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m = draw(st.integers(4, 12))
    width = draw(st.integers(8 * BLOCK, 1500))
    drift = draw(st.floats(-0.003, 0.003))
    volatility = draw(st.floats(0.0005, 0.04))
    returns = rng.normal(drift, volatility, (m, width - 1))
    returns[rng.random(returns.shape) < draw(st.floats(0.0, 0.6))] = 0.0
    values = np.round(100.0 * np.cumprod(np.hstack([np.ones((m, 1)), 1 + returns]), axis=1), 2)
    values = np.maximum(values, 0.01)
    shape = draw(st.sampled_from(["plain", "rising", "double-bottom", "flat-top"]))
    if shape == "rising":
        values[0] = np.round(100.0 * 1.001 ** np.arange(width), 2)
    elif shape == "double-bottom":
        low = int(values[1].argmin())
        later = min(width - 1, low + draw(st.integers(1, 3 * BLOCK)))
        values[1, later] = values[1, low]  # the same trough again, maybe in a later block
    elif shape == "flat-top":
        high = int(values[2].argmax())
        values[2, high : high + 2 * BLOCK] = values[2, high]  # a peak held across blocks
    return values


@settings(max_examples=150, deadline=None)
@given(values=batches())
def test_blocked_search_equals_the_full_one(values: Floats) -> None:
    growth = _growth(values)
    blocked = _blocked(growth)
    assume(blocked is not None)
    assert blocked is not None
    _assert_same(blocked, _full(growth))


def _shaped(rows: list[list[float]]) -> Floats:
    return _growth(np.array(rows))


def _rows_with(row: list[float], width: int) -> list[list[float]]:
    """``row`` three times (enough rows for the blocked search), then a rising row (computed
    by the full search inside the blocked one)."""
    return [row, row, row, [100.0 * 1.0001**i for i in range(width)]]


@pytest.mark.parametrize(
    ("description", "row", "peak", "trough", "recovery"),
    [
        (
            "peak held over two blocks, trough three blocks later, recovered in the last block",
            [100.0] * 10 + [120.0] * 140 + [110.0] * 200 + [90.0] + [100.0] * 300 + [120.0] * 9,
            149,
            350,
            651,
        ),
        (
            "two equal troughs in different blocks: the first counts; never recovered",
            [100.0] * 70 + [80.0] + [95.0] * 200 + [80.0] + [90.0] * 400,
            69,
            70,
            -1,
        ),
        (
            "deepest fall in the last, partial block",
            [100.0] * 600 + [70.0, 75.0, 72.0],
            599,
            600,
            -1,
        ),
    ],
)
def test_blocked_search_on_shapes_that_cross_blocks(
    description: str, row: list[float], peak: int, trough: int, recovery: int
) -> None:
    growth = _shaped(_rows_with(row, len(row)))
    result = max_drawdowns(growth)
    blocked = _blocked(growth)
    assert blocked is not None, description
    _assert_same(blocked, _full(growth))
    assert (int(result.peak[0]), int(result.trough[0]), int(result.recovery[0])) == (
        peak,
        trough,
        recovery,
    )
    assert int(result.trough[3]) == -1  # the rising row
