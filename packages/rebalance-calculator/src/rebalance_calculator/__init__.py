"""Broker-agnostic rebalancing calculation engine: target allocations to whole-share trades."""

from broker_connector_base import AccountConfig, AllocationItem, Trade

from rebalance_calculator.calculator import TradeCalculator
from rebalance_calculator.models import TradeCalculationResult

__version__ = "1.0.0"

__all__ = [
    "AccountConfig",
    "AllocationItem",
    "Trade",
    "TradeCalculationResult",
    "TradeCalculator",
    "__version__",
]
