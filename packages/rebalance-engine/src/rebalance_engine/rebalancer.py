"""``Rebalancer``: preview and execute a rebalance of one account through any ``BrokerClient``.

It uses the broker only through the ``BrokerClient`` contract (including
``wait_for_positions`` and ``take_warnings``), so every connector, the in-memory fake and a
backtest broker get the same behaviour; ``rebalance_engine.conformance`` checks it per broker.

Execution order matters for a cash account: sells first, wait for their fills, then read the
cash that is really there and recompute the buys from the new snapshot. A failed sell stops the
buys; a partial fill is reported as such; every order carries the run id (``order_ref``).

Fills never match a plan to the cent, so a run goes on in rounds, each planned from what the
last one left, until a plan has nothing to do (at most ``1 + extra_rounds``). Shares bought
earlier the same trading day are never sold, in a run or in a preview (a day trade; in a cash
account a good-faith violation). Together these make a run end where the next run, or a
preview, finds nothing to do.

An account's targets are those of all its strategies, fetched at once and blended by weight,
then replaced (``targets.fetch_targets``). Every trade, and every line of the plan the results
carry, names the strategies it is for (``StrategyAttribution``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence, Set
from decimal import Decimal

from broker_connector_base import (
    AccountConfig,
    AccountSnapshot,
    BaseRebalancer,
    BrokerClient,
    BrokerError,
    CalculateRebalanceResult,
    InvalidInputError,
    PositionDifference,
    RebalanceResult,
    RiskLimitError,
    RunRefusedError,
    Trade,
)
from rebalance_calculator import TradeCalculator

from rebalance_engine._execution import OrderRunner, RunRecord
from rebalance_engine._fills import affordable, incomplete
from rebalance_engine._moc import moc_refusal, on_close
from rebalance_engine._plan import Goal as _Goal
from rebalance_engine._plan import Plan as _Plan
from rebalance_engine._planner import Planner, settle
from rebalance_engine._report import execution_report
from rebalance_engine._styles import OrderStyle
from rebalance_engine.halt import HaltSwitch
from rebalance_engine.planning import LastTargets
from rebalance_engine.quotes import ArrivalQuotes
from rebalance_engine.reconciliation import PositionReconciler
from rebalance_engine.replacement_service import ReplacementService
from rebalance_engine.risk import check_plan, usage
from rebalance_engine.sources import AllocationSource
from rebalance_engine.targets import fetch_targets

__all__ = ["Rebalancer"]


class Rebalancer(BaseRebalancer):
    """Rebalances accounts through ``broker_client``.

    Args:
        broker_client: A connected client.
        logger: Logger for this rebalancer's messages.
        allocation_source: Where the strategies' target allocations come from (the HTTP or
            ``file://`` ``AllocationService``, or any ``AllocationSource``).
        replacement_service: Replacement sets, for accounts with ``replacement_set``.
        run_id: Tag stored with every order (``order_ref``); a fresh id when ``None``.
        on_order: Called with each ``Trade`` just before its order is sent (no order id: the
            intent; if it raises, the order is not sent and the run fails), right after the
            order is acknowledged, and again with its fill when the wait for it ends (the
            daemon journals orders through it).
        fill_timeout_secs: How long each phase (sells, buys) may wait for fills; orders still
            working then are cancelled and reported.
        cancel_timeout_secs: How long cancelling the account's open orders may take.
        settle_timeout_secs: How long to wait after the sells for the broker's positions to
            show them before the buys are recomputed.
        extra_rounds: How many further sell-then-buy rounds may follow the first one, each
            planned from what the previous fills left, until a plan has nothing to do (0
            turns them off). Buys are planned at ``ask * 1.005`` and fill near the ask, so the
            first round usually leaves some cash; without further rounds the next run would
            find the account off target and trade again.
        orders_today: Orders placed in the account earlier this trading day, for the
            ``max_orders_per_day`` risk limit (the daemon counts them in its journal).
        halt: The kill switch, asked before every order (``None``: never halted).
        arrival_quotes: Where the quotes orders meet when sent come from (the execution
            report's arrival prices, limit prices); default the broker's (or the plan's own
            when just taken).

    Orders are sent as the account's ``order_type`` says (``OrderStyle``); ``moc`` runs one
    market-on-close round instead of sell-wait-buy rounds (``_moc``).
    """

    def __init__(
        self,
        broker_client: BrokerClient,
        logger: logging.Logger | None = None,
        *,
        allocation_source: AllocationSource,
        replacement_service: ReplacementService | None = None,
        run_id: str | None = None,
        on_order: Callable[[Trade], None] | None = None,
        fill_timeout_secs: float = 120.0,
        cancel_timeout_secs: float = 30.0,
        settle_timeout_secs: float = 10.0,
        extra_rounds: int = 2,
        orders_today: int = 0,
        halt: HaltSwitch | None = None,
        arrival_quotes: ArrivalQuotes | None = None,
    ) -> None:
        super().__init__(broker_client, logger or logging.getLogger(__name__))
        self.allocation_source = allocation_source
        self.replacement_service = replacement_service
        self.run_id = run_id or f"rb-{uuid.uuid4().hex[:16]}"
        self.on_order = on_order
        self.fill_timeout_secs = fill_timeout_secs
        self.cancel_timeout_secs = cancel_timeout_secs
        self.settle_timeout_secs = settle_timeout_secs
        self.extra_rounds = extra_rounds
        self.orders_today = orders_today
        self.halt = halt
        self.arrival_quotes = arrival_quotes
        self.calculator = TradeCalculator()
        self.planner = Planner(self.broker, self.calculator)
        self.reconciler = PositionReconciler()
        self._calculator_targets = LastTargets()

    # ------------------------------------------------------------------------------------
    # planning
    # ------------------------------------------------------------------------------------

    async def _goal(self, config: AccountConfig) -> _Goal:
        targets = await fetch_targets(config, self.allocation_source, self.replacement_service)
        pins = targets.instruments()
        if pins:
            # Before any quote: a ticker the broker lists twice is looked up by its pin.
            await self.broker.resolve_instruments(pins)
        weights, reserve = self._calculator_targets(
            targets.allocations, config.cash_reserve_percent
        )
        return _Goal(targets, weights, reserve)

    async def _plan(
        self,
        config: AccountConfig,
        goal: _Goal,
        *,
        use_cache: bool,
        no_sell: Set[str] | None = None,
    ) -> _Plan:
        return await self.planner.plan(config, goal, use_cache=use_cache, no_sell=no_sell)

    def _runner(self, config: AccountConfig) -> OrderRunner:
        return OrderRunner(
            broker=self.broker,
            logger=self.logger,
            run_id=self.run_id,
            on_order=self.on_order,
            fill_timeout_secs=self.fill_timeout_secs,
            cancel_timeout_secs=self.cancel_timeout_secs,
            halt=self.halt,
            style=OrderStyle.of(config),
            arrival=self.arrival_quotes,
        )

    def _check(
        self,
        config: AccountConfig,
        plan: _Plan,
        goal: _Goal,
        trades: Sequence[Trade],
        run: RunRecord | None,
    ) -> None:
        """Refuse (``RiskLimitError``) ``trades`` of ``plan`` if they break a risk limit."""
        check_plan(
            plan.lines(goal),
            trades,
            account_id=config.account_id,
            total_value=plan.snapshot.total_value,
            limits=config.risk_limits,
            used=usage(self.orders_today, run.orders if run is not None else ()),
        )

    async def calculate_rebalance(self, account_config: AccountConfig) -> CalculateRebalanceResult:
        """Preview the trades a rebalance would place now (fresh cached quotes allowed).

        Raises:
            InvalidInputError: Bad allocations, replacement set or account.
            BrokerError: The broker or the allocations API failed.
        """
        self.broker.take_warnings()  # only this preview's warnings go into its result
        goal = await self._goal(account_config)
        plan = await self._plan(account_config, goal, use_cache=True)
        self.logger.info(
            "Preview for %s (%s): %d trades, account value %s",
            account_config.account_id,
            account_config.strategy_name,
            len(plan.trades),
            plan.snapshot.total_value,
        )
        refusal = None
        try:
            # The preview shows the refusal the execution would meet, with the trades refused.
            self._check(account_config, plan, goal, plan.trades, None)
        except RiskLimitError as exc:
            refusal = str(exc)
        return CalculateRebalanceResult(
            proposed_trades=plan.trades,
            current_value=plan.snapshot.total_value,
            cash_balance=plan.snapshot.cash_balance,
            success=refusal is None,
            warnings=[*plan.warnings, *self.broker.take_warnings()],
            plan=plan.lines(goal),
            refusal=refusal,
        )

    async def proposed_trades(self, account_config: AccountConfig) -> list[Trade]:
        """The trades ``calculate_rebalance`` would propose now (the same plan), without its
        plan lines, risk check or report: for a caller that only asks whether a rebalance
        would trade (a backtest's daily check), at a fraction of the cost.

        Raises:
            InvalidInputError: Bad allocations, replacement set or account.
            BrokerError: The broker or the allocations API failed.
        """
        goal = await self._goal(account_config)
        return (await self._plan(account_config, goal, use_cache=True)).trades

    # ------------------------------------------------------------------------------------
    # execution
    # ------------------------------------------------------------------------------------

    async def rebalance_account(self, account_config: AccountConfig) -> RebalanceResult:
        """Execute: hours check, cancel open orders, sell, wait, recompute buys, buy, wait.

        Never raises for a broker or input failure: the result has ``success=False``, the
        error, and every order placed before it.
        """
        run = RunRecord()
        self.broker.take_warnings()  # only this run's warnings go into its result
        refusal = None
        try:
            error = await self._execute(account_config, run)
        except (BrokerError, InvalidInputError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except RunRefusedError as exc:  # a risk limit or the kill switch: nothing more placed
            error = refusal = str(exc)
        if error:
            self.logger.error(
                "Rebalance of %s (run %s) %s: %s",
                account_config.account_id,
                self.run_id,
                "refused" if refusal else "failed",
                error,
            )
        final = run.snapshot
        differences: list[PositionDifference] = []
        if self.broker.is_connected():
            try:
                final, differences = await self._final_state(account_config.account_id, run)
            except (BrokerError, InvalidInputError) as exc:
                run.warnings.append(f"final account snapshot unavailable: {exc}")
        if differences:
            self.logger.warning(
                "Positions of %s after run %s differ from the shares before plus the fills: %s",
                account_config.account_id,
                self.run_id,
                "; ".join(d.describe() for d in differences),
            )
        return RebalanceResult(
            orders=run.orders,
            total_value=final.total_value if final else Decimal(0),
            cash_balance=final.cash_balance if final else None,
            success=error is None,
            error=error,
            warnings=[*run.warnings, *self.broker.take_warnings()],
            plan=run.plan,
            final_snapshot=final,
            position_differences=differences,
            refusal=refusal,
            execution=execution_report(run, final),
        )

    async def _final_state(
        self, account: str, run: RunRecord
    ) -> tuple[AccountSnapshot, list[PositionDifference]]:
        """The account as the run left it, and the post-trade position check.

        Expected: the shares when the run planned plus its fills. The wait lets the broker's
        positions catch up with the fills first (IB reports fills before positions). The
        snapshot of the plan that ended the run serves instead of a new one when no order
        followed it and it shows what is expected.
        """
        filled = [t for t in run.orders if t.filled_quantity]
        expected: dict[str, Decimal] = {}
        if run.plan and filled:
            before = {line.symbol: line.current_qty for line in run.plan}
            expected = self.reconciler.expected_after(before, filled)
        settled = _settled_snapshot(run)
        if settled is not None:
            held = {p.symbol: p.quantity for p in settled.positions}
            if not expected or not self.reconciler.differences(expected, held):
                # The last plan read the account after the last fills settled and nothing was
                # placed since: reading it again would only cost requests (IB's rate).
                return settled, []
        if expected:
            await self.broker.wait_for_positions(
                account, expected, timeout_secs=self.settle_timeout_secs
            )
        # For the report only: quotes this run just took (cached) value it well enough.
        final = await self.broker.get_account_snapshot(account, use_cached_prices=True)
        if not expected:
            return final, []
        held = {p.symbol: p.quantity for p in final.positions}
        return final, self.reconciler.differences(expected, held)

    async def _execute(self, config: AccountConfig, run: RunRecord) -> str | None:
        # The daemon refuses such an account when it loads its configuration; callers that
        # build a config themselves (a backtest, a script) meet it here, before any request.
        self.broker.check_order_type(config.broker_order_type)
        goal = await self._goal(config)
        run.goal = goal
        plan, hours = await self.planner.plan_and_hours(config, goal)
        run.snapshot = plan.snapshot
        if not hours.is_open:
            opens = hours.next_open.isoformat() if hours.next_open else "unknown"
            return (
                f"market closed for {', '.join(hours.closed_symbols)} at "
                f"{hours.checked_at.isoformat()}; next open {opens}. Nothing was placed."
            )
        if config.order_type == "moc" and (late := moc_refusal(hours)) is not None:
            return late
        cancelled = await self.broker.cancel_all_orders(
            config.account_id, timeout_secs=self.cancel_timeout_secs
        )
        if cancelled:
            run.warnings.append(f"cancelled open orders {cancelled} before rebalancing")
            # Some of them may have filled before the cancel: plan again from what is held.
            plan = await self._plan(config, goal, use_cache=False)
            run.snapshot = plan.snapshot
        run.warnings.extend(plan.warnings)
        run.plan = plan.lines(goal)
        # Asked once: later in the run only this run's own buys can add to it (each request
        # saved counts against the broker's message rate).
        run.no_sell.update(plan.no_sell)
        if config.order_type == "moc":
            self._check(config, plan, goal, plan.trades, run)
            return await on_close(self._runner(config), config.account_id, plan, goal, run)
        return await self._rounds(config, goal, plan, run)

    async def _rounds(
        self, config: AccountConfig, goal: _Goal, plan: _Plan, run: RunRecord
    ) -> str | None:
        """Sell-then-buy rounds from ``plan`` on, until a plan has nothing to do."""
        for round_number in range(1 + self.extra_rounds):
            if round_number:
                # Fills rarely match the plan to the cent (buys are planned at a buffered
                # price, market orders fill where they fill), so the account usually ends a
                # little off the plan's point. Plan again from what is there and go on until
                # a plan has nothing to do, so that the next run (or preview) finds the
                # account on target instead of trading again.
                plan = await self._plan(config, goal, use_cache=False, no_sell=run.no_sell)
                run.snapshot = plan.snapshot
            if not plan.trades:
                run.settled = (plan.snapshot, len(run.orders))
                return None
            if round_number:
                self.logger.info(
                    "Rebalancing %s (run %s), round %d: %d trades with what the fills left",
                    config.account_id,
                    self.run_id,
                    round_number + 1,
                    len(plan.trades),
                )
            error = await self._sell_then_buy(config, goal, plan, run)
            if error:
                return error
        return None

    async def _sell_then_buy(
        self, config: AccountConfig, goal: _Goal, plan: _Plan, run: RunRecord
    ) -> str | None:
        """One round: place the plan's sells, wait, recompute the buys from the cash, buy."""
        account = config.account_id
        self._check(config, plan, goal, plan.trades, run)  # the whole round, before any order
        sells = [t for t in plan.trades if t.quantity < 0]
        buys = [t for t in plan.trades if t.quantity > 0]
        self.logger.info(
            "Rebalancing %s (run %s): %d sells, %d buys planned",
            account,
            self.run_id,
            len(sells),
            len(buys),
        )
        if sells:
            done = await self._runner(config).place_and_wait(account, sells, run, plan.quotes())
            failed = incomplete(done)
            if failed:
                return f"sells not completed: {failed}; no buys were placed"
            # Re-read the cash the sells really freed and recompute the buys from it.
            await settle(self.broker, account, done, self.settle_timeout_secs, self.logger)
            plan = await self._plan(config, goal, use_cache=False, no_sell=run.no_sell)
            run.snapshot = plan.snapshot
            buys = [t for t in plan.trades if t.quantity > 0]
            late_sells = [t.symbol for t in plan.trades if t.quantity < 0]
            if late_sells:
                # The new plan's buys may count on sells that are not placed in this round:
                # keep only the buys the cash already there pays for.
                run.warnings.append(f"after the sells, {late_sells} would sell again; not placed")
                buys = affordable(buys, plan.snapshot, goal.reserve_percent, run.warnings)
            self._check(config, plan, goal, buys, run)  # the buys recomputed from the cash
        if not buys:
            return None
        done = await self._runner(config).place_and_wait(account, buys, run, plan.quotes())
        run.no_sell.update(t.symbol for t in done if t.filled_quantity)
        failed = incomplete(done)
        if failed:
            return f"buys not completed: {failed}"
        await settle(self.broker, account, done, self.settle_timeout_secs, self.logger)
        return None


def _settled_snapshot(run: RunRecord) -> AccountSnapshot | None:
    """The snapshot of the plan that found nothing left to do, if no order followed it."""
    if run.settled is None:
        return None
    snapshot, orders = run.settled
    return snapshot if orders == len(run.orders) else None
