"""What an allocation source returns: one strategy's target allocations."""

from __future__ import annotations

from typing import Annotated

from broker_connector_base import AllocationItem
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StrategyAllocations"]


class StrategyAllocations(BaseModel):
    """A strategy's target allocations as served by the allocations API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    strategy_long_name: str
    last_rebalance_on: str
    allocations: list[AllocationItem]
