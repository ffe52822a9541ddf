"""Daily price bars: what a connector's history request returns (outside ``BrokerClient``).

Historical bars are not part of the trading contract (a rebalance never needs them); a
connector that can serve them offers its own method (``IBKRClient.get_daily_bars``) and returns
this model, so backtests and reports never see a broker library's objects.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from broker_connector_base.types import Price, Symbol

__all__ = ["DailyBar", "DailyBarSource"]


class DailyBar(BaseModel):
    """One regular-session day of one symbol: open, high, low, close (``Decimal``), volume.

    Prices are positive and consistent: ``low <= open, close <= high``. ``volume`` is ``None``
    when the source has none (e.g. midpoint bars).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: Symbol
    date: date
    open: Price = Field(gt=0)
    high: Price = Field(gt=0)
    low: Price = Field(gt=0)
    close: Price = Field(gt=0)
    volume: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> DailyBar:
        if not self.low <= min(self.open, self.close) <= max(self.open, self.close) <= self.high:
            raise ValueError(
                f"bar {self.symbol} {self.date}: low {self.low} <= open {self.open}, close "
                f"{self.close} <= high {self.high} does not hold"
            )
        return self


class DailyBarSource(Protocol):
    """A connection that serves daily bars (``IBKRClient`` is one): what a backtest that reads
    its prices from a broker needs, and nothing of the trading contract."""

    async def connect(self) -> bool:
        """Connect (bounded; raises ``BrokerConnectionError`` when it cannot)."""
        ...

    async def disconnect(self) -> None:
        """Disconnect; safe when not connected."""
        ...

    async def get_daily_bars(self, symbol: str, start: date, end: date) -> list[DailyBar]:
        """The bars of ``symbol`` from ``start`` to ``end``, both included, by date."""
        ...
