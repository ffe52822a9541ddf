"""Broker-agnostic interface, models and exceptions for portfolio rebalancing connectors."""

from broker_connector_base.bars import DailyBar, DailyBarSource
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
    RiskLimitError,
    RunRefusedError,
    TradingHaltedError,
)
from broker_connector_base.execution import ExecutionReport, OrderExecution
from broker_connector_base.instruments import InstrumentRef
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
    PositionDifference,
    RebalanceResult,
    StrategyWeight,
    Trade,
    TradingHoursStatus,
)
from broker_connector_base.order_policy import AccountOrderType, OrderOptions
from broker_connector_base.order_spec import (
    ADAPTIVE_PRIORITIES,
    ORDER_TYPES,
    AdaptivePriority,
    OrderSpec,
    OrderType,
)
from broker_connector_base.plan import (
    DeltaAction,
    PositionDelta,
    RebalancePlan,
    StrategyAttribution,
    TradeDirection,
)
from broker_connector_base.quote_tick import QuoteTick
from broker_connector_base.risk_limits import RiskLimits

__version__ = "1.0.0"

__all__ = [
    "ADAPTIVE_PRIORITIES",
    "ORDER_TYPES",
    "AccountConfig",
    "AccountOrderType",
    "AccountPosition",
    "AccountSnapshot",
    "AdaptivePriority",
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
    "DailyBarSource",
    "DeltaAction",
    "ExecutionReport",
    "InstrumentRef",
    "InvalidInputError",
    "MarketClosedError",
    "OpenOrder",
    "OrderExecution",
    "OrderExecutionError",
    "OrderFill",
    "OrderOptions",
    "OrderRecord",
    "OrderResult",
    "OrderSpec",
    "OrderStatus",
    "OrderType",
    "PositionDelta",
    "PositionDifference",
    "QuoteTick",
    "RateLimitError",
    "RebalancePlan",
    "RebalanceResult",
    "RiskLimitError",
    "RiskLimits",
    "RunRefusedError",
    "StrategyAttribution",
    "StrategyWeight",
    "Trade",
    "TradeDirection",
    "TradingHaltedError",
    "TradingHoursStatus",
    "__version__",
]
