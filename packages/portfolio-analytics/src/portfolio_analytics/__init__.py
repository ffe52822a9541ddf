"""Portfolio performance metrics over dated account values (pure: numpy and pydantic, no I/O).

Time-weighted returns keep deposits and withdrawals out of performance; every ratio follows
empyrical-reloaded's definitions (daily simple returns, annualised with ``sqrt(252)``). Ratios
are floats, ``None`` where undefined; money stays ``Decimal``.
"""

from portfolio_analytics.batch import BenchmarkBatch, MetricsBatch, performance_metrics_batch
from portfolio_analytics.metrics import performance_metrics
from portfolio_analytics.models import BenchmarkMetrics, MaxDrawdown, PerformanceMetrics
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
