"""``IBKRRebalancer``: preview and execute a rebalance of one account through a ``BrokerClient``.

Execution order matters for a cash account: sells first, wait for their fills, then read the
cash that is really there and recompute the buys from the new snapshot. A failed sell stops the
buys; a partial fill is reported as such; every order carries the run id (IB ``orderRef``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable

from broker_connector_base import (
    AccountConfig,
    AccountSnapshot,
    AllocationItem,
    BaseRebalancer,
    BrokerClient,
    BrokerConnectionError,
    BrokerError,
    CalculateRebalanceResult,
    ContractPrice,
    InvalidInputError,
    OrderExecutionError,
    OrderStatus,
    RebalanceResult,
    Trade,
    TradingHoursStatus,
)
from rebalance_calculator import TradeCalculationResult, TradeCalculator

from ibkr_connector.allocation_service import AllocationService
from ibkr_connector.planning import calculator_targets
from ibkr_connector.replacement_service import ReplacementService

__all__ = ["IBKRRebalancer"]


@runtime_checkable
class PositionWaiter(Protocol):
    """A broker client that can wait for pushed position updates (``IBKRClient`` can)."""

    async def wait_for_positions(
        self, account_id: str, expected: Mapping[str, Decimal], *, timeout_secs: float
    ) -> dict[str, Decimal]:
        """Wait until the positions show ``expected``; return what was last seen."""
        ...


@dataclass
class _Run:
    """What one execution has done so far (for the result, whatever happens)."""

    orders: list[Trade] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    snapshot: AccountSnapshot | None = None


@dataclass(frozen=True)
class _Plan:
    snapshot: AccountSnapshot
    prices: list[ContractPrice]
    result: TradeCalculationResult


class IBKRRebalancer(BaseRebalancer):
    """Rebalances accounts through ``broker_client``.

    Args:
        broker_client: A connected client.
        logger: Logger for this rebalancer's messages.
        allocation_service: Where target allocations come from.
        replacement_service: Replacement sets, for accounts with ``replacement_set``.
        run_id: Tag stored with every order (IB ``orderRef``); a fresh id when ``None``.
        on_order: Called with the ``Trade`` right after each order is acknowledged, and again
            with its fill when the wait for it ends (the daemon journals orders through it).
        fill_timeout_secs: How long each phase (sells, buys) may wait for fills; orders still
            working then are cancelled and reported.
        cancel_timeout_secs: How long cancelling the account's open orders may take.
        settle_timeout_secs: How long to wait after the sells for the broker's positions to
            show them before the buys are recomputed.
        top_up_rounds: How many extra buy rounds may spend the cash that buys planned at
            ``ask * 1.005`` leave when they fill at the ask (0 turns them off).
    """

    def __init__(
        self,
        broker_client: BrokerClient,
        logger: logging.Logger | None = None,
        *,
        allocation_service: AllocationService,
        replacement_service: ReplacementService | None = None,
        run_id: str | None = None,
        on_order: Callable[[Trade], None] | None = None,
        fill_timeout_secs: float = 120.0,
        cancel_timeout_secs: float = 30.0,
        settle_timeout_secs: float = 10.0,
        top_up_rounds: int = 2,
    ) -> None:
        super().__init__(broker_client, logger or logging.getLogger(__name__))
        self.allocation_service = allocation_service
        self.replacement_service = replacement_service
        self.run_id = run_id or f"rb-{uuid.uuid4().hex[:16]}"
        self.on_order = on_order
        self.fill_timeout_secs = fill_timeout_secs
        self.cancel_timeout_secs = cancel_timeout_secs
        self.settle_timeout_secs = settle_timeout_secs
        self.top_up_rounds = top_up_rounds
        self.calculator = TradeCalculator()

    # ------------------------------------------------------------------------------------
    # planning
    # ------------------------------------------------------------------------------------

    async def _targets(self, config: AccountConfig) -> tuple[list[AllocationItem], Decimal]:
        strategy = await self.allocation_service.get_allocations(config.strategy_name)
        items: Sequence[AllocationItem] = strategy.allocations
        if config.replacement_set is not None:
            if self.replacement_service is None:
                raise InvalidInputError(
                    f"account {config.account_id} uses replacement set "
                    f"{config.replacement_set!r} but no replacement sets are loaded"
                )
            items = self.replacement_service.apply(items, config.replacement_set)
        return calculator_targets(items, config.cash_reserve_percent)

    async def _plan(
        self,
        config: AccountConfig,
        targets: list[AllocationItem],
        reserve_percent: Decimal,
        *,
        use_cache: bool,
    ) -> _Plan:
        # The snapshot and the targets' quotes are independent: ask for both at once, then for
        # the quotes of held symbols that are not targets (cached when the snapshot just
        # fetched them and ``use_cache`` allows).
        wanted = sorted({t.symbol for t in targets})
        snapshot_result, quotes_result = await asyncio.gather(
            self.broker.get_account_snapshot(config.account_id, use_cached_prices=use_cache),
            self._quotes(wanted, use_cache=use_cache),
            return_exceptions=True,
        )
        for outcome in (snapshot_result, quotes_result):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(snapshot_result, AccountSnapshot)
        assert isinstance(quotes_result, list)
        snapshot = snapshot_result
        extra = sorted({p.symbol for p in snapshot.positions} - set(wanted))
        prices = [*quotes_result, *await self._quotes(extra, use_cache=use_cache)]
        result = self.calculator.calculate_trades(
            account_snapshot=snapshot,
            target_allocations=targets,
            market_prices=prices,
            account_config=config.model_copy(update={"cash_reserve_percent": reserve_percent}),
        )
        return _Plan(snapshot, prices, result)

    async def _quotes(self, symbols: list[str], *, use_cache: bool) -> list[ContractPrice]:
        if not symbols:
            return []
        return await self.broker.get_multiple_market_prices(symbols, use_cache=use_cache)

    def _price_warnings(self) -> list[str]:
        """Warnings the IBKR client collected about quote fallbacks (drained)."""
        collected = getattr(self.broker, "price_warnings", None)
        if not isinstance(collected, list):
            return []
        out = [str(w) for w in collected]
        collected.clear()
        return out

    async def calculate_rebalance(self, account_config: AccountConfig) -> CalculateRebalanceResult:
        """Preview the trades a rebalance would place now (fresh cached quotes allowed).

        Raises:
            InvalidInputError: Bad allocations, replacement set or account.
            BrokerError: The broker or the allocations API failed.
        """
        self._price_warnings()
        targets, reserve = await self._targets(account_config)
        plan = await self._plan(account_config, targets, reserve, use_cache=True)
        trades = plan.result.trades
        self.logger.info(
            "Preview for %s (%s): %d trades, account value %s",
            account_config.account_id,
            account_config.strategy_name,
            len(trades),
            plan.snapshot.total_value,
        )
        return CalculateRebalanceResult(
            proposed_trades=trades,
            current_value=plan.snapshot.total_value,
            cash_balance=plan.snapshot.cash_balance,
            success=True,
            warnings=[*plan.result.warnings, *self._price_warnings()],
        )

    # ------------------------------------------------------------------------------------
    # execution
    # ------------------------------------------------------------------------------------

    async def rebalance_account(self, account_config: AccountConfig) -> RebalanceResult:
        """Execute: hours check, cancel open orders, sell, wait, recompute buys, buy, wait.

        Never raises for a broker or input failure: the result has ``success=False``, the
        error, and every order placed before it.
        """
        run = _Run()
        self._price_warnings()
        try:
            error = await self._execute(account_config, run)
        except (BrokerError, InvalidInputError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            self.logger.error(
                "Rebalance of %s (run %s) failed: %s", account_config.account_id, self.run_id, error
            )
        final = run.snapshot
        if self.broker.is_connected():
            try:
                # For the report only: quotes this run just took (cached) value it well enough.
                final = await self.broker.get_account_snapshot(
                    account_config.account_id, use_cached_prices=True
                )
            except (BrokerError, InvalidInputError) as exc:
                run.warnings.append(f"final account snapshot unavailable: {exc}")
        return RebalanceResult(
            orders=run.orders,
            total_value=final.total_value if final else Decimal(0),
            cash_balance=final.cash_balance if final else None,
            success=error is None,
            error=error,
            warnings=[*run.warnings, *self._price_warnings()],
        )

    async def _execute(self, config: AccountConfig, run: _Run) -> str | None:
        account = config.account_id
        targets, reserve = await self._targets(config)
        plan, hours = await self._plan_and_hours(config, targets, reserve)
        run.snapshot = plan.snapshot
        if not hours.is_open:
            opens = hours.next_open.isoformat() if hours.next_open else "unknown"
            return (
                f"market closed for {', '.join(hours.closed_symbols)} at "
                f"{hours.checked_at.isoformat()}; next open {opens}. Nothing was placed."
            )
        cancelled = await self.broker.cancel_all_orders(
            account, timeout_secs=self.cancel_timeout_secs
        )
        if cancelled:
            run.warnings.append(f"cancelled open orders {cancelled} before rebalancing")
            # Some of them may have filled before the cancel: plan again from what is held.
            plan = await self._plan(config, targets, reserve, use_cache=False)
            run.snapshot = plan.snapshot
        run.warnings.extend(plan.result.warnings)
        sells = [t for t in plan.result.trades if t.quantity < 0]
        buys = [t for t in plan.result.trades if t.quantity > 0]
        self.logger.info(
            "Rebalancing %s (run %s): %d sells, %d buys planned",
            account,
            self.run_id,
            len(sells),
            len(buys),
        )
        if sells:
            done = await self._place_and_wait(account, sells, run)
            failed = _incomplete(done)
            if failed:
                return f"sells not completed: {failed}; no buys were placed"
            # Re-read the cash the sells really freed and recompute the buys from it.
            await self._settle(account, done)
            plan = await self._plan(config, targets, reserve, use_cache=False)
            run.snapshot = plan.snapshot
            buys = [t for t in plan.result.trades if t.quantity > 0]
            late_sells = [t.symbol for t in plan.result.trades if t.quantity < 0]
            if late_sells:
                # The new plan's buys may count on sells that will not be placed in this run:
                # keep only the buys the cash already there pays for.
                run.warnings.append(f"after the sells, {late_sells} would sell again; not placed")
                buys = _affordable(buys, plan.snapshot, reserve, run)
        if buys:
            done = await self._place_and_wait(account, buys, run)
            failed = _incomplete(done)
            if failed:
                return f"buys not completed: {failed}"
            return await self._top_up(config, targets, reserve, done, run)
        return None

    async def _top_up(
        self,
        config: AccountConfig,
        targets: list[AllocationItem],
        reserve: Decimal,
        bought: Sequence[Trade],
        run: _Run,
    ) -> str | None:
        """Spend the cash the buffered buy prices left unspent, so the run ends on target.

        Buys are planned at ``ask * 1.005`` (room for the price to move before a market order
        fills) and usually fill near the ask, leaving about 0.5% of their value in cash. Without
        this round the next run would find the account under target and buy again. Only a plan
        made of buys is placed here; anything that would sell waits for the next signal.
        """
        for _ in range(self.top_up_rounds):
            await self._settle(config.account_id, bought)
            plan = await self._plan(config, targets, reserve, use_cache=False)
            run.snapshot = plan.snapshot
            trades = plan.result.trades
            if not trades or any(t.quantity < 0 for t in trades):
                return None
            self.logger.info(
                "Top-up of %s (run %s): %d buys with the cash the fills left",
                config.account_id,
                self.run_id,
                len(trades),
            )
            bought = await self._place_and_wait(config.account_id, trades, run)
            failed = _incomplete(bought)
            if failed:
                return f"top-up buys not completed: {failed}"
        return None

    async def _plan_and_hours(
        self, config: AccountConfig, targets: list[AllocationItem], reserve: Decimal
    ) -> tuple[_Plan, TradingHoursStatus]:
        """A fresh plan and the liquid-hours status of every symbol it involves.

        Both are asked for at once (each request saved counts against IB's message rate);
        the plan is only acted on once the hours check (and the cancels) passed.
        """
        target_symbols = sorted({t.symbol for t in targets})
        plan, hours = await asyncio.gather(
            self._plan(config, targets, reserve, use_cache=False),
            self.broker.get_trading_hours_status(target_symbols),
            return_exceptions=True,
        )
        for outcome in (plan, hours):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(plan, _Plan)
        assert isinstance(hours, TradingHoursStatus)
        held_only = sorted(set(_symbols(targets, plan.snapshot)) - set(target_symbols))
        if hours.is_open and held_only:
            hours = await self.broker.get_trading_hours_status(held_only)
        return plan, hours

    async def _place_and_wait(
        self, account: str, trades: Sequence[Trade], run: _Run
    ) -> list[Trade]:
        """Place ``trades``, then wait for all of them within ``fill_timeout_secs``."""
        first = len(run.orders)
        waiting: list[int] = []
        for trade in trades:
            try:
                result = await self.broker.place_order(
                    account, trade.symbol, trade.quantity, order_ref=self.run_id
                )
            except BrokerConnectionError:
                # The order may or may not have reached the gateway: record it as unknown.
                run.orders.append(trade.model_copy(update={"status": OrderStatus.ERROR}))
                raise
            except OrderExecutionError as exc:
                run.warnings.append(f"{trade.action} {abs(trade.quantity)} {trade.symbol}: {exc}")
                status = await self._status_after_error(exc)
                failed = trade.model_copy(update={"order_id": exc.order_id, "status": status})
                if not status.is_final and status is not OrderStatus.ERROR:
                    # Not acknowledged in time, yet working at the broker: wait for it too.
                    waiting.append(len(run.orders))
                run.orders.append(failed)
                self._notify(failed, run)
                continue
            acked = trade.model_copy(update={"order_id": result.order_id, "status": result.status})
            waiting.append(len(run.orders))
            run.orders.append(acked)
            self._notify(acked, run)
        deadline = time.monotonic() + self.fill_timeout_secs
        for index in waiting:
            run.orders[index] = await self._wait(run.orders[index], deadline, run)
        return run.orders[first:]

    async def _status_after_error(self, exc: OrderExecutionError) -> OrderStatus:
        """What became of an order whose placement raised: rejected, or working after all."""
        if exc.order_id is None:
            return OrderStatus.REJECTED
        status = await self.broker.get_order_status(exc.order_id)
        return OrderStatus.REJECTED if status is OrderStatus.NOT_FOUND else status

    async def _settle(self, account: str, sells: Sequence[Trade]) -> None:
        """Wait (bounded) until the broker's positions show the filled sells.

        IB reports fills before it updates positions and balances; planning the buys on a
        snapshot from between the two would count shares that are already sold.
        """
        expected = {t.symbol: t.current_shares + (t.filled_quantity or 0) for t in sells}
        if isinstance(self.broker, PositionWaiter):
            held = await self.broker.wait_for_positions(
                account, expected, timeout_secs=self.settle_timeout_secs
            )
            if held != expected:
                self.logger.warning(
                    "Positions of %s do not show the sells yet after %.0f s: %s",
                    account,
                    self.settle_timeout_secs,
                    {s: str(q) for s, q in held.items()},
                )
            return
        deadline = time.monotonic() + self.settle_timeout_secs
        delay = 0.05
        while True:
            snapshot = await self.broker.get_account_snapshot(account, use_cached_prices=True)
            held = {p.symbol: p.quantity for p in snapshot.positions}
            if all(held.get(s, Decimal(0)) == q for s, q in expected.items()):
                return
            if time.monotonic() >= deadline:
                self.logger.warning(
                    "Positions of %s do not show the sells yet after %.0f s: %s",
                    account,
                    self.settle_timeout_secs,
                    {s: str(held.get(s, 0)) for s in expected},
                )
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _wait(self, trade: Trade, deadline: float, run: _Run) -> Trade:
        assert trade.order_id is not None
        fill = await self.broker.wait_for_order(
            trade.order_id, timeout_secs=max(0.0, deadline - time.monotonic())
        )
        if not fill.status.is_final:
            # Never leave a market order resting: cancel what did not fill in time.
            run.warnings.append(
                f"order {trade.order_id} {trade.symbol} not filled within "
                f"{self.fill_timeout_secs} s ({fill.status}); cancelling the rest"
            )
            try:
                await self.broker.cancel_order(trade.order_id)
                fill = await self.broker.wait_for_order(
                    trade.order_id, timeout_secs=self.cancel_timeout_secs
                )
            except OrderExecutionError as exc:
                run.warnings.append(f"cancelling order {trade.order_id}: {exc}")
        done = trade.model_copy(
            update={
                "status": fill.status,
                "filled_quantity": fill.filled_quantity,
                "avg_fill_price": fill.avg_fill_price,
            }
        )
        self._notify(done, run)
        return done

    def _notify(self, trade: Trade, run: _Run) -> None:
        if self.on_order is None:
            return
        try:
            self.on_order(trade)
        except Exception as exc:  # the journal must not abort orders already at the broker
            self.logger.exception("on_order callback failed for order %s", trade.order_id)
            run.warnings.append(f"order journal callback failed for {trade.order_id}: {exc}")


def _symbols(targets: Sequence[AllocationItem], snapshot: AccountSnapshot) -> list[str]:
    return sorted({t.symbol for t in targets} | {p.symbol for p in snapshot.positions})


def _affordable(
    buys: Sequence[Trade], snapshot: AccountSnapshot, reserve_percent: Decimal, run: _Run
) -> list[Trade]:
    """The leading buys whose planned cost fits in the cash above the reserve."""
    budget = snapshot.cash_balance - snapshot.total_value * reserve_percent / 100
    kept: list[Trade] = []
    for trade in buys:
        if trade.notional > budget:
            run.warnings.append(
                f"buy of {trade.quantity} {trade.symbol} skipped: it needs {trade.notional}, "
                f"{max(budget, Decimal(0))} cash above the reserve is left"
            )
            continue
        budget -= trade.notional
        kept.append(trade)
    return kept


def _incomplete(trades: Sequence[Trade]) -> list[str]:
    """Descriptions of trades that did not fill completely (partial fills included)."""
    out = []
    for t in trades:
        if t.status is OrderStatus.FILLED and t.filled_quantity == t.quantity:
            continue
        filled = abs(t.filled_quantity or 0)
        out.append(
            f"{t.action} {abs(t.quantity)} {t.symbol} (order {t.order_id}): {t.status}, "
            f"{filled} of {abs(t.quantity)} filled"
        )
    return out
