"""Plans of a run: snapshot, quotes and today's buys asked for at once, then the calculator's
trades; and the plan that starts a run, together with the liquid-hours check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence, Set

from broker_connector_base import (
    AccountConfig,
    AccountSnapshot,
    AllocationItem,
    BrokerClient,
    ContractPrice,
    Trade,
    TradingHoursStatus,
)
from rebalance_calculator import TradeCalculationResult, TradeCalculator

from rebalance_engine._plan import Goal as _Goal
from rebalance_engine._plan import Plan as _Plan
from rebalance_engine.quotes import utc_now

__all__ = ["Planner", "settle"]


class Planner:
    """Makes the plans of a ``Rebalancer`` through ``broker`` with ``calculator``."""

    def __init__(self, broker: BrokerClient, calculator: TradeCalculator) -> None:
        self.broker = broker
        self.calculator = calculator
        self._last: tuple[tuple[object, ...], TradeCalculationResult] | None = None

    def _calculate(
        self,
        config: AccountConfig,
        goal: _Goal,
        snapshot: AccountSnapshot,
        prices: list[ContractPrice],
        no_sell: frozenset[str],
    ) -> TradeCalculationResult:
        """The calculator's answer, or its last one when every input equals the last call's.

        The calculator is a pure function, and a run that follows a preview of the same
        moment asks it the same question again (a backtest's run after its daily check: the
        same snapshot, quotes and day). Equal inputs are compared, identical ones at once.
        """
        key = (snapshot, tuple(prices), tuple(goal.weights), goal.reserve_percent, config, no_sell)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        result = self.calculator.calculate_trades(
            account_snapshot=snapshot,
            target_allocations=goal.weights,
            market_prices=prices,
            account_config=config.model_copy(update={"cash_reserve_percent": goal.reserve_percent}),
            no_sell_symbols=no_sell,
        )
        self._last = (key, result)
        return result

    async def plan(
        self,
        config: AccountConfig,
        goal: _Goal,
        *,
        use_cache: bool,
        no_sell: Set[str] | None = None,
    ) -> _Plan:
        """Snapshot, quotes and the calculator's trades.

        Shares bought earlier this trading day are never planned for sale: that would be a day
        trade, or a good-faith violation in a cash account. ``no_sell`` names them; ``None``
        asks the broker. The preview applies the same rule, so a preview right after a run
        shows what a second run would really do.
        """
        # The snapshot, the targets' quotes and today's buys are independent: ask for all at
        # once, then for the quotes of held symbols that are not targets (cached when the
        # snapshot just fetched them and ``use_cache`` allows).
        wanted = sorted({t.symbol for t in goal.weights})
        snapshot_result, quotes_result, bought_result = await asyncio.gather(
            self.broker.get_account_snapshot(config.account_id, use_cached_prices=use_cache),
            self._quotes(wanted, use_cache=use_cache),
            self._bought_today(config.account_id, no_sell),
            return_exceptions=True,
        )
        for outcome in (snapshot_result, quotes_result, bought_result):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(snapshot_result, AccountSnapshot)
        assert isinstance(quotes_result, list)
        assert isinstance(bought_result, frozenset)
        quoted = utc_now()
        snapshot = snapshot_result
        extra = sorted({p.symbol for p in snapshot.positions} - set(wanted))
        prices = [*quotes_result, *await self._quotes(extra, use_cache=use_cache)]
        result = self._calculate(config, goal, snapshot, prices, bought_result)
        # Every trade says which strategies it is for (the journal records it per order).
        trades = [
            t.model_copy(update={"attribution": goal.targets.attribution_of(t.symbol)})
            for t in result.trades
        ]
        return _Plan(snapshot, prices, trades, list(result.warnings), bought_result, quoted)

    async def _bought_today(self, account_id: str, known: Set[str] | None) -> frozenset[str]:
        if known is not None:
            return frozenset(known)
        return await self.broker.get_symbols_bought_today(account_id)

    async def _quotes(self, symbols: list[str], *, use_cache: bool) -> list[ContractPrice]:
        if not symbols:
            return []
        return await self.broker.get_multiple_market_prices(symbols, use_cache=use_cache)

    async def plan_and_hours(
        self, config: AccountConfig, goal: _Goal
    ) -> tuple[_Plan, TradingHoursStatus]:
        """A fresh plan and the liquid-hours status of every symbol it involves.

        Both are asked for at once (each request saved counts against the broker's message
        rate); the plan is only acted on once the hours check (and the cancels) passed.
        """
        target_symbols = sorted({t.symbol for t in goal.weights})
        plan, hours = await asyncio.gather(
            self.plan(config, goal, use_cache=False),
            self.broker.get_trading_hours_status(target_symbols),
            return_exceptions=True,
        )
        for outcome in (plan, hours):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(plan, _Plan)
        assert isinstance(hours, TradingHoursStatus)
        held_only = sorted(set(_symbols(goal.weights, plan.snapshot)) - set(target_symbols))
        if hours.is_open and held_only:
            hours = await self.broker.get_trading_hours_status(held_only)
        return plan, hours


async def settle(
    broker: BrokerClient,
    account: str,
    trades: Sequence[Trade],
    timeout_secs: float,
    logger: logging.Logger,
) -> None:
    """Wait (bounded) until the broker's positions show the fills of ``trades``.

    Brokers report fills before they update positions and balances (IB does); planning the
    buys on a snapshot from between the two would count shares that are already sold.
    """
    expected = {t.symbol: t.current_shares + (t.filled_quantity or 0) for t in trades}
    held = await broker.wait_for_positions(account, expected, timeout_secs=timeout_secs)
    if held != expected:
        logger.warning(
            "Positions of %s do not show the fills yet after %.0f s: %s",
            account,
            timeout_secs,
            {s: str(q) for s, q in held.items()},
        )


def _symbols(targets: Sequence[AllocationItem], snapshot: AccountSnapshot) -> list[str]:
    return sorted({t.symbol for t in targets} | {p.symbol for p in snapshot.positions})
