"""A portfolio snapshot: what an account held, and was meant to hold, at one moment.

Taken by the worker process (``app.snapshots.take``), carried back in the run's result
(``AccountExecutionResult.snapshot``) and stored by the journal (``app.store.snapshots``).
Money is exact (``Decimal``); ``targets`` are the weights the strategy asked for then, as
fractions of the account's total value (the cash reserve already taken off), so the drift of a
stored snapshot can be read later without asking the allocations API again.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from broker_connector_base import AccountSnapshot
from broker_connector_base.types import Money, Price, Symbol, to_decimal, trading_day
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["BENCHMARK_SYMBOL", "BenchmarkQuote", "PortfolioSnapshot", "SnapshotPosition"]

BENCHMARK_SYMBOL = "SPY"
"""Quoted with every snapshot, so the report can compare the account with it on the same dates."""


class SnapshotPosition(BaseModel):
    """One holding: shares (possibly fractional, as the broker reports them), price, value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: Symbol
    quantity: Decimal = Field(allow_inf_nan=False)
    price: Price
    value: Money

    @field_validator("quantity", mode="before")
    @classmethod
    def _exact(cls, value: object) -> object:
        return to_decimal(value)


class BenchmarkQuote(BaseModel):
    """The benchmark's price when the snapshot was taken."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: Symbol
    price: Price = Field(gt=0)


class PortfolioSnapshot(BaseModel):
    """An account's balances, positions and targets at ``taken_at``.

    Attributes:
        account_id: The account.
        taken_at: When the broker was read (aware; stored in UTC).
        total_value: Net liquidation value.
        cash: Total cash, settled or not (what fills move).
        settled_cash: Cash settled today.
        positions: Holdings, sorted by symbol.
        targets: Target weight per symbol, as a fraction of ``total_value`` (reserve taken
            off); ``None`` when the targets could not be read.
        benchmark: ``BENCHMARK_SYMBOL``'s price then; ``None`` when it could not be quoted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str = Field(min_length=1)
    taken_at: AwareDatetime
    total_value: Money
    cash: Money
    settled_cash: Money
    positions: tuple[SnapshotPosition, ...] = ()
    targets: dict[Symbol, Decimal] | None = None
    benchmark: BenchmarkQuote | None = None

    @field_validator("targets", mode="before")
    @classmethod
    def _exact_targets(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: to_decimal(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PortfolioSnapshot:
        symbols = [p.symbol for p in self.positions]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"a position appears more than once in {symbols}")
        for symbol, weight in (self.targets or {}).items():
            if not Decimal(0) <= weight <= 1:
                raise ValueError(f"target weight of {symbol} is {weight}, not within 0..1")
        return self

    @property
    def trading_date(self) -> date:
        """The New York calendar day the snapshot belongs to."""
        return trading_day(self.taken_at)

    @classmethod
    def of(
        cls,
        snapshot: AccountSnapshot,
        *,
        taken_at: AwareDatetime,
        targets: dict[str, Decimal] | None,
        benchmark: BenchmarkQuote | None,
    ) -> PortfolioSnapshot:
        """The portfolio snapshot of a broker's ``AccountSnapshot``; zero positions are left out."""
        positions = sorted(
            (
                SnapshotPosition(
                    symbol=p.symbol, quantity=p.quantity, price=p.market_price, value=p.market_value
                )
                for p in snapshot.positions
                if p.quantity != 0
            ),
            key=lambda p: p.symbol,
        )
        return cls(
            account_id=snapshot.account_id,
            taken_at=taken_at,
            total_value=snapshot.total_value,
            cash=snapshot.cash_balance,
            settled_cash=snapshot.settled_cash,
            positions=tuple(positions),
            targets=targets,
            benchmark=benchmark,
        )
