"""Placing one round's orders and waiting for their fills, for ``Rebalancer``.

Every order is tagged with the run id, recorded in the run as soon as it is known (and passed
to ``on_order`` for the journal), waited for until a deadline, and cancelled when it has not
filled by then: a market order is never left resting. The kill switch (``HaltSwitch``) is
asked before every order and watched while orders work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from broker_connector_base import (
    AccountSnapshot,
    BrokerClient,
    BrokerConnectionError,
    BrokerError,
    OrderExecutionError,
    OrderStatus,
    RebalancePlan,
    Trade,
    TradingHaltedError,
)

from rebalance_engine.halt import HaltSwitch

__all__ = ["OrderRunner", "RunRecord", "affordable", "incomplete"]


@dataclass
class RunRecord:
    """What one execution has done so far (for the result, whatever happens)."""

    orders: list[Trade] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    snapshot: AccountSnapshot | None = None
    plan: list[RebalancePlan] = field(default_factory=list)
    """The plan the run started from (after cancelling open orders)."""
    no_sell: set[str] = field(default_factory=set)
    """Symbols not to sell today: bought earlier (the broker's record when the run started)
    or by this run."""


@dataclass(frozen=True)
class OrderRunner:
    """Places and waits for the orders of one rebalance run.

    Attributes:
        broker: A connected client.
        logger: Where waits that ran out are reported.
        run_id: Tag stored with every order (``order_ref``; IB's ``orderRef``).
        on_order: Called with each trade just before its order is sent (no order id, no
            status: the intent; when it raises, nothing is sent and the run stops), when
            the order is acknowledged (or refused), and again when its wait ends.
        fill_timeout_secs: How long one ``place_and_wait`` may wait for fills.
        cancel_timeout_secs: How long cancelling an unfilled order may take.
        settle_timeout_secs: How long ``settle`` waits for positions to show fills.
        halt: The kill switch, asked before every order (``None``: never halted).
    """

    broker: BrokerClient
    logger: logging.Logger
    run_id: str
    on_order: Callable[[Trade], None] | None
    fill_timeout_secs: float
    cancel_timeout_secs: float
    settle_timeout_secs: float
    halt: HaltSwitch | None = None

    async def place_and_wait(
        self, account: str, trades: Sequence[Trade], run: RunRecord
    ) -> list[Trade]:
        """Place ``trades``, then wait for all of them within ``fill_timeout_secs``.

        The halt switch is asked before every order and watched during the waits: once it
        is on, the orders of this call still working are cancelled and
        ``TradingHaltedError`` is raised (what was placed stays in ``run.orders``).
        """
        first = len(run.orders)
        waiting: list[int] = []
        try:
            for trade in trades:
                self._stop_if_halted(len(run.orders) - first, len(trades))
                index = await self._place(account, trade, run)
                if index is not None:
                    waiting.append(index)
            deadline = time.monotonic() + self.fill_timeout_secs
            for index in waiting:
                run.orders[index] = await self._wait_unless_halted(run.orders[index], deadline, run)
        except TradingHaltedError:
            await self._cancel_working(waiting, run)
            raise
        return run.orders[first:]

    async def _place(self, account: str, trade: Trade, run: RunRecord) -> int | None:
        """Place one order and record it; the index of the record to wait for, if any."""
        self._intend(trade)
        try:
            result = await self.broker.place_order(
                account, trade.symbol, trade.quantity, order_ref=self.run_id
            )
        except BrokerConnectionError:
            # The order may or may not have reached the gateway: record it as unknown
            # (the daemon finds out by the run id later: ``get_orders_by_ref``).
            unknown = trade.model_copy(update={"status": OrderStatus.ERROR})
            run.orders.append(unknown)
            self._notify(unknown, run)
            raise
        except OrderExecutionError as exc:
            run.warnings.append(f"{trade.action} {abs(trade.quantity)} {trade.symbol}: {exc}")
            status = await self._status_after_error(exc)
            failed = trade.model_copy(update={"order_id": exc.order_id, "status": status})
            run.orders.append(failed)
            self._notify(failed, run)
            # Not acknowledged in time, yet working at the broker: wait for it too.
            working = not status.is_final and status is not OrderStatus.ERROR
            return len(run.orders) - 1 if working else None
        acked = trade.model_copy(
            update={"order_id": result.order_id, "perm_id": result.perm_id, "status": result.status}
        )
        run.orders.append(acked)
        self._notify(acked, run)
        return len(run.orders) - 1

    def _stop_if_halted(self, placed: int, planned: int) -> None:
        reason = self.halt.halted() if self.halt is not None else None
        if reason is not None:
            raise TradingHaltedError(
                f"trading halted ({reason}): {planned - placed} of {planned} planned orders "
                "not placed",
                reason=reason,
            )

    async def _wait_unless_halted(self, trade: Trade, deadline: float, run: RunRecord) -> Trade:
        if self.halt is None:
            return await self._wait(trade, deadline, run)
        waiting = asyncio.create_task(self._wait(trade, deadline, run))
        halting = asyncio.create_task(self.halt.wait_halted())
        await asyncio.wait({waiting, halting}, return_when=asyncio.FIRST_COMPLETED)
        if waiting.done():
            halting.cancel()
            await asyncio.gather(halting, return_exceptions=True)
            return waiting.result()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        reason = halting.result()
        raise TradingHaltedError(
            f"trading halted ({reason}) while orders were working; they are cancelled",
            reason=reason,
        )

    async def _cancel_working(self, indices: Sequence[int], run: RunRecord) -> None:
        """Cancel the recorded orders at ``indices`` that may still fill (after a halt)."""
        for index in indices:
            trade = run.orders[index]
            if trade.order_id is None or (trade.status is not None and trade.status.is_final):
                continue
            try:
                await self.broker.cancel_order(trade.order_id)
                fill = await self.broker.wait_for_order(
                    trade.order_id, timeout_secs=self.cancel_timeout_secs
                )
            except BrokerError as exc:
                run.warnings.append(f"cancelling order {trade.order_id} after the halt: {exc}")
                continue
            run.orders[index] = trade.model_copy(
                update={
                    "status": fill.status,
                    "filled_quantity": fill.filled_quantity,
                    "avg_fill_price": fill.avg_fill_price,
                }
            )
            self._notify(run.orders[index], run)

    async def _status_after_error(self, exc: OrderExecutionError) -> OrderStatus:
        """What became of an order whose placement raised: rejected, or working after all."""
        if exc.order_id is None:
            return OrderStatus.REJECTED
        status = await self.broker.get_order_status(exc.order_id)
        return OrderStatus.REJECTED if status is OrderStatus.NOT_FOUND else status

    async def settle(self, account: str, trades: Sequence[Trade]) -> None:
        """Wait (bounded) until the broker's positions show the fills of ``trades``.

        Brokers report fills before they update positions and balances (IB does); planning
        the buys on a snapshot from between the two would count shares that are already sold.
        """
        expected = {t.symbol: t.current_shares + (t.filled_quantity or 0) for t in trades}
        held = await self.broker.wait_for_positions(
            account, expected, timeout_secs=self.settle_timeout_secs
        )
        if held != expected:
            self.logger.warning(
                "Positions of %s do not show the fills yet after %.0f s: %s",
                account,
                self.settle_timeout_secs,
                {s: str(q) for s, q in held.items()},
            )

    async def _wait(self, trade: Trade, deadline: float, run: RunRecord) -> Trade:
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

    def _intend(self, trade: Trade) -> None:
        """Hand the trade to ``on_order`` before its order is sent.

        The journal records it (and the trading day, for PDT protection) before the order
        can exist at the broker, so a crash at any later instant leaves a row to reconcile.
        If that fails, the order is not sent.

        Raises:
            OrderExecutionError: ``on_order`` raised; nothing was sent.
        """
        if self.on_order is None:
            return
        try:
            self.on_order(trade)
        except Exception as exc:
            raise OrderExecutionError(
                f"{trade.action} {abs(trade.quantity)} {trade.symbol} not placed: recording "
                f"it before sending failed ({type(exc).__name__}: {exc})"
            ) from exc

    def _notify(self, trade: Trade, run: RunRecord) -> None:
        if self.on_order is None:
            return
        try:
            self.on_order(trade)
        except Exception as exc:  # the journal must not abort orders already at the broker
            self.logger.exception("on_order callback failed for order %s", trade.order_id)
            run.warnings.append(f"order journal callback failed for {trade.order_id}: {exc}")


def affordable(
    buys: Sequence[Trade], snapshot: AccountSnapshot, reserve_percent: Decimal, run: RunRecord
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


def incomplete(trades: Sequence[Trade]) -> list[str]:
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
