"""What IB remembers of a login's orders: open and completed orders, and the day's executions.

Used by ``IBKRClient`` for reconciliation (``get_orders_by_ref``), today's buys (the same-day
sell guard) and orders whose cancel IB refused (the 10148 trap). Every request is bounded
(``_gateway.bounded``) and sent again after IB's pacing error (``Pacing``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

from broker_connector_base import OrderRecord, OrderStatus
from broker_connector_base.types import trading_day
from ib_async import IB, ExecutionFilter, Fill
from ib_async import Trade as IBTrade

from ibkr_connector import _gateway
from ibkr_connector._pacing import Pacing
from ibkr_connector._records import order_records
from ibkr_connector.config import IBKRConnectionConfig

__all__ = ["OrderHistory"]

_T = TypeVar("_T")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class OrderHistory:
    """Order listings and executions on one ib_async connection."""

    def __init__(
        self, ib: IB, config: IBKRConnectionConfig, logger: logging.Logger, pacing: Pacing
    ) -> None:
        self.ib = ib
        self.config = config
        self.logger = logger
        self.pacing = pacing
        # ib_async keys these two requests by name, not id: two at once would lose an answer.
        self._open_orders_lock = asyncio.Lock()
        self._completed_orders_lock = asyncio.Lock()

    async def request(self, send: Callable[[], Awaitable[_T]], context: str) -> _T:
        """One bounded gateway request, sent again after pacing errors."""
        timeout = self.config.request_timeout_secs
        return await self.pacing.run(
            self.ib, context, lambda: _gateway.sent_bounded(self.ib, send, timeout, context)
        )

    async def open_orders(self, context: str) -> list[IBTrade]:
        """Working orders of every client id of the login (a fresh answer)."""
        async with self._open_orders_lock:
            return await self.request(self.ib.reqAllOpenOrdersAsync, context)

    async def completed_orders(self, context: str) -> list[IBTrade]:
        """The login's API orders done this session (IB sends no order ids with them)."""
        async with self._completed_orders_lock:
            return await self.request(
                lambda: self.ib.reqCompletedOrdersAsync(apiOnly=True), f"completed {context}"
            )

    async def executions(self, wanted: ExecutionFilter, context: str) -> list[Fill]:
        """The day's executions matching ``wanted``, from every client id of the login."""
        return await self.request(
            lambda: self.ib.reqExecutionsAsync(wanted), f"executions: {context}"
        )

    async def orders_by_ref(self, account_id: str, order_ref: str) -> list[OrderRecord]:
        """Open and completed orders and executions of ``account_id`` tagged ``order_ref``.

        Matched by ``orderRef`` and merged by ``permId`` (``_records.order_records``): after a
        gateway restart order ids may belong to another order, perm ids never do.
        """
        context = f"orders of {account_id} tagged {order_ref}"
        local = [t for t in self.ib.trades() if t.order.orderRef == order_ref]
        open_trades, completed, fills = await asyncio.gather(
            self.open_orders(context),
            self.completed_orders(context),
            self.executions(ExecutionFilter(acctCode=account_id), context),
        )
        return order_records(account_id, order_ref, [*local, *open_trades, *completed], fills)

    async def symbols_bought_on(self, account_id: str, day: dt.date) -> frozenset[str]:
        """Stock symbols with a buy execution in ``account_id`` on New York day ``day``.

        IB answers with the executions of the current day from every client id of the
        login (manual trades included), which is what a day-trade check must see.
        """
        fills = await self.executions(
            ExecutionFilter(acctCode=account_id, side="BUY"), f"buys of {account_id}"
        )
        return frozenset(
            fill.contract.symbol.upper()
            for fill in fills
            if fill.execution.acctNumber == account_id
            and fill.execution.side == "BOT"
            and fill.contract.secType == "STK"
            and trading_day(_aware(fill.execution.time)) == day
        )

    async def after_refused_cancel(
        self, trade: IBTrade, status: OrderStatus, filled: float, avg: Decimal | None
    ) -> tuple[OrderStatus, float, Decimal | None]:
        """What IB's executions say of an order whose cancel IB refused because it filled.

        Returns the status, filled shares and average price to report: the executions' when
        they show more than ``filled``, else the arguments unchanged.
        """
        order = trade.order
        fills = await self.executions(
            ExecutionFilter(acctCode=order.account), f"fills of order {order.orderId}"
        )
        records = order_records(order.account, order.orderRef, [trade], fills)
        mine = next((r for r in records if r.perm_id == str(order.permId)), None)
        if mine is None or abs(mine.filled_quantity) <= filled:
            return status, filled, avg
        self.logger.warning(
            "Order %s (perm id %s): IB refused its cancel and its executions show %d filled",
            order.orderId,
            order.permId,
            abs(mine.filled_quantity),
        )
        return mine.status, float(abs(mine.filled_quantity)), mine.avg_fill_price
