"""Order placement, status, waits and cancels for ``IBKRClient`` (composition, not a mixin)."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from broker_connector_base import (
    BrokerConnectionError,
    OpenOrder,
    OrderExecutionError,
    OrderFill,
    OrderResult,
    OrderSpec,
    OrderStatus,
)
from ib_async import IB, Contract, Order
from ib_async import Trade as IBTrade

from ibkr_connector import _gateway
from ibkr_connector._history import OrderHistory
from ibkr_connector._pacing import Pacing
from ibkr_connector._quiet import expect_cancel
from ibkr_connector._records import cancel_refused, trade_filled, trade_status
from ibkr_connector.config import IBKRConnectionConfig
from ibkr_connector.errors import exception_for_code
from ibkr_connector.order_types import commission_of, ib_order, order_spec_of
from ibkr_connector.translation import ib_price, order_id_to_int, quantity_to_action

__all__ = ["OrderBook"]

ContractLookup = Callable[[str], Awaitable[Contract]]


def _last_error(trade: IBTrade) -> tuple[int, str] | None:
    for entry in reversed(trade.log):
        if entry.errorCode:
            return entry.errorCode, entry.message
    return None


def _answered(trade: IBTrade) -> bool:
    """The gateway acknowledged, rejected or dropped the order (ib_async left its first states)."""
    return trade.orderStatus.status not in ("PendingSubmit", "ApiPending", "")


def _final(trade: IBTrade) -> bool:
    return trade_status(trade).is_final


def _cancel_answered(trade: IBTrade, seen: int) -> bool:
    """IB answered the cancel sent when the log had ``seen`` entries (ib_async's own
    ``PendingCancel`` entry is no answer)."""
    return any(e.status != "PendingCancel" or e.errorCode for e in trade.log[seen:])


def _paced_out(trade: IBTrade) -> bool:
    """IB dropped the order message for pacing (error 100) before it ever had the order."""
    error = _last_error(trade)
    return error is not None and error[0] == 100 and not trade.order.permId


def _signed(trade: IBTrade, quantity: float) -> int:
    value = round(quantity)
    return -value if trade.order.action == "SELL" else value


class OrderBook:
    """Order methods on one ib_async connection."""

    def __init__(
        self,
        ib: IB,
        config: IBKRConnectionConfig,
        logger: logging.Logger,
        contract_for: ContractLookup,
        pacing: Pacing,
    ) -> None:
        self.ib = ib
        self.config = config
        self.logger = logger
        self._contract_for = contract_for
        self.pacing = pacing
        self.history = OrderHistory(ib, config, logger, pacing)

    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        spec: OrderSpec,
        order_ref: str | None = None,
    ) -> OrderResult:
        """Place a DAY order (``order_types.ib_order``) and wait for the gateway to
        acknowledge or reject it."""
        action, total = quantity_to_action(quantity)
        symbol = " ".join(symbol.split()).upper()
        contract = await self._contract_for(symbol)
        order = ib_order(action, total, spec)
        order.account = account_id
        order.orderRef = order_ref or ""
        order.transmit = True
        what = f"{action} {total} {symbol} ({spec.describe()}) for {account_id}"
        trade, status = await self._send(contract, order, what)
        order_id = str(trade.order.orderId)
        if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
            error = _last_error(trade)
            if error:
                raise exception_for_code(
                    error[0], error[1], context=f"order {order_id} {what}", order_id=order_id
                )
            raise OrderExecutionError(f"order {order_id} {what} was {status}", order_id=order_id)
        if status is OrderStatus.PENDING:
            raise OrderExecutionError(
                f"order {order_id} {what} not acknowledged within "
                f"{self.config.order_ack_timeout_secs} s; it may still be working",
                order_id=order_id,
            )
        perm_id = trade.order.permId or trade.orderStatus.permId
        self.logger.info(
            "Placed order %s (perm id %s): %s (ref %s), %s",
            order_id,
            perm_id,
            what,
            order_ref,
            status,
        )
        return OrderResult(
            order_id=order_id,
            symbol=symbol,
            quantity=quantity,
            status=status,
            order_ref=order_ref,
            perm_id=str(perm_id) if perm_id else None,
        )

    async def _send(
        self, contract: Contract, order: Order, what: str
    ) -> tuple[IBTrade, OrderStatus]:
        """Send ``order`` and wait for its acknowledgement, again when IB paced it out.

        IB drops a message it answers with error 100; ib_async then marks the trade
        ``Cancelled``. Before another order goes out (with a new order id), the open orders
        are read again to check that IB never took this one.
        """
        attempt = 1
        while True:
            _gateway.require_connected(self.ib, f"placing {what}")
            try:
                trade = self.ib.placeOrder(contract, order)
            except ConnectionError as exc:
                raise BrokerConnectionError(f"placing {what}: {exc}") from exc
            status = await self._wait_until(
                trade, partial(_answered, trade), self.config.order_ack_timeout_secs
            )
            if not _paced_out(trade) or attempt >= self.pacing.attempts:
                return trade, status
            self.pacing.slow_down(self.ib, f"placing {what}")
            await self.pacing.pause(attempt)
            await self.history.open_orders(f"checking order {trade.order.orderId} {what}")
            if trade.order.permId:  # IB has it after all: never send it twice
                return trade, trade_status(trade)
            self.logger.warning(
                "IB dropped order %s (%s) for pacing; sending it again", trade.order.orderId, what
            )
            order = copy.copy(order)
            order.orderId = 0  # ib_async takes the next id
            attempt += 1

    async def _wait_until(
        self, trade: IBTrade, done: Callable[[], bool], timeout_secs: float
    ) -> OrderStatus:
        """Wait for ``done()`` on status events, a dropped connection, or the timeout."""
        if done() or timeout_secs <= 0:
            return trade_status(trade)
        changed = asyncio.Event()

        def on_change(*_: object) -> None:
            changed.set()

        trade.statusEvent += on_change
        trade.fillEvent += on_change
        trade.commissionReportEvent += on_change
        self.ib.disconnectedEvent += on_change
        deadline = time.monotonic() + timeout_secs
        try:
            while not done():
                if not self.ib.isConnected():
                    raise BrokerConnectionError(
                        f"connection to the IB gateway lost while waiting for order "
                        f"{trade.order.orderId}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    break
        finally:
            trade.statusEvent -= on_change
            trade.fillEvent -= on_change
            trade.commissionReportEvent -= on_change
            self.ib.disconnectedEvent -= on_change
        return trade_status(trade)

    def _find(self, order_id: str) -> IBTrade | None:
        wanted = order_id_to_int(order_id)
        matches = [t for t in self.ib.trades() if t.order.orderId == wanted]
        # Ids are per client id: prefer this client's own order.
        own = [t for t in matches if t.order.clientId == self.config.client_id]
        candidates = own or matches
        return candidates[-1] if candidates else None

    async def _find_or_refresh(self, order_id: str) -> IBTrade | None:
        trade = self._find(order_id)
        if trade is None:
            await self.history.open_orders("listing open orders")
            trade = self._find(order_id)
        return trade

    async def get_open_orders(self, account_id: str) -> list[OpenOrder]:
        """Working orders of ``account_id`` (from every client id of this login)."""
        trades = await self.history.open_orders(f"listing open orders of {account_id}")
        out: list[OpenOrder] = []
        seen: set[str] = set()
        # Only the fresh answer: a cached ib_async trade of another client's order is never
        # updated on this connection and would look working forever.
        for trade in trades:
            order = trade.order
            status = trade_status(trade)
            order_id = str(order.orderId)
            if order.account != account_id or status.is_final or order_id in seen:
                continue
            seen.add(order_id)
            # An order type outside the contract (a stop placed in TWS) is listed as MARKET:
            # it is still working, and cancel_all_orders must see it.
            spec = order_spec_of(order) or OrderSpec()
            out.append(
                OpenOrder(
                    order_id=order_id,
                    symbol=trade.contract.symbol,
                    quantity=_signed(trade, float(order.totalQuantity)),
                    status=status,
                    order_type=spec.type,
                    account_id=order.account or None,
                    limit_price=spec.limit_price,
                    order_ref=order.orderRef or None,
                )
            )
        return out

    async def cancel_order(self, order_id: str) -> None:
        """Request cancellation of ``order_id`` and wait (briefly) for IB to take it."""
        trade = await self._find_or_refresh(order_id)
        if trade is None:
            raise OrderExecutionError(f"order {order_id} is not known to IB", order_id=order_id)
        status = trade_status(trade)
        if status.is_final:
            raise OrderExecutionError(
                f"order {order_id} is already {status}, it cannot be cancelled", order_id=order_id
            )
        await self._cancel(trade)
        self.logger.info("Requested cancellation of order %s", order_id)

    async def _cancel(self, trade: IBTrade) -> None:
        """Send a cancel, again when IB paced it out (error 100: IB never saw it).

        ib_async marks the trade ``Cancelled`` on that error although the order works on;
        its state from before the cancel is put back before the cancel is sent again.
        """
        attempt = 1
        while True:
            _gateway.require_connected(self.ib, f"cancelling order {trade.order.orderId}")
            expect_cancel(trade.order.orderId)
            before, seen = trade.orderStatus.status, len(trade.log)
            self.ib.cancelOrder(trade.order)
            await self._wait_until(
                trade, partial(_cancel_answered, trade, seen), self.config.order_ack_timeout_secs
            )
            paced = any(entry.errorCode == 100 for entry in trade.log[seen:])
            if not paced or attempt >= self.pacing.attempts:
                return
            trade.orderStatus.status = before
            self.pacing.slow_down(self.ib, f"cancelling order {trade.order.orderId}")
            await self.pacing.pause(attempt)
            attempt += 1

    async def get_order_status(self, order_id: str) -> OrderStatus:
        """Normalised status of ``order_id``; ``NOT_FOUND`` when IB knows no such order."""
        trade = await self._find_or_refresh(order_id)
        return OrderStatus.NOT_FOUND if trade is None else trade_status(trade)

    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        """Wait until the order is final or ``timeout_secs`` passes; report what filled.

        A trade that ib_async marked ``Cancelled`` because IB refused a cancel (the order had
        filled: error 10148 before the fill report) is waited for until its fill arrives,
        and checked against IB's executions when it does not arrive in time.
        """
        trade = await self._find_or_refresh(order_id)
        if trade is None:
            raise OrderExecutionError(f"order {order_id} is not known to IB", order_id=order_id)
        status = await self._wait_until(trade, partial(_final, trade), timeout_secs)
        if status.is_final and commission_of(trade.fills) is None:
            # IB sends each execution's commission report just after it: wait briefly.
            await self._wait_until(
                trade,
                lambda: commission_of(trade.fills) is not None,
                self.config.commission_report_timeout_secs,
            )
        filled = trade_filled(trade)
        avg = ib_price(trade.orderStatus.avgFillPrice) if filled else None
        if cancel_refused(trade) and not status.is_final:
            status, filled, avg = await self.history.after_refused_cancel(
                trade, status, filled, avg
            )
        remaining = (
            0.0 if status is OrderStatus.FILLED else float(trade.order.totalQuantity) - filled
        )
        error = _last_error(trade)
        return OrderFill(
            order_id=order_id,
            status=status,
            filled_quantity=_signed(trade, filled),
            remaining_quantity=_signed(trade, remaining),
            avg_fill_price=avg,
            message=f"IB error {error[0]}: {error[1]}" if error else None,
            commission=commission_of(trade.fills),
        )

    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        """Cancel every working order of ``account_id`` and wait until none is left."""
        open_orders = await self.get_open_orders(account_id)
        ids = [o.order_id for o in open_orders]
        if not ids:
            return []
        self.logger.info("Cancelling %d open orders of %s: %s", len(ids), account_id, ids)
        for order_id in ids:
            trade = self._find(order_id)
            if trade is not None and not trade_status(trade).is_final:
                await self._cancel(trade)
        deadline = time.monotonic() + timeout_secs
        for order_id in ids:
            trade = self._find(order_id)
            if trade is not None:
                await self._wait_until(
                    trade,
                    partial(_final, trade),
                    max(0.0, deadline - time.monotonic()),
                )
        left = await self.get_open_orders(account_id)
        if left:
            foreign = {
                str(t.order.orderId): t.order.clientId
                for t in self.ib.trades()
                if str(t.order.orderId) in {o.order_id for o in left}
                and t.order.clientId not in (self.config.client_id, 0)
            }
            hint = (
                f"; orders {sorted(foreign)} belong to other API client ids "
                f"{sorted(set(foreign.values()))}, which IB lets only their own client cancel"
                if foreign
                else ""
            )
            raise OrderExecutionError(
                f"orders {[o.order_id for o in left]} of {account_id} still working "
                f"{timeout_secs} s after cancelling{hint}"
            )
        return ids
