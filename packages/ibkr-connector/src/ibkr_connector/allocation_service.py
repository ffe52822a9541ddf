"""Re-export: the allocation service moved to ``rebalance_engine.allocation_service``."""

from rebalance_engine.allocation_service import (
    SUM_TOLERANCE,
    AllocationService,
    AllocationServiceError,
    parse_allocations,
)

__all__ = ["SUM_TOLERANCE", "AllocationService", "AllocationServiceError", "parse_allocations"]
