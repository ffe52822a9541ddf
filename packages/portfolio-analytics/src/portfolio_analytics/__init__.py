"""Portfolio performance metrics over dated account values (pure: numpy and pydantic, no I/O).

Time-weighted returns keep deposits and withdrawals out of performance; every ratio follows
empyrical-reloaded's definitions (daily simple returns, annualised with ``sqrt(252)``). Ratios
are floats, ``None`` where undefined; money stays ``Decimal``.

The result models are imported with the package; the functions (and numpy with them) on first
use, so a process that only needs the models (the daemon's HTTP API, for its report schema) is
spared numpy's ~16 MB of idle memory.
"""

import importlib
from typing import TYPE_CHECKING, Any

from portfolio_analytics.models import BenchmarkMetrics, MaxDrawdown, PerformanceMetrics

if TYPE_CHECKING:
    from portfolio_analytics.batch import BenchmarkBatch, MetricsBatch, performance_metrics_batch
    from portfolio_analytics.metrics import performance_metrics
    from portfolio_analytics.series import DatedValues

__version__ = "1.0.0"

__all__ = [
    "BenchmarkBatch",
    "BenchmarkMetrics",
    "DatedValues",
    "MaxDrawdown",
    "MetricsBatch",
    "PerformanceMetrics",
    "__version__",
    "performance_metrics",
    "performance_metrics_batch",
]

_NUMPY_PARTS = {
    "BenchmarkBatch": "batch",
    "MetricsBatch": "batch",
    "performance_metrics_batch": "batch",
    "performance_metrics": "metrics",
    "DatedValues": "series",
}


def __getattr__(name: str) -> Any:
    """The parts that need numpy, imported when first asked for (PEP 562)."""
    module = _NUMPY_PARTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # asked once: later lookups find it directly
    return value
