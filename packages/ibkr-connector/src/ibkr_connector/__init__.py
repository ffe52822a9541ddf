"""Interactive Brokers connector: ``BrokerClient`` over ib_async, and ``IBKRRebalancer``.

The rebalancer, the allocation and replacement services and ``StrategyAllocations`` live in
``rebalance_engine``; they are re-exported here under the names (and module paths) callers
have always used.
"""

from ibkr_connector.allocation_service import AllocationService, AllocationServiceError
from ibkr_connector.client import IBKRClient
from ibkr_connector.config import IBKRConnectionConfig
from ibkr_connector.models import CachedPrice, StrategyAllocations
from ibkr_connector.quote_stream import stream_quotes
from ibkr_connector.rebalancer import IBKRRebalancer
from ibkr_connector.replacement_service import Replacement, ReplacementService

__version__ = "1.0.0"

__all__ = [
    "AllocationService",
    "AllocationServiceError",
    "CachedPrice",
    "IBKRClient",
    "IBKRConnectionConfig",
    "IBKRRebalancer",
    "Replacement",
    "ReplacementService",
    "StrategyAllocations",
    "__version__",
    "stream_quotes",
]
