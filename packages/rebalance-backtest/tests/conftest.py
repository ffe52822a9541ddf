"""Shared fixtures and paths of the backtest tests."""

from __future__ import annotations

from pathlib import Path

import pytest

FACTORS = (
    Path(__file__).parents[2] / "portfolio-analytics" / "tests" / "data" / "factors_dataset.csv.gz"
)
"""skfolio's daily closes of MTUM, QUAL, SIZE, USMV, VLUE 2014-2022 (BSD-3), reused in place."""


@pytest.fixture
def factors_file() -> Path:
    """The real ETF closes (wide CSV, gzip)."""
    return FACTORS
