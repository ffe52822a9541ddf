"""Backtests through the engine that trades: a ``BacktestBroker`` over daily bars."""

__version__ = "1.0.0"

__all__ = ["__version__"]
