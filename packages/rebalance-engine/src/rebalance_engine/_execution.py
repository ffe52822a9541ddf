"""Placing one round's orders and waiting for their fills, for ``Rebalancer``.

Every order is tagged with the run id, handed to ``on_order`` before it is sent (the journal's
intent) and again as it is acknowledged and ends, waited for until a deadline, and cancelled
when it has not filled by then: a market order is never left resting. The kill switch
(``HaltSwitch``) is asked before every order and watched while orders work.

The trades of one call work at once, each as the account's order type says (``OrderStyle``):
a limit or midprice order that rests past its timeout is cancelled and its unfilled rest sent
again (re-priced, or at market), so one trade may take several orders. Each order met a quote
when it was sent (``ArrivalQuotes``) and is recorded with it for the execution report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from broker_connector_base import (
    BrokerClient,
    BrokerConnectionError,
    BrokerError,
    OrderExecutionError,
    OrderFill,
    OrderSpec,
    OrderStatus,
    Trade,
    TradingHaltedError,
)

from rebalance_engine._fills import execution_of, merged
from rebalance_engine._records import RunRecord
from rebalance_engine._records import Sent as _Sent
from rebalance_engine._styles import OrderStyle
from rebalance_engine.halt import HaltSwitch
from rebalance_engine.quotes import ArrivalQuotes, BrokerArrivalQuotes, TimedQuote, utc_now

__all__ = ["OrderRunner", "RunRecord"]


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
        halt: The kill switch, asked before every order (``None``: never halted).
        style: The account's order type and options.
        arrival: Where the quotes orders meet come from (default: the broker's, or the
            plan's when just taken).
    """

    broker: BrokerClient
    logger: logging.Logger
    run_id: str
    on_order: Callable[[Trade], None] | None
    fill_timeout_secs: float
    cancel_timeout_secs: float
    halt: HaltSwitch | None = None
    style: OrderStyle = field(default_factory=OrderStyle)
    arrival: ArrivalQuotes | None = None

    async def place_and_wait(
        self,
        account: str,
        trades: Sequence[Trade],
        run: RunRecord,
        decided: Mapping[str, TimedQuote] | None = None,
    ) -> list[Trade]:
        """Send ``trades`` as the style says, and wait for all of them within
        ``fill_timeout_secs``.

        Returns:
            One ``Trade`` per trade given: its quantity, what all its orders filled together
            (``FILLED`` only when that is all of it) and the last order's id.

        The halt switch is asked before every order and watched during the waits: once it
        is on, the orders of this call still working are cancelled and
        ``TradingHaltedError`` is raised (what was placed stays in ``run.orders``).
        """
        first = len(run.orders)
        decided = decided or {}
        deadline = time.monotonic() + self.fill_timeout_secs
        quotes = await self._arrival([t.symbol for t in trades], decided)
        work: list[asyncio.Future[Trade]] = []
        try:
            # The first orders go out one by one in the plan's order, each journalled, sent
            # and acknowledged before the next; then their waits (and what follows a limit's
            # timeout) run side by side.
            sent = []
            for placed, trade in enumerate(trades):
                self._stop_if_halted(f"{len(trades) - placed} of {len(trades)} planned orders")
                quote = quotes.get(trade.symbol)
                spec = self.style.first(trade.quantity, quote.price) if quote else OrderSpec()
                sent.append(
                    (trade, spec, await self._send(account, trade, spec, run, decided, quotes))
                )
            work = [
                asyncio.ensure_future(self._follow(account, t, spec, s, run, deadline))
                for t, spec, s in sent
            ]
            return list(await asyncio.gather(*work))
        except TradingHaltedError:
            await _stop(work)
            await self._cancel_working(range(first, len(run.orders)), run)
            raise
        except BaseException:
            await _stop(work)  # a lost connection: the orders stay where they are
            raise

    async def place_on_close(
        self,
        account: str,
        trades: Sequence[Trade],
        run: RunRecord,
        decided: Mapping[str, TimedQuote] | None = None,
    ) -> list[Trade]:
        """Send ``trades`` as market-on-close orders, one after the other, without waiting:
        they fill in the closing auction. Returns them as acknowledged."""
        decided = decided or {}
        quotes = await self._arrival([t.symbol for t in trades], decided)
        out = []
        for placed, trade in enumerate(trades):
            self._stop_if_halted(f"{len(trades) - placed} of {len(trades)} planned orders")
            sent = await self._send(account, trade, OrderSpec(type="MOC"), run, decided, quotes)
            out.append(run.orders[sent.index])
            self._record(run, sent, None)
        return out

    async def _arrival(
        self, symbols: Sequence[str], decided: Mapping[str, TimedQuote]
    ) -> dict[str, TimedQuote]:
        source = self.arrival or BrokerArrivalQuotes(self.broker)
        try:
            return await source.arrival(list(dict.fromkeys(symbols)), decided)
        except BrokerError as exc:
            # The report loses its arrival prices, the orders lose nothing: send them anyway.
            self.logger.warning("No arrival quotes for %s: %s", ", ".join(symbols), exc)
            return {}

    async def _follow(
        self,
        account: str,
        trade: Trade,
        spec: OrderSpec,
        sent: _Sent,
        run: RunRecord,
        deadline: float,
    ) -> Trade:
        """Wait for a trade's order; after a limit's timeout send the rest again (re-priced
        or at market), until filled or stopped. The trade with what all its orders filled."""
        children: list[Trade] = []
        remaining = trade.quantity
        while True:
            resting = self.style.rests and spec.type != "MARKET"
            until = deadline
            if resting:
                until = min(deadline, sent.started + self.style.options.limit_timeout_secs)
            done = await self._wait_sent(sent, until, run, timed_out=resting)
            children.append(done)
            remaining -= done.filled_quantity or 0
            if not remaining or not resting or done.status is OrderStatus.REJECTED:
                break
            if time.monotonic() >= deadline:
                break
            quote = (await self._arrival([trade.symbol], {})).get(trade.symbol)
            if quote is None:
                break
            next_spec = self.style.after_timeout(len(children), remaining, quote.price)
            if next_spec is None:
                break
            run.warnings.append(
                f"{trade.action} {abs(remaining)} {trade.symbol}: {spec.describe()} not filled "
                f"within {self.style.options.limit_timeout_secs} s; sent again as "
                f"{next_spec.describe()}"
            )
            spec = next_spec
            rest = trade.model_copy(update={"quantity": remaining})
            self._stop_if_halted(f"the rest of {trade.action} {abs(trade.quantity)} {trade.symbol}")
            sent = await self._send(account, rest, spec, run, {}, {trade.symbol: quote})
        return merged(trade, children)

    async def _send(
        self,
        account: str,
        trade: Trade,
        spec: OrderSpec,
        run: RunRecord,
        decided: Mapping[str, TimedQuote],
        quotes: Mapping[str, TimedQuote],
    ) -> _Sent:
        """Send one order; the record of it (acknowledged, refused or unknown)."""
        trade = trade.model_copy(update={"order_type": spec.type, "limit_price": spec.limit_price})
        self._intend(trade)
        sent_at, started = utc_now(), time.monotonic()
        try:
            result = await self.broker.place_order(
                account, trade.symbol, trade.quantity, order=spec, order_ref=self.run_id
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
            recorded = trade.model_copy(update={"order_id": exc.order_id, "status": status})
        else:
            recorded = trade.model_copy(
                update={
                    "order_id": result.order_id,
                    "perm_id": result.perm_id,
                    "status": result.status,
                }
            )
        run.orders.append(recorded)
        self._notify(recorded, run)
        return _Sent(
            len(run.orders) - 1,
            decided.get(trade.symbol),
            quotes.get(trade.symbol),
            sent_at,
            started,
        )

    async def _wait_sent(
        self, sent: _Sent, until: float, run: RunRecord, *, timed_out: bool
    ) -> Trade:
        """Wait for a sent order (cancelled when unfilled by ``until``) and record it."""
        trade = run.orders[sent.index]
        if trade.order_id is None or trade.status in (None, OrderStatus.ERROR):
            self._record(run, sent, None)
            return trade
        # Also when final at once (filled or refused on arrival): the wait tells the fill.
        done, fill = await self._wait_unless_halted(trade, until, run, timed_out=timed_out)
        run.orders[sent.index] = done
        self._record(run, sent, fill)
        return done

    def _record(self, run: RunRecord, sent: _Sent, fill: OrderFill | None) -> None:
        filled_secs = time.monotonic() - sent.started
        order = run.orders[sent.index]
        run.executions.append(
            execution_of(order, sent.decided, sent.arrival, sent.sent_at, fill, filled_secs)
        )

    def _stop_if_halted(self, what: str) -> None:
        """Raise ``TradingHaltedError`` (``what``: the orders that will not be placed)."""
        reason = self.halt.halted() if self.halt is not None else None
        if reason is not None:
            raise TradingHaltedError(f"trading halted ({reason}): {what} not placed", reason=reason)

    async def _wait_unless_halted(
        self, trade: Trade, until: float, run: RunRecord, *, timed_out: bool
    ) -> tuple[Trade, OrderFill]:
        if self.halt is None:
            return await self._wait(trade, until, run, timed_out=timed_out)
        waiting = asyncio.create_task(self._wait(trade, until, run, timed_out=timed_out))
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
            run.orders[index] = _filled(trade, fill)
            self._notify(run.orders[index], run)

    async def _status_after_error(self, exc: OrderExecutionError) -> OrderStatus:
        """What became of an order whose placement raised: rejected, or working after all."""
        if exc.order_id is None:
            return OrderStatus.REJECTED
        status = await self.broker.get_order_status(exc.order_id)
        return OrderStatus.REJECTED if status is OrderStatus.NOT_FOUND else status

    async def _wait(
        self, trade: Trade, until: float, run: RunRecord, *, timed_out: bool
    ) -> tuple[Trade, OrderFill]:
        """Wait for the order until ``until``; cancel what has not filled by then."""
        assert trade.order_id is not None
        fill = await self.broker.wait_for_order(
            trade.order_id, timeout_secs=max(0.0, until - time.monotonic())
        )
        if not fill.status.is_final:
            if not timed_out:
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
        done = _filled(trade, fill)
        self._notify(done, run)
        return done, fill

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


async def _stop(tasks: Sequence[asyncio.Future[Trade]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _filled(trade: Trade, fill: OrderFill) -> Trade:
    return trade.model_copy(
        update={
            "status": fill.status,
            "filled_quantity": fill.filled_quantity,
            "avg_fill_price": fill.avg_fill_price,
        }
    )
