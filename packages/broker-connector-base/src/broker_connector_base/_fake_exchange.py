"""The broker side of the in-memory fake: accounts, quotes, orders, matching, test controls."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from broker_connector_base import _fake_matching as matching
from broker_connector_base._fake_state import (
    AccountState,
    FakeAccount,
    FakeOrderRecord,
    OrderState,
    exact,
    mark_price,
    normalise_symbol,
    parse_order_id,
)
from broker_connector_base.exceptions import (
    BrokerAPIError,
    InvalidInputError,
    MarketClosedError,
    OrderExecutionError,
)
from broker_connector_base.models import ContractPrice, OrderStatus
from broker_connector_base.order_spec import OrderSpec
from broker_connector_base.types import trading_day

__all__ = ["FakeExchange"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FakeExchange:
    """Cash accounts, quotes and an order book, shared by the ``InMemoryBroker`` clients on it.

    Market buys fill at the ask and sells at the bid; a limit order fills when marketable (at
    the ask or bid) and rests otherwise. Resting orders are matched again whenever a quote
    changes, the market opens or automatic fills resume. Cash-account rules: an order that
    would take cash below zero (counting the cash that working buys reserve), or sell more
    shares than held and not already being sold, is rejected with status ``REJECTED``.

    Args:
        accounts: Account id to initial state.
        quotes: Initial quotes; a symbol without a quote is unknown to the broker.
        market_open: Whether the market is open.
        next_open: When it opens next (reported while closed).
        commission_per_order: Charged once per order, with its first fill.
        require_settled_cash: Buys may only spend settled cash (stricter than cash >= 0).
        reject_orders_when_closed: Refuse orders with ``MarketClosedError`` while closed
            instead of letting them rest until the open.
        clock: Source of timestamps (order log, trading-hours checks).
    """

    def __init__(
        self,
        *,
        accounts: Mapping[str, FakeAccount] | None = None,
        quotes: Iterable[ContractPrice] = (),
        market_open: bool = True,
        next_open: datetime | None = None,
        commission_per_order: Decimal = Decimal(0),
        require_settled_cash: bool = False,
        reject_orders_when_closed: bool = False,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.commission_per_order = exact(commission_per_order)
        self.require_settled_cash = require_settled_cash
        self.reject_orders_when_closed = reject_orders_when_closed
        self.clock = clock
        self.market_open = market_open
        self.next_open = None if market_open else next_open
        self.accounts: dict[str, AccountState] = {}
        self.quotes: dict[str, ContractPrice] = {q.symbol: q for q in quotes}
        self.orders: dict[str, OrderState] = {}
        self._ids = itertools.count(1)
        # Permanent ids from a range of their own, so that code mixing them up with order
        # ids is caught by tests.
        self._perm_ids = itertools.count(1_000_001)
        self._closed_symbols: set[str] = set()
        self._rejected_symbols: dict[str, str] = {}
        self._partial_fills: dict[str, int] = {}
        self._auto_fill = True
        self._fill_delay_secs = 0.0
        for account_id, config in (accounts or {}).items():
            self.add_account(account_id, config)

    # ------------------------------------------------------------------------------------
    # test controls
    # ------------------------------------------------------------------------------------

    def add_account(self, account_id: str, config: FakeAccount) -> None:
        """Add (or replace) an account."""
        self.accounts[account_id] = AccountState.from_config(config)

    def set_quote(
        self,
        symbol: str,
        *,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        last: Decimal | None = None,
        close: Decimal | None = None,
    ) -> None:
        """Set a quote (all ``None``: known symbol without market data); match resting orders."""
        quote = ContractPrice(symbol=symbol, bid=bid, ask=ask, last=last, close=close)
        self.quotes[quote.symbol] = quote
        self._match_resting(quote.symbol)

    def set_market_open(self, is_open: bool, *, next_open: datetime | None = None) -> None:
        """Open or close the whole market; opening matches resting orders."""
        self.market_open = is_open
        self.next_open = None if is_open else next_open
        if is_open:
            self._match_resting()

    def set_symbol_open(self, symbol: str, is_open: bool) -> None:
        """Halt (``False``) or resume one symbol while the market is open."""
        symbol = normalise_symbol(symbol)
        if is_open:
            self._closed_symbols.discard(symbol)
            self._match_resting(symbol)
        else:
            self._closed_symbols.add(symbol)

    def reject_symbol(self, symbol: str, reason: str | None = "rejected by the fake") -> None:
        """Reject every new order in ``symbol`` with ``reason`` (``None`` stops rejecting)."""
        symbol = normalise_symbol(symbol)
        if reason is None:
            self._rejected_symbols.pop(symbol, None)
        else:
            self._rejected_symbols[symbol] = reason

    def set_partial_fill(self, symbol: str, max_shares: int | None) -> None:
        """Fill at most ``max_shares`` of each order in ``symbol``; the rest keeps working."""
        symbol = normalise_symbol(symbol)
        if max_shares is None:
            self._partial_fills.pop(symbol, None)
        else:
            self._partial_fills[symbol] = max_shares

    def set_fill_delay(self, secs: float) -> None:
        """Acknowledge marketable orders as working and fill them ``secs`` later (0: at once).

        Needs a running event loop when orders are placed (the fill is scheduled on it).
        """
        if secs < 0:
            raise ValueError(f"fill delay must not be negative, got {secs}")
        self._fill_delay_secs = secs

    def set_auto_fill(self, enabled: bool) -> None:
        """Stop (or resume) filling marketable orders; held orders rest until resumed."""
        self._auto_fill = enabled
        if enabled:
            self._match_resting()

    def fill_order(
        self, order_id: str, *, quantity: int | None = None, price: Decimal | None = None
    ) -> None:
        """Fill a working order now (all remaining shares by default), bypassing cash checks.

        Raises:
            ValueError: The order is unknown, final, or has no price to fill at.
        """
        order = self.orders.get(parse_order_id(order_id))
        if order is None or order.status.is_final:
            raise ValueError(f"order {order_id} is not working")
        shares = abs(order.remaining) if quantity is None else quantity
        quote = self.quotes[order.symbol]
        at = price if price is not None else matching.market_side(quote, order.quantity)
        if at is None:
            raise ValueError(f"no price to fill order {order_id} at")
        account = self.accounts[order.account_id]
        matching.execute(account, order, shares, at, commission=self.commission_per_order)

    def close_auction(self) -> list[str]:
        """The closing auction: every working market-on-close order fills at its symbol's
        close (its mark price when there is none), bypassing cash checks. Returns their ids."""
        auctioned = [o for o in self.orders.values() if o.order_type == "MOC"]
        auctioned = [o for o in auctioned if not o.status.is_final]
        for order in auctioned:
            quote = self.quotes[order.symbol]
            price = quote.close or mark_price(quote)
            account = self.accounts[order.account_id]
            matching.execute(
                account, order, abs(order.remaining), price, commission=self.commission_per_order
            )
        return [o.order_id for o in auctioned]

    def expire_open_orders(self) -> list[str]:
        """End of day: every working (day) order expires. Returns their ids."""
        expired = [o for o in self.orders.values() if not o.status.is_final]
        for order in expired:
            order.finish(OrderStatus.EXPIRED)
        return [o.order_id for o in expired]

    def symbols_bought_on(self, account_id: str, day: date) -> frozenset[str]:
        """Symbols of buy orders of ``account_id`` that filled (at least partly) on ``day``."""
        return frozenset(
            order.symbol
            for order in self.orders.values()
            if order.account_id == account_id
            and order.quantity > 0
            and order.filled > 0
            and trading_day(order.placed_at) == day
        )

    def settle(self) -> None:
        """Settle all cash, as the next business day would."""
        for account in self.accounts.values():
            account.settled_cash = account.cash

    @property
    def order_log(self) -> list[FakeOrderRecord]:
        """Every order placed (rejected ones included), in placement order."""
        return [order.record() for order in self.orders.values()]

    # ------------------------------------------------------------------------------------
    # operations used by InMemoryBroker
    # ------------------------------------------------------------------------------------

    def account(self, account_id: str) -> AccountState:
        """The account, or ``InvalidInputError`` when unknown."""
        try:
            return self.accounts[account_id]
        except KeyError:
            raise InvalidInputError(
                f"account {account_id!r} is not an account of this broker"
            ) from None

    def quote(self, symbol: str) -> ContractPrice:
        """The quote of ``symbol``, or ``BrokerAPIError`` naming it when unknown."""
        name = normalise_symbol(symbol)
        try:
            return self.quotes[name]
        except KeyError:
            raise BrokerAPIError(f"unknown symbol {name!r}: no security definition") from None

    def order(self, order_id: str) -> OrderState:
        """The order, or ``OrderExecutionError`` when unknown (``InvalidInputError``: bad id)."""
        try:
            return self.orders[parse_order_id(order_id)]
        except KeyError:
            raise OrderExecutionError(f"no order with id {order_id}", order_id=order_id) from None

    def is_open(self, symbol: str) -> bool:
        """Whether ``symbol`` trades now."""
        return self.market_open and normalise_symbol(symbol) not in self._closed_symbols

    def place(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        spec: OrderSpec,
        order_ref: str | None,
    ) -> OrderState:
        """Accept, reject or fill an order whose arguments were already checked."""
        account = self.account(account_id)
        symbol = normalise_symbol(symbol)
        quote = self.quotes.get(symbol)
        if quote is None:
            raise OrderExecutionError(f"cannot place an order in {symbol}: unknown symbol")
        if self.reject_orders_when_closed and not self.is_open(symbol):
            next_open = self.next_open.isoformat() if self.next_open else None
            raise MarketClosedError(f"market for {symbol} is closed", next_open=next_open)
        price = spec.limit_price
        order = OrderState(
            order_id=str(next(self._ids)),
            account_id=account_id,
            symbol=symbol,
            quantity=quantity,
            order_type=spec.type,
            limit_price=price,
            order_ref=order_ref,
            placed_at=self.clock(),
            status=OrderStatus.WORKING if self.is_open(symbol) else OrderStatus.PENDING,
            perm_id=str(next(self._perm_ids)),
            reserve_price=price if price is not None else matching.market_side(quote, quantity),
        )
        self.orders[order.order_id] = order
        reason = self._rejected_symbols.get(symbol) or matching.cash_rule_violation(
            account,
            order,
            self.orders.values(),
            commission=self.commission_per_order,
            settled_only=self.require_settled_cash,
        )
        if reason is not None:
            order.finish(OrderStatus.REJECTED, reason)
        elif self._fill_delay_secs > 0:
            asyncio.get_running_loop().call_later(self._fill_delay_secs, self._match, order)
        else:
            self._match(order)
        return order

    def cancel(self, order: OrderState) -> None:
        """Cancel a working order; cancelling a cancelled one is a no-op."""
        if order.status == OrderStatus.CANCELLED:
            return
        if order.status.is_final:
            raise OrderExecutionError(
                f"order {order.order_id} is {order.status} and cannot be cancelled",
                order_id=order.order_id,
            )
        order.finish(OrderStatus.CANCELLED)

    def orders_by_ref(self, account_id: str, order_ref: str) -> list[OrderState]:
        """Orders of ``account_id`` placed with ``order_ref``, in placement order."""
        return [
            o
            for o in self.orders.values()
            if o.account_id == account_id and o.order_ref == order_ref
        ]

    def working_orders(self, account_id: str) -> list[OrderState]:
        """Orders of ``account_id`` that can still fill."""
        return [
            o for o in self.orders.values() if o.account_id == account_id and not o.status.is_final
        ]

    # ------------------------------------------------------------------------------------
    # matching
    # ------------------------------------------------------------------------------------

    def _match(self, order: OrderState) -> None:
        """Fill ``order`` as far as the quote, the knobs and the cash rules allow."""
        if order.status.is_final or not (self._auto_fill and self.is_open(order.symbol)):
            return
        price = matching.fill_price(self.quotes[order.symbol], order)
        shares = abs(order.remaining)
        cap = self._partial_fills.get(order.symbol)
        if cap is not None:
            shares = min(shares, max(cap - abs(order.filled), 0))
        if price is None or shares == 0:
            return
        account = self.accounts[order.account_id]
        commission = self.commission_per_order
        reason = matching.fill_violation(
            account,
            order,
            shares,
            price,
            commission=commission,
            settled_only=self.require_settled_cash,
        )
        if reason is not None:
            order.finish(OrderStatus.REJECTED, reason)
            return
        matching.execute(account, order, shares, price, commission=commission)

    def _match_resting(self, symbol: str | None = None) -> None:
        for order in list(self.orders.values()):
            if order.status.is_final or symbol not in (None, order.symbol):
                continue
            if order.status == OrderStatus.PENDING and self.is_open(order.symbol):
                order.status = OrderStatus.WORKING
            self._match(order)
