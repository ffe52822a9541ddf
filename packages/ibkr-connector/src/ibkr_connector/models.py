"""Models of the IBKR connector that are not part of the broker-agnostic contract."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from broker_connector_base import AllocationItem, ContractPrice
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["CachedPrice", "StrategyAllocations"]


class CachedPrice(BaseModel):
    """A quote and when it was taken, for TTL checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price: ContractPrice
    cached_at: AwareDatetime

    def age_secs(self, now: dt.datetime) -> float:
        """Seconds since the quote was taken (negative if the clock went backwards)."""
        return (now - self.cached_at).total_seconds()


class StrategyAllocations(BaseModel):
    """A strategy's target allocations as served by the allocations API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    strategy_long_name: str
    last_rebalance_on: str
    allocations: list[AllocationItem]
