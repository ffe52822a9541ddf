"""``account_report``: an account's performance, drift and recent runs from the journal.

The value series is each trading day's last snapshot (New York days the NYSE is open;
snapshots of other days still count for the drift and the flows). Returns are time-weighted
with the detected cash flows (``app.snapshots.flows``), so a deposit is never a gain; the
metrics are ``portfolio_analytics.performance_metrics`` of that series at 252 periods a year.
The benchmark is ``BENCHMARK_SYMBOL`` as quoted by the same snapshots: the account and the
benchmark are compared on the days whose last snapshot has a quote, so both prices of a pair
are from one moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Protocol

from broker_connector_base import InvalidInputError
from broker_connector_base.types import to_cents
from portfolio_analytics import PerformanceMetrics

from app.reporting.model import (
    AccountReport,
    BenchmarkComparison,
    CashFlowEntry,
    Drift,
    DriftLine,
    EquityPoint,
    ReportMetrics,
    RunEntry,
)
from app.snapshots.model import BENCHMARK_SYMBOL, PortfolioSnapshot
from app.snapshots.schedule import NyseCalendar, TradingCalendar
from app.store.snapshots import CashFlow, RunSummary, SnapshotValue

__all__ = ["SnapshotJournal", "account_report", "drift_of"]


class SnapshotJournal(Protocol):
    """What the report reads: ``Journal`` (the CLI) or ``JournalReader`` (the HTTP API)."""

    @property
    def path(self) -> Path:
        """The journal file (named in errors)."""
        ...

    def snapshot_values(self, account_id: str, *, since: date | None = None) -> list[SnapshotValue]:
        """Every snapshot of ``account_id`` from New York day ``since`` on, oldest first."""
        ...

    def cash_flows(self, account_id: str, *, since: date | None = None) -> list[CashFlow]:
        """Deposits and withdrawals found for ``account_id``, dated ``since`` or later."""
        ...

    def latest_snapshot(self, account_id: str) -> PortfolioSnapshot | None:
        """The most recent snapshot of ``account_id``, with positions and targets."""
        ...

    def recent_runs(self, account_id: str, *, limit: int = 10) -> list[RunSummary]:
        """The ``limit`` most recent runs of ``account_id``, newest first."""
        ...


_WEIGHT_STEP = Decimal("0.000001")
"""Weights are shown to 0.0001 % (a fraction to six places); money stays exact."""

PERIODS_PER_YEAR = 252


def _weight(value: Decimal, total: Decimal) -> Decimal:
    if total == 0:
        return Decimal(0)
    return (value / total).quantize(_WEIGHT_STEP, rounding=ROUND_HALF_EVEN)


def _daily(values: Sequence[SnapshotValue], calendar: TradingCalendar) -> list[SnapshotValue]:
    """Each trading day's last snapshot, oldest first."""
    last: dict[date, SnapshotValue] = {}
    for value in values:  # oldest first: a later snapshot of the day replaces an earlier one
        if calendar.is_trading_day(value.trading_date):
            last[value.trading_date] = value
    return [last[day] for day in sorted(last)]


def _after_last_empty(daily: list[SnapshotValue], notes: list[str]) -> list[SnapshotValue]:
    """The days after the last one the account was worth nothing (no return from zero)."""
    empty = [i for i, value in enumerate(daily) if value.total_value <= 0]
    if not empty:
        return daily
    cut = empty[-1]
    notes.append(
        f"the account was worth {daily[cut].total_value} on {daily[cut].trading_date}; "
        "performance is measured from the day after"
    )
    return daily[cut + 1 :]


def _benchmark_series(
    daily: Sequence[SnapshotValue], notes: list[str]
) -> list[tuple[date, Decimal]] | None:
    series = [
        (v.trading_date, v.benchmark.price)
        for v in daily
        if v.benchmark is not None and v.benchmark.symbol == BENCHMARK_SYMBOL
    ]
    if len(series) < 2:
        notes.append(
            f"no benchmark: {BENCHMARK_SYMBOL} was quoted on {len(series)} of the {len(daily)} "
            "days with a snapshot; a comparison needs two"
        )
        return None
    return series


def _metrics(
    journal: SnapshotJournal,
    account_id: str,
    daily: Sequence[SnapshotValue],
    flows: Sequence[CashFlow],
    benchmark: list[tuple[date, Decimal]] | None,
    risk_free_rate: float,
) -> PerformanceMetrics:
    # Imported here, with numpy: the daemon imports this module for its HTTP API and keeps
    # numpy's ~16 MB out of its idle memory until a report is asked for.
    from portfolio_analytics import performance_metrics

    try:
        return performance_metrics(
            [(v.trading_date, v.total_value) for v in daily],
            cash_flows=[(f.flow_date, f.amount) for f in flows],
            benchmark=benchmark,
            risk_free_rate=risk_free_rate,
            periods_per_year=PERIODS_PER_YEAR,
        )
    except ValueError as exc:
        raise InvalidInputError(
            f"the snapshots of account {account_id} cannot be measured: {exc}",
            f"journal {journal.path}",
        ) from exc


