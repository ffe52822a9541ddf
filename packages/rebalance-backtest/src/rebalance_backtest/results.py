"""What a backtest produces: its settings, the equity curve, every trade, positions over time,
the engine's warnings, and the performance metrics (``portfolio_analytics``)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from broker_connector_base import AccountConfig, CommissionScheduleName, InvalidInputError
from broker_connector_base.types import Money, NonNegativeMoney, Price, Shares, Symbol
from portfolio_analytics import PerformanceMetrics
from pydantic import BaseModel, ConfigDict, Field
from rebalance_calculator.commissions import resolve_commission_schedule

from rebalance_backtest.broker import FillAt

__all__ = [
    "BacktestResult",
    "BacktestSettings",
    "BacktestTrade",
    "EquityPoint",
    "PositionsOn",
    "backtest_name",
    "is_backtest_name",
]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BacktestSettings(_Value):
    """Everything a backtest's outcome depends on, besides the prices and the allocations.

    Attributes:
        strategy: The strategy whose allocation history is replayed.
        account: The account's settings (cash reserve, drift band, minimum trade, replacement
            set, commission schedule); it follows ``strategy`` alone.
        start, end: First and last session (``None``: the first document's date, the last
            price).
        initial_cash: Cash at the start; nothing is held.
        fill_at: Runs trade at each session's ``close``, or at its open (``next_open``): a
            document dated D is then traded at the first open after D.
        check: ``daily``: every session the engine checks the account (its preview) and
            trades when it proposes trades; ``signals``: the engine runs on the days a new
            document takes effect only.
        half_spread_bps: Half the bid/ask spread, in basis points of the price.
        commission_schedule: The schedule the calculator plans with and the broker charges
            on every fill (``None``: the account's, else its broker's default; ``"zero"`` for
            none): ``charged_schedule``.
    """

    strategy: Annotated[str, Field(min_length=1)]
    account: AccountConfig
    start: date | None = None
    end: date | None = None
    initial_cash: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] = Decimal(100_000)
    fill_at: FillAt = "close"
    check: Literal["daily", "signals"] = "daily"
    half_spread_bps: Annotated[Decimal, Field(ge=0, lt=10_000, allow_inf_nan=False)] = Decimal(0)
    commission_schedule: CommissionScheduleName | None = None

    @property
    def charged_schedule(self) -> CommissionScheduleName:
        """The schedule the run plans with and charges (``commission_schedule``, else the
        account's, else its broker's default).

        Raises:
            InvalidInputError: None is named and the account's broker has no default.
        """
        return resolve_commission_schedule(self.account, self.commission_schedule)


class EquityPoint(_Value):
    """The account at a session's close: cash plus every position at its close."""

    day: date
    equity: Money
    cash: NonNegativeMoney


class BacktestTrade(_Value):
    """One fill: ``quantity`` signed (negative sold) at ``price``, with its commission."""

    day: date
    symbol: Symbol
    quantity: Shares
    price: Price
    commission: NonNegativeMoney


class PositionsOn(_Value):
    """The shares held after the close of ``day`` (recorded on days they changed)."""

    day: date
    shares: dict[str, int]


class BacktestResult(_Value):
    """A finished backtest.

    ``runs`` counts the sessions on which the engine executed a rebalance, ``checks`` those on
    which it only previewed (daily checks that found nothing to do). ``warnings`` are the
    engine's warnings and failed runs, each prefixed with its day.
    """

    settings: BacktestSettings
    equity: tuple[EquityPoint, ...]
    trades: tuple[BacktestTrade, ...]
    positions: tuple[PositionsOn, ...]
    metrics: PerformanceMetrics
    runs: int
    checks: int
    warnings: tuple[str, ...] = ()

    @property
    def final_equity(self) -> Decimal:
        """The equity at the last close."""
        return self.equity[-1].equity

    @property
    def commissions(self) -> Decimal:
        """Every commission paid."""
        return sum((t.commission for t in self.trades), Decimal(0))


_SLUG = re.compile(r"[^a-z0-9]+")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+_\d{8}_[a-z0-9_]+$")


def backtest_name(strategy: str, day: date, description: str) -> str:
    """``{strategy}_{YYYYMMDD}_{description}`` (seed 004), the description slugged.

    The description is lower-cased and every run of other characters than letters and digits
    becomes one ``_`` ("EMA crossover, 5%" -> ``ema_crossover_5``).

    Raises:
        InvalidInputError: The description has no letter or digit.
    """
    slug = _SLUG.sub("_", description.lower()).strip("_")
    if not slug:
        raise InvalidInputError(
            f"description {description!r} needs a letter or a digit", source="-description"
        )
    return f"{strategy}_{day:%Y%m%d}_{slug}"


def is_backtest_name(name: str) -> bool:
    """Whether ``name`` has the ``{strategy}_{YYYYMMDD}_{description}`` shape."""
    return _NAME.match(name) is not None
