"""Models of the IBKR connector that are not part of the broker-agnostic contract.

``StrategyAllocations`` moved to ``rebalance_engine.models`` and is re-exported here.
"""

from __future__ import annotations

import datetime as dt

from broker_connector_base import ContractPrice
from pydantic import AwareDatetime, BaseModel, ConfigDict
from rebalance_engine.models import StrategyAllocations

__all__ = ["CachedPrice", "StrategyAllocations"]


class CachedPrice(BaseModel):
    """A quote and when it was taken, for TTL checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price: ContractPrice
    cached_at: AwareDatetime

    def age_secs(self, now: dt.datetime) -> float:
        """Seconds since the quote was taken (negative if the clock went backwards)."""
        return (now - self.cached_at).total_seconds()
