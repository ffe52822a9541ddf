"""What an allocation source returns: one strategy's target allocations."""

from __future__ import annotations

from typing import Annotated

from broker_connector_base import AllocationItem, InstrumentRef
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["StrategyAllocations"]


class StrategyAllocations(BaseModel):
    """A strategy's target allocations as served by the allocations API.

    ``instruments`` pin symbols of ``allocations`` to one security each (an allocation line
    with a ``conid`` or ``isin``, for a ticker the broker finds more than once).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    strategy_long_name: str
    last_rebalance_on: str
    allocations: list[AllocationItem]
    instruments: tuple[InstrumentRef, ...] = ()

    @model_validator(mode="after")
    def _pins_allocated_symbols(self) -> StrategyAllocations:
        allocated = {a.symbol for a in self.allocations}
        stray = sorted({i.symbol for i in self.instruments} - allocated)
        if stray:
            raise ValueError(f"instruments {stray} are not among the allocations")
        return self
