"""Result model of the calculator (the trade model itself lives in ``broker_connector_base``)."""

from __future__ import annotations

from broker_connector_base import CommissionScheduleName, Trade
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TradeCalculationResult"]


class TradeCalculationResult(BaseModel):
    """The trades that move an account towards its targets, and what the operator should know.

    ``trades`` lists every sell (sorted by symbol) before every buy (sorted by symbol).
    ``warnings`` are human-readable sentences naming the symbol and the value concerned.
    ``commission_schedule`` is the schedule the trades' ``estimated_commission`` comes from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    trades: list[Trade]
    warnings: list[str] = Field(default_factory=list)
    commission_schedule: CommissionScheduleName | None = None
