"""Broker-agnostic rebalancing calculation engine: target allocations to whole-share trades."""

from broker_connector_base import AccountConfig, AllocationItem, Trade

from rebalance_calculator.calculator import TradeCalculator
from rebalance_calculator.commissions import (
    BROKER_DEFAULT_SCHEDULES,
    COMMISSION_SCHEDULES,
    CommissionModel,
    commission_model,
    default_commission_schedule,
    resolve_commission_schedule,
)
from rebalance_calculator.models import TradeCalculationResult

__version__ = "1.0.0"

__all__ = [
    "BROKER_DEFAULT_SCHEDULES",
    "COMMISSION_SCHEDULES",
    "AccountConfig",
    "AllocationItem",
    "CommissionModel",
    "Trade",
    "TradeCalculationResult",
    "TradeCalculator",
    "__version__",
    "commission_model",
    "default_commission_schedule",
    "resolve_commission_schedule",
]