def _equity_curve(
    daily: Sequence[SnapshotValue], flows: Sequence[CashFlow], metrics: PerformanceMetrics
) -> list[EquityPoint]:
    points = []
    peak = 1.0
    flow_at = 0
    ordered = sorted(flows, key=lambda f: f.flow_date)
    for value, (day, growth) in zip(daily, metrics.cumulative_returns, strict=True):
        # A flow dated between two value days is booked on the next one, as the metrics do.
        booked = Decimal(0)
        while flow_at < len(ordered) and ordered[flow_at].flow_date <= day:
            if day != daily[0].trading_date:
                booked += ordered[flow_at].amount
            flow_at += 1
        index = 1.0 + growth
        peak = max(peak, index)
        points.append(
            EquityPoint(
                date=day,
                value=value.total_value,
                cash_flow=booked,
                growth=growth,
                drawdown=0.0 if index >= peak else 1.0 - index / peak,
            )
        )
    return points


def drift_of(snapshot: PortfolioSnapshot) -> Drift:
    """``snapshot`` against its own targets: every symbol held or targeted, and cash."""
    total = snapshot.total_value
    targets = snapshot.targets
    held = {p.symbol: p for p in snapshot.positions}
    lines = []
    for symbol in sorted(held.keys() | (targets or {}).keys()):
        position = held.get(symbol)
        value = position.value if position is not None else Decimal(0)
        weight = _weight(value, total)
        target = None if targets is None else targets.get(symbol, Decimal(0))
        lines.append(
            DriftLine(
                symbol=symbol,
                quantity=position.quantity if position is not None else Decimal(0),
                price=position.price if position is not None else None,
                value=value,
                weight=weight,
                target_weight=None if target is None else target.quantize(_WEIGHT_STEP),
                target_value=None if target is None else to_cents(target * total),
                drift=None if target is None else weight - target.quantize(_WEIGHT_STEP),
            )
        )
    cash_weight = _weight(snapshot.cash, total)
    cash_target = None
    if targets is not None:
        cash_target = (1 - sum(targets.values(), Decimal(0))).quantize(_WEIGHT_STEP)
    drifts = [abs(line.drift) for line in lines if line.drift is not None]
    if cash_target is not None:
        drifts.append(abs(cash_weight - cash_target))
    return Drift(
        taken_at=snapshot.taken_at,
        total_value=total,
        cash=snapshot.cash,
        settled_cash=snapshot.settled_cash,
        targets_known=targets is not None,
        lines=lines,
        cash_weight=cash_weight,
        cash_target_weight=cash_target,
        max_abs_drift=max(drifts) if drifts else None,
    )


def _comparison(metrics: PerformanceMetrics) -> BenchmarkComparison | None:
    if metrics.benchmark is None:
        return None
    return BenchmarkComparison(symbol=BENCHMARK_SYMBOL, **metrics.benchmark.model_dump())


def account_report(
    journal: SnapshotJournal,
    account_id: str,
    *,
    since: date | None = None,
    runs_limit: int = 10,
    risk_free_rate: float = 0.0,
    calendar: TradingCalendar | None = None,
) -> AccountReport:
    """The performance report of ``account_id`` from the journal's snapshots.

    Args:
        journal: The daemon's journal (``Runtime.journal``, ``Journal(DATA_DIR /
            JOURNAL_FILE)``, or ``Runtime.reader``: read-only, any thread).
        account_id: The account; one without snapshots gets an empty report, not an error.
        since: First New York day of the performance period (``None``: all snapshots). The
            drift is always the latest snapshot's, the runs always the latest runs.
        runs_limit: How many recent runs to list.
        risk_free_rate: Annual rate for Sharpe, Sortino, omega and alpha.
        calendar: Trading days (default: the NYSE's).

    Raises:
        InvalidInputError: The stored snapshots cannot be measured (names the journal and
            what is wrong), or the journal holds an unreadable value.
    """
    notes: list[str] = []
    values = journal.snapshot_values(account_id, since=since)
    daily = _daily(values, calendar or NyseCalendar())
    if len(daily) < len({v.trading_date for v in values}):
        notes.append("snapshots of days the exchange was closed count for drift and flows only")
    daily = _after_last_empty(daily, notes)
    flows = journal.cash_flows(account_id, since=since)
    metrics = None
    benchmark = None
    curve: list[EquityPoint] = []
    if daily:
        series = _benchmark_series(daily, notes)
        measured = _metrics(journal, account_id, daily, flows, series, risk_free_rate)
        fields = measured.model_dump(exclude={"cumulative_returns", "benchmark"})
        # No fall at all comes back as -0.0 from the maths; show it as the 0 it is.
        fields["max_drawdown"]["depth"] = abs(fields["max_drawdown"]["depth"])
        metrics = ReportMetrics.model_validate(fields)
        benchmark = _comparison(measured)
        curve = _equity_curve(daily, flows, measured)
    else:
        notes.append(
            f"no snapshot of account {account_id} on a trading day"
            + (f" since {since.isoformat()}" if since else "")
            + "; take one with -snapshot"
        )
    latest = journal.latest_snapshot(account_id)
    return AccountReport(
        account_id=account_id,
        generated_at=datetime.now(UTC),
        since=since,
        snapshots=len(values),
        days=len(daily),
        metrics=metrics,
        benchmark=benchmark,
        drift=None if latest is None else drift_of(latest),
        cash_flows=[
            CashFlowEntry(
                date=f.flow_date,
                amount=f.amount,
                cash_change=f.cash_change,
                fills_cash=f.fills_cash,
                commissions=f.commissions,
                fills=f.fills,
            )
            for f in flows
        ],
        equity_curve=curve,
        runs=[RunEntry(**vars(run)) for run in journal.recent_runs(account_id, limit=runs_limit)],
        notes=notes,
    )
