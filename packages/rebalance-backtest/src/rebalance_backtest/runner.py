"""Replaying an allocation history through the engine that trades.

``run_backtest`` walks the sessions of the price history. In each session the backtest
broker's clock stands at the run's moment (the close, or the open), and the daemon's own
``rebalance_engine.Rebalancer`` (with the calculator) runs against it:

* on the session a new document takes effect (its date, or with ``fill_at="next_open"`` the
  first session after it), ``rebalance_account`` runs, as a signal would make the daemon run;
* on the other sessions, with ``check="daily"``, the engine previews (``proposed_trades``: the
  trades ``calculate_rebalance`` would propose, without its report) and executes only when the
  preview proposes trades. A run's first plan is that same preview (the same snapshot, quotes
  and no-sell list at the same simulated moment, so the engine's planner answers it from the
  preview's calculation), so a run after an empty preview would place nothing: the preview is
  the run's own decision, paid once.

Then the session closes: working orders expire and the account is valued at the closes. The
broker fills within the simulated session and nothing waits on the wall clock, so a run is
pure: the same inputs give the same result (no shared state, no time, no I/O), which is what
lets sweeps run in parallel processes or on a distributed engine.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date

from broker_connector_base import AccountConfig, InvalidInputError
from portfolio_analytics import performance_metrics
from rebalance_calculator.commissions import resolve_commission_schedule
from rebalance_engine import Rebalancer, ReplacementService

from rebalance_backtest.broker import BacktestBroker
from rebalance_backtest.costs import Costs, commission_estimator
from rebalance_backtest.history import AllocationHistory, HistorySource
from rebalance_backtest.prices import PriceHistory
from rebalance_backtest.results import (
    BacktestResult,
    BacktestSettings,
    BacktestTrade,
    EquityPoint,
    PositionsOn,
)

__all__ = ["run_backtest", "run_backtest_async"]

logger = logging.getLogger(__name__)


@dataclass
class _Record:
    equity: list[EquityPoint] = field(default_factory=list)
    positions: list[PositionsOn] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    runs: int = 0
    checks: int = 0


def run_backtest(
    settings: BacktestSettings,
    prices: PriceHistory,
    history: AllocationHistory,
    *,
    replacements: ReplacementService | None = None,
) -> BacktestResult:
    """Run one backtest in a new event loop (see ``run_backtest_async``)."""
    done: list[BacktestResult] = []

    async def main() -> None:
        done.append(await run_backtest_async(settings, prices, history, replacements=replacements))

    # The result is handed over beside the task, not as its result: when asyncio.run puts
    # the SIGINT handler back it formats the handler, whose repr holds the finished task's
    # result, and the repr of a whole backtest (every equity point) costs a quarter second.
    asyncio.run(main())
    return done[0]


async def run_backtest_async(
    settings: BacktestSettings,
    prices: PriceHistory,
    history: AllocationHistory,
    *,
    replacements: ReplacementService | None = None,
) -> BacktestResult:
    """Replay ``history`` through the engine on ``prices`` (see the module docstring).

    Raises:
        InvalidInputError: Inputs that cannot give a backtest: no session in the period, a
            symbol the documents (or replacements) target without prices, settings the
            engine refuses. The message names the file or setting.
    """
    account = _account(settings)
    _check_order_type(account, settings)
    sessions = _sessions(settings, prices, history)
    _check_symbols(history, prices, account, replacements)
    broker = BacktestBroker(
        prices,
        cash=settings.initial_cash,
        account_id=account.account_id,
        costs=Costs(
            half_spread_bps=settings.half_spread_bps,
            commission=commission_estimator(account),
        ),
        fill_at=settings.fill_at,
    )
    await broker.connect()
    source = HistorySource(history)
    # Fills happen inside place_order: no wait may last, and none needs to.
    rebalancer = Rebalancer(
        broker,
        logger,
        allocation_source=source,
        replacement_service=replacements,
        fill_timeout_secs=0.0,
        cancel_timeout_secs=0.0,
        settle_timeout_secs=0.0,
    )
    record = _Record()
    held: dict[str, int] = {}
    for day in sessions:
        broker.open_session(day)
        document = history.latest(day, inclusive=settings.fill_at == "close")
        if document is not None:
            new = document is not source.current
            source.current = document
            rebalancer.run_id = f"bt-{day:%Y%m%d}"
            await _session(rebalancer, account, settings, new, day, record)
        broker.close_session()
        record.equity.append(
            EquityPoint(day=day, equity=broker.equity_at_close(), cash=broker.book.cash)
        )
        if broker.book.positions != held:
            held = dict(broker.book.positions)
            record.positions.append(PositionsOn(day=day, shares=held))
    return _result(settings, broker, record)


async def _session(
    rebalancer: Rebalancer,
    account: AccountConfig,
    settings: BacktestSettings,
    new_document: bool,
    day: date,
    record: _Record,
) -> None:
    if not new_document:
        if settings.check == "signals":
            return
        proposed = await rebalancer.proposed_trades(account)
        record.checks += 1
        if not proposed:
            return
    result = await rebalancer.rebalance_account(account)
    record.runs += 1
    record.warnings.extend(f"{day}: {w}" for w in result.warnings)
    if not result.success:
        record.warnings.append(f"{day}: run failed: {result.error}")


def _result(settings: BacktestSettings, broker: BacktestBroker, record: _Record) -> BacktestResult:
    trades = tuple(
        BacktestTrade(
            day=f.day, symbol=f.symbol, quantity=f.quantity, price=f.price, commission=f.commission
        )
        for f in broker.fills
    )
    metrics = performance_metrics([(p.day, p.equity) for p in record.equity])
    return BacktestResult(
        settings=settings,
        equity=tuple(record.equity),
        trades=trades,
        positions=tuple(record.positions),
        metrics=metrics,
        runs=record.runs,
        checks=record.checks,
        warnings=tuple(record.warnings),
    )


def _account(settings: BacktestSettings) -> AccountConfig:
    """The account following ``settings.strategy`` alone, every other setting as given, and
    the commission schedule named: ``settings.commission_schedule``, else the account's, else
    its broker's default. The calculator plans with it and the broker charges it.

    Raises:
        InvalidInputError: No schedule is named and the account's broker has no default.
    """
    fields = settings.account.model_dump(exclude={"strategies", "strategy_name"})
    schedule = resolve_commission_schedule(settings.account, settings.commission_schedule)
    return AccountConfig.model_validate(
        {**fields, "strategy_name": settings.strategy, "commission_schedule": schedule}
    )


def _check_order_type(account: AccountConfig, settings: BacktestSettings) -> None:
    """Refuse, before any session, an order type the backtest cannot replay."""
    declared = BacktestBroker.supported_order_types
    if account.broker_order_type not in declared:
        names = ", ".join(sorted(t.lower() for t in declared))
        raise InvalidInputError(
            f"order_type {account.order_type!r}: the backtest broker replays {names} orders "
            "only (a midpoint peg or a broker's algo needs a live market)",
            source="backtest settings",
        )
    if account.order_type == "moc" and settings.fill_at == "close":
        raise InvalidInputError(
            "order_type 'moc' with fill_at 'close': the runs trade a minute before the close, "
            "after the market-on-close cut-off; use fill_at next_open (orders placed at the "
            "open fill in that day's closing auction)",
            source="backtest settings",
        )


def _sessions(
    settings: BacktestSettings, prices: PriceHistory, history: AllocationHistory
) -> list[date]:
    start = settings.start or history.days[0]
    end = settings.end or prices.dates[-1]
    days = [d for d in prices.dates if start <= d <= end]
    if not days:
        raise InvalidInputError(
            f"no session with prices between {start} and {end} (prices cover "
            f"{prices.dates[0]} to {prices.dates[-1]})",
            prices.source,
        )
    return days


def _check_symbols(
    history: AllocationHistory,
    prices: PriceHistory,
    account: AccountConfig,
    replacements: ReplacementService | None,
) -> None:
    """Every symbol a document can make the engine trade has prices, named with its file."""
    missing: dict[str, list[str]] = {}
    for symbol, dated in history.targets(account.replacement_set, replacements).items():
        if symbol not in prices.closes:
            missing.setdefault(dated.source, []).append(symbol)
    if missing:
        source, symbols = next(iter(missing.items()))
        day = next(d.day for d in history.documents if d.source == source)
        raise InvalidInputError(
            f"symbols {', '.join(sorted(symbols))} (in effect from {day}) have no prices in "
            f"{prices.source}",
            source,
        )
