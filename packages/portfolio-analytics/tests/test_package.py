"""The package's shape: version, exports, and what importing it loads."""

from __future__ import annotations

import subprocess
import sys

import portfolio_analytics
import pytest


def test_version_is_1_0_0_and_all_names_resolve() -> None:
    assert portfolio_analytics.__version__ == "1.0.0"
    for name in portfolio_analytics.__all__:
        assert getattr(portfolio_analytics, name) is not None, name


def test_import_of_the_models_loads_numpy_only_with_the_functions() -> None:
    # The daemon's HTTP API needs the models (its report schema), not the maths: no numpy.
    code = (
        "import sys\n"
        "from portfolio_analytics import MaxDrawdown, PerformanceMetrics, BenchmarkMetrics\n"
        "before = 'numpy' in sys.modules\n"
        "from portfolio_analytics import performance_metrics\n"
        "print(before, 'numpy' in sys.modules, performance_metrics.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "True", "portfolio_analytics.metrics"]


def test_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = portfolio_analytics.NoSuchName
