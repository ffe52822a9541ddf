"""Broker-agnostic interface, models and exceptions for portfolio rebalancing connectors."""

from broker_connector_base.bars import DailyBar
from broker_connector_base.base_client import BrokerClient
from broker_connector_base.base_rebalancer import BaseRebalancer
from broker_connector_base.exceptions import (
    AuthenticationError,
    BrokerAPIError,
    BrokerConnectionError,
    BrokerError,
    InvalidInputError,
    MarketClosedError,
    OrderExecutionError,
    RateLimitError,
)
from broker_connector_base.models import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    BrokerConnectionConfig,
    CalculateRebalanceResult,
    CommissionScheduleName,
    ContractPrice,
    OpenOrder,
    OrderFill,
    OrderRecord,
    OrderResult,
    OrderStatus,
    OrderType,
    RebalanceResult,
    StrategyWeight,
    Trade,
    TradingHoursStatus,
)
from broker_connector_base.plan import (
    DeltaAction,
    PositionDelta,
    RebalancePlan,
    StrategyAttribution,
    TradeDirection,
)

__version__ = "1.0.0"

__all__ = [
    "AccountConfig",
    "AccountPosition",
    "AccountSnapshot",
    "AllocationItem",
    "AuthenticationError",
    "BaseRebalancer",
    "BrokerAPIError",
    "BrokerClient",
    "BrokerConnectionConfig",
    "BrokerConnectionError",
    "BrokerError",
    "CalculateRebalanceResult",
    "CommissionScheduleName",
    "ContractPrice",
    "DailyBar",
    "DeltaAction",
    "InvalidInputError",
    "MarketClosedError",
    "OpenOrder",
    "OrderExecutionError",
    "OrderFill",
    "OrderRecord",
    "OrderResult",
    "OrderStatus",
    "OrderType",
    "PositionDelta",
    "RateLimitError",
    "RebalancePlan",
    "RebalanceResult",
    "StrategyAttribution",
    "StrategyWeight",
    "Trade",
    "TradeDirection",
    "TradingHoursStatus",
    "__version__",
]
