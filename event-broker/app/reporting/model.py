"""The performance report of one account (``AccountReport``): what the CLI prints, what
``-format json`` writes and what the HTTP API serves.

JSON shape (``AccountReport.model_dump_json()``; ``format_version`` 1): money, prices,
quantities and weights are decimal **strings**; ratios and returns are JSON numbers or
``null`` where undefined; dates are ``YYYY-MM-DD`` (New York days), times ISO-8601 UTC.
A field is only ever added to this shape; a change to an existing one raises
``format_version``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from portfolio_analytics import MaxDrawdown
from pydantic import BaseModel, ConfigDict

__all__ = [
    "AccountReport",
    "BenchmarkComparison",
    "CashFlowEntry",
    "Drift",
    "DriftLine",
    "EquityPoint",
    "ReportMetrics",
    "RunEntry",
]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ReportMetrics(_Value):
    """``portfolio_analytics.PerformanceMetrics`` of the daily values, without the curve
    (``AccountReport.equity_curve`` has it) and the benchmark (``AccountReport.benchmark``).

    Time-weighted: ``total_return`` and every ratio leave the cash flows out.
    """

    start_date: date
    end_date: date
    periods: int
    periods_per_year: int
    risk_free_rate: float
    start_value: Decimal
    end_value: Decimal
    net_cash_flow: Decimal
    total_return: float
    annual_return: float | None
    annual_volatility: float | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    max_drawdown: MaxDrawdown
    calmar_ratio: float | None
    omega_ratio: float | None
    cvar_95: float | None
    cvar_95_amount: Decimal | None


class BenchmarkComparison(_Value):
    """The account against ``symbol`` on the days both have a value (the same snapshots)."""

    symbol: str
    start_date: date | None
    end_date: date | None
    periods: int
    benchmark_total_return: float | None
    alpha: float | None
    beta: float | None
    tracking_error: float | None
    information_ratio: float | None


class DriftLine(_Value):
    """One symbol of the latest snapshot against its target (fractions of the total value).

    ``drift`` is ``weight - target_weight`` (positive: over target); ``target_*`` and
    ``drift`` are ``None`` when the snapshot has no targets.
    """

    symbol: str
    quantity: Decimal
    price: Decimal | None
    value: Decimal
    weight: Decimal
    target_weight: Decimal | None
    target_value: Decimal | None
    drift: Decimal | None


class Drift(_Value):
    """The latest snapshot against its targets: every symbol held or targeted, and cash."""

    taken_at: datetime
    total_value: Decimal
    cash: Decimal
    settled_cash: Decimal
    targets_known: bool
    lines: list[DriftLine]
    cash_weight: Decimal
    cash_target_weight: Decimal | None
    max_abs_drift: Decimal | None


class EquityPoint(_Value):
    """One day of the value series: the day's last snapshot.

    ``growth`` is the time-weighted cumulative return since the first day (flows left out),
    ``drawdown`` the fall of that growth below its running peak (0 at a peak), ``cash_flow``
    the deposits (+) and withdrawals (−) booked on the day.
    """

    date: date
    value: Decimal
    cash_flow: Decimal
    growth: float
    drawdown: float


class CashFlowEntry(_Value):
    """A deposit (+) or withdrawal (−) found between two snapshots, and how it was found:
    ``amount = cash_change - fills_cash + commissions``."""

    date: date
    amount: Decimal
    cash_change: Decimal
    fills_cash: Decimal
    commissions: Decimal
    fills: int


class RunEntry(_Value):
    """A recent run of the account (``trades``: orders placed, or trades proposed)."""

    run_id: str
    mode: str
    status: str | None
    started_at: datetime
    finished_at: datetime | None
    trades: int
    error: str | None


class AccountReport(_Value):
    """The performance report of one account.

    Attributes:
        format_version: The JSON shape's version (see the module docstring).
        account_id: The account.
        generated_at: When the report was made (UTC).
        since: The first New York day included (``None``: from the first snapshot).
        snapshots: Snapshots in the period (all of them, intraday ones included).
        days: Trading days with a snapshot: the value series (each day's last snapshot).
        metrics: Performance of the value series; ``None`` without any snapshot.
        benchmark: The account against ``BENCHMARK_SYMBOL``; ``None`` when fewer than two
            days have both (``notes`` says why).
        drift: The latest snapshot against its targets; ``None`` without any snapshot.
        cash_flows: Deposits and withdrawals in the period, oldest first.
        equity_curve: One point per day of the value series.
        runs: The most recent runs of the account, newest first.
        notes: What was left out and why, in words.
    """

    format_version: Literal[1] = 1
    account_id: str
    generated_at: datetime
    since: date | None
    snapshots: int
    days: int
    metrics: ReportMetrics | None
    benchmark: BenchmarkComparison | None
    drift: Drift | None
    cash_flows: list[CashFlowEntry]
    equity_curve: list[EquityPoint]
    runs: list[RunEntry]
    notes: list[str]
