"""Order placement, status, waits, cancels and today's buys for ``AlpacaClient``.

Composition, not a mixin: ``OrderDesk`` gets the connection's ``SdkSession`` from a callable,
which raises ``BrokerConnectionError`` while disconnected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

from alpaca.common.enums import Sort
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
)
from broker_connector_base import (
    BrokerConnectionError,
    InvalidInputError,
    OpenOrder,
    OrderExecutionError,
    OrderFill,
    OrderRecord,
    OrderResult,
    OrderSpec,
    OrderStatus,
)
from broker_connector_base.types import NEW_YORK

from alpaca_connector._sdk import SdkSession
from alpaca_connector.translation import (
    fill_of,
    new_client_order_id,
    normalise_symbol,
    open_order_of,
    order_record_of,
    order_ref_of,
    order_status,
    whole_shares,
)

__all__ = ["OrderDesk", "order_request", "parse_order_id"]

logger = logging.getLogger(__name__)

_PAGE = 500  # Alpaca's largest page of orders
_MAX_PAGES = 20
_BOUGHT_LOOKBACK = dt.timedelta(days=7)
_FIRST_POLL_SECS = 0.01


def parse_order_id(order_id: str) -> str:
    """``order_id`` in Alpaca's format (a UUID), normalised.

    Raises:
        InvalidInputError: It is not a UUID.
    """
    try:
        return str(uuid.UUID(order_id))
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidInputError(
            f"order id {order_id!r} is not an Alpaca order id (a UUID)", source="order_id"
        ) from exc


def order_request(symbol: str, quantity: int, spec: OrderSpec, client_id: str) -> OrderRequest:
    """The alpaca-py request for ``spec``: MARKET and LIMIT as ``day`` orders, MOC as a market
    order with time in force ``cls`` (the closing auction)."""
    side = OrderSide.BUY if quantity > 0 else OrderSide.SELL
    common = {
        "symbol": symbol,
        "qty": abs(quantity),
        "side": side,
        "time_in_force": TimeInForce.CLS if spec.type == "MOC" else TimeInForce.DAY,
        "client_order_id": client_id,
    }
    if spec.type == "LIMIT":
        assert spec.limit_price is not None
        # alpaca-py takes a float; a cent price's shortest repr is its decimal text, which is
        # what goes out in the JSON body.
        return LimitOrderRequest(limit_price=float(spec.limit_price), **common)
    return MarketOrderRequest(**common)


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity == 0:
        raise InvalidInputError(
            f"quantity must be a non-zero whole number of shares, got {quantity!r}",
            source="place_order",
        )


class OrderDesk:
    """Order methods on one connection.

    Args:
        session: Returns the connected ``SdkSession`` (raises while disconnected).
        poll_max_secs: Longest pause between two looks at an order being waited for.
    """

    def __init__(self, session: Callable[[], SdkSession], poll_max_secs: float) -> None:
        self._session = session
        self._poll_max_secs = poll_max_secs

    async def place(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        spec: OrderSpec,
        order_ref: str | None,
    ) -> OrderResult:
        """Place an order tagged with ``order_ref`` (see ``AlpacaClient.place_order``)."""
        _check_quantity(quantity)
        symbol = normalise_symbol(symbol, source="place_order")
        client_id = new_client_order_id(order_ref)
        what = f"placing {'BUY' if quantity > 0 else 'SELL'} {abs(quantity)} {symbol}"
        session = self._session()
        request = order_request(symbol, quantity, spec, client_id)
        try:
            order = await session.call(
                what, session.trading.submit_order, request, operation="order"
            )
        except BrokerConnectionError as exc:
            order = await self._confirm(session, what, client_id, exc)
        assert isinstance(order, Order)
        status = order_status(order)
        logger.info(
            "Alpaca order %s (%s) for %s: %s %s %s, %s",
            order.id,
            client_id,
            account_id,
            order.side.value if order.side else "?",
            order.qty,
            symbol,
            order.status.value,
        )
        if status == OrderStatus.REJECTED:
            raise OrderExecutionError(f"{what}: Alpaca rejected the order", order_id=str(order.id))
        return OrderResult(
            order_id=str(order.id),
            symbol=symbol,
            quantity=quantity,
            status=status,
            order_ref=order_ref,
            perm_id=str(order.id),
        )

    async def _confirm(
        self, session: SdkSession, what: str, client_id: str, cause: BrokerConnectionError
    ) -> Order:
        # The request may have reached Alpaca before the connection failed: look the order up
        # by its client_order_id rather than guess, and never send it again.
        logger.warning("%s: %s; looking the order up by client_order_id %s", what, cause, client_id)
        lookup = f"{what}: confirming client_order_id {client_id}"
        try:
            found = await session.call(
                lookup, session.trading.get_order_by_client_id, client_id, operation="lookup"
            )
        except (BrokerConnectionError, OrderExecutionError) as exc:
            raise OrderExecutionError(
                f"{what}: unconfirmed ({cause}); Alpaca shows no order with client_order_id "
                f"{client_id} ({exc}). It was not sent again."
            ) from cause
        assert isinstance(found, Order)
        return found

    async def fetch(self, order_id: str) -> Order:
        """One order by id.

        Raises:
            InvalidInputError: Not an Alpaca order id.
            OrderExecutionError: Alpaca knows no such order.
        """
        normalised = parse_order_id(order_id)
        session = self._session()
        order = await session.call(
            f"looking up order {normalised}",
            session.trading.get_order_by_id,
            normalised,
            operation="lookup",
            order_id=normalised,
        )
        assert isinstance(order, Order)
        return order

    async def status(self, order_id: str) -> OrderStatus:
        """Normalised status; ``NOT_FOUND`` when Alpaca knows no such order."""
        try:
            return order_status(await self.fetch(order_id))
        except OrderExecutionError:
            return OrderStatus.NOT_FOUND

    async def wait(self, order_id: str, timeout_secs: float) -> OrderFill:
        """Poll ``order_id`` until it is final or ``timeout_secs`` passes."""
        deadline = time.monotonic() + max(timeout_secs, 0)
        delay = _FIRST_POLL_SECS
        while True:
            fill = fill_of(await self.fetch(order_id))
            remaining = deadline - time.monotonic()
            if fill.status.is_final or remaining <= 0:
                return fill
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, self._poll_max_secs)

    async def cancel(self, order_id: str) -> None:
        """Request cancellation (Alpaca cancels asynchronously: wait to see it final)."""
        normalised = parse_order_id(order_id)
        session = self._session()
        await session.call(
            f"cancelling order {normalised}",
            session.trading.cancel_order_by_id,
            normalised,
            operation="order",
            order_id=normalised,
        )
        logger.info("Requested cancellation of Alpaca order %s", normalised)

    async def open_orders(self, account_id: str) -> list[OpenOrder]:
        """Every open order of the account, newest first."""
        session = self._session()
        request = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=_PAGE)
        orders = await session.call("listing open orders", session.trading.get_orders, request)
        assert isinstance(orders, list)
        if len(orders) == _PAGE:
            logger.warning("Alpaca listed %s open orders, its page limit: more may exist", _PAGE)
        return [open_order_of(o, account_id) for o in orders if isinstance(o, Order)]

    async def cancel_all(self, account_id: str, timeout_secs: float) -> list[str]:
        """Cancel every open order and wait until none of them is working."""
        pending = {o.order_id for o in await self.open_orders(account_id)}
        if not pending:
            return []
        session = self._session()
        what = f"cancelling all orders of {account_id}"
        answers = await session.call(what, session.trading.cancel_orders, operation="order")
        assert isinstance(answers, list)
        refused = [str(a.id) for a in answers if a.status != 200]
        if refused:
            logger.warning("Alpaca refused to cancel orders %s", refused)
        cancelled: list[str] = []
        deadline = time.monotonic() + max(timeout_secs, 0)
        delay = _FIRST_POLL_SECS
        while pending:
            orders = await asyncio.gather(*(self.fetch(i) for i in sorted(pending)))
            for order in orders:
                status = order_status(order)
                if status.is_final:
                    pending.discard(str(order.id))
                    if status == OrderStatus.CANCELLED:
                        cancelled.append(str(order.id))
            remaining = deadline - time.monotonic()
            if pending and remaining <= 0:
                raise OrderExecutionError(
                    f"orders {sorted(pending)} of {account_id} still working {timeout_secs} s "
                    "after cancelling all"
                )
            if pending:
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, self._poll_max_secs)
        logger.info("Cancelled %s open orders of %s", len(cancelled), account_id)
        return cancelled

    async def bought_on(self, day: dt.date) -> frozenset[str]:
        """Symbols with a buy fill on the New York ``day``.

        An order counts when it filled some shares and its last update (its last fill, or a
        cancel after a partial fill) falls on ``day``: a partial fill yesterday whose rest was
        cancelled today also counts, which errs on the side of not selling.
        Orders submitted up to a week before ``day`` are considered (GTC orders filling late).
        """
        start = dt.datetime.combine(day, dt.time(0), NEW_YORK)
        bought: set[str] = set()
        for order in await self._buys_since(start - _BOUGHT_LOOKBACK):
            if whole_shares(order.filled_qty) <= 0 or not order.symbol:
                continue
            last = order.filled_at or order.updated_at
            if last.astimezone(NEW_YORK).date() == day:
                bought.add(order.symbol)
        return frozenset(bought)

    async def by_ref(self, order_ref: str, since: dt.datetime | None) -> list[OrderRecord]:
        """Orders whose ``client_order_id`` carries ``order_ref``, oldest first.

        Alpaca cannot search by ``client_order_id`` prefix: the orders submitted since
        ``since`` (default: a week back) are listed and matched here, exactly.
        """
        after = since if since is not None else dt.datetime.now(dt.UTC) - _BOUGHT_LOOKBACK
        # Alpaca compares ``after`` strictly: one second earlier keeps an order placed at it.
        listed = await self._orders_since(after - dt.timedelta(seconds=1), side=None)
        mine = [o for o in listed if order_ref_of(o.client_order_id) == order_ref]
        mine.sort(key=lambda o: (o.submitted_at or o.created_at, str(o.id)))
        return [order_record_of(o) for o in mine]

    async def _buys_since(self, after: dt.datetime) -> list[Order]:
        return await self._orders_since(after, side=OrderSide.BUY)

    async def _orders_since(self, after: dt.datetime, *, side: OrderSide | None) -> list[Order]:
        session = self._session()
        found: dict[str, Order] = {}
        until: dt.datetime | None = None
        what = "listing today's buys" if side is OrderSide.BUY else "listing orders"
        for _ in range(_MAX_PAGES):
            request = GetOrdersRequest(
                status=QueryOrderStatus.ALL,
                side=side,
                after=after,
                until=until,
                limit=_PAGE,
                direction=Sort.DESC,
            )
            page = await session.call(what, session.trading.get_orders, request)
            assert isinstance(page, list)
            orders = [o for o in page if isinstance(o, Order)]
            found.update((str(o.id), o) for o in orders)
            if len(orders) < _PAGE:
                break
            until = min(o.submitted_at for o in orders)
        return list(found.values())
