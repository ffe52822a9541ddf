"""The broker interface every connector implements.

Contract for all implementations (checked by ``broker_connector_base.conformance``):

* async only (but ``is_connected`` and ``take_warnings``, which read local state); required
  arguments positional, options keyword-only;
* returns base models only, never a broker library's own objects;
* order ids are strings everywhere, whatever the broker uses natively;
* every call is bounded in time: it returns or raises within the connector's configured timeout;
* calls may run concurrently (the rebalancer asks for a snapshot, quotes and today's buys at
  once): each answers as it would alone;
* failures raise the base exception tree: ``BrokerConnectionError`` when the broker cannot be
  reached, ``BrokerAPIError`` for an error answer, ``OrderExecutionError`` for a rejected or
  unconfirmable order, ``InvalidInputError`` (a ``ValueError``) for a malformed argument such
  as an order id in the wrong format or an unknown account.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from broker_connector_base.exceptions import InvalidInputError
from broker_connector_base.instruments import InstrumentRef
from broker_connector_base.models import (
    AccountSnapshot,
    ContractPrice,
    OpenOrder,
    OrderFill,
    OrderRecord,
    OrderResult,
    OrderStatus,
    TradingHoursStatus,
)
from broker_connector_base.order_spec import MARKET, OrderSpec, OrderType

__all__ = ["BrokerClient"]


class BrokerClient(ABC):
    """Abstract, async broker API client.

    Abstract methods are what every connector writes. ``wait_for_positions`` and
    ``take_warnings`` have working defaults (polling snapshots; no warnings) that a connector
    overrides when its broker does better (IB pushes position updates; IB quotes fall back to
    the last trade with a warning).
    """

    position_poll_max_secs: float = 1.0
    """Longest pause between two snapshots in the default ``wait_for_positions``."""

    supported_order_types: ClassVar[frozenset[OrderType]] = frozenset({"MARKET", "LIMIT"})
    """The ``OrderSpec.type`` values this connector can send (a class attribute, so that a
    configuration naming another type is refused when it is loaded, before any run)."""

    def check_order_spec(self, order: OrderSpec) -> None:
        """Refuse an order type this connector does not declare (before anything is sent).

        Raises:
            InvalidInputError: ``order.type`` is not in ``supported_order_types``.
        """
        self.check_order_type(order.type)

    def check_order_type(self, order_type: OrderType) -> None:
        """Refuse ``order_type`` unless this connector declares it.

        Raises:
            InvalidInputError: It is not in ``supported_order_types``.
        """
        if order_type not in self.supported_order_types:
            raise InvalidInputError(
                f"{type(self).__name__} cannot place {order_type} orders (it supports "
                f"{', '.join(sorted(self.supported_order_types))})",
                source="order",
            )

    @abstractmethod
    async def connect(self) -> bool:
        """Connect to the broker (again, after a disconnect or a lost connection).

        Orders placed before stay at the broker and keep their ids and ``order_ref``.

        Returns:
            True once connected and ready for requests.

        Raises:
            BrokerConnectionError: The broker could not be reached within the configured
                retries and timeout.
        """

    @abstractmethod
    async def disconnect(self) -> None:
        """Close the connection. Safe to call when not connected."""

    @abstractmethod
    def is_connected(self) -> bool:
        """Whether the connection is up now."""

    @abstractmethod
    async def get_account_snapshot(
        self, account_id: str, *, use_cached_prices: bool = False
    ) -> AccountSnapshot:
        """Balances and positions of ``account_id``, positions valued at market price.

        Args:
            account_id: The broker's account id.
            use_cached_prices: Value positions with cached prices when fresh enough.

        Raises:
            InvalidInputError: ``account_id`` is not an account of this connection.
        """

    @abstractmethod
    async def get_multiple_market_prices(
        self, symbols: Sequence[str], *, use_cache: bool = False
    ) -> list[ContractPrice]:
        """Quotes for ``symbols``, requested together, one ``ContractPrice`` per symbol in order.

        Raises:
            BrokerAPIError: A symbol is unknown or has no usable price; the message names it.
        """

    @abstractmethod
    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        """Place a day order. Negative ``quantity`` sells.

        Args:
            account_id: The broker's account id.
            symbol: Ticker symbol.
            quantity: Whole shares, non-zero; negative sells.
            order: Type, limit price and priority (``OrderSpec``; market by default). Its
                type must be one of ``supported_order_types``.
            order_ref: A tag stored with the order at the broker (the run id), so a restarted
                daemon can recognise its own orders.

        Returns:
            The acknowledgement, with the order id as a string and, where the broker told it
            already, its permanent id (``perm_id``).

        Raises:
            InvalidInputError: Zero quantity, or an order type this connector does not
                support (``check_order_spec``); nothing is sent.
            OrderExecutionError: The broker rejected the order (with ``order_id`` when it gave
                one). A broker that accepts an order and rejects it a moment later reports
                that through ``wait_for_order`` (status ``REJECTED``, nothing filled) instead.
            BrokerConnectionError: The connection failed; the order may or may not have
                reached the broker.
        """

    @abstractmethod
    async def get_open_orders(self, account_id: str) -> list[OpenOrder]:
        """Orders of ``account_id`` that are still working."""

    @abstractmethod
    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: datetime | None = None
    ) -> list[OrderRecord]:
        """Every order of ``account_id`` placed with ``order_ref`` that the broker still knows.

        What a restarted daemon reconciles its journal with: working orders and orders done
        this trading day (at least), with the shares their executions filled, whatever the
        connection saw of them (fills that happened while it was down are included). Orders
        are matched on ``order_ref`` exactly, never by order id, and each carries its
        permanent id (``perm_id``): order ids may be reused after a gateway restart.

        Args:
            account_id: The broker's account id.
            order_ref: The tag the orders were placed with (``place_order(order_ref=...)``).
            since: A hint: the orders were placed at or after this moment. Connectors whose
                broker can narrow the search by time use it; others may ignore it.

        Returns:
            One ``OrderRecord`` per order (each ``perm_id`` once), in placement order where
            the broker tells it; an empty list when none is known.

        Raises:
            InvalidInputError: ``account_id`` is not an account of this connection, or
                ``order_ref`` is empty.
        """

    @abstractmethod
    async def cancel_order(self, order_id: str) -> None:
        """Request cancellation of ``order_id``.

        Raises:
            InvalidInputError: ``order_id`` is not in this broker's id format.
            OrderExecutionError: No such order is known.
        """

    @abstractmethod
    async def get_order_status(self, order_id: str) -> OrderStatus:
        """Normalised status of ``order_id``; ``OrderStatus.NOT_FOUND`` when unknown.

        Raises:
            InvalidInputError: ``order_id`` is not in this broker's id format.
        """

    @abstractmethod
    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        """Wait until ``order_id`` reaches a final status, or ``timeout_secs`` passes.

        Returns:
            The status (non-final if the wait timed out), the filled quantity (signed like
            the order, a part of it after a partial fill), the remaining quantity and the
            average fill price.

        Raises:
            InvalidInputError: ``order_id`` is not in this broker's id format.
            OrderExecutionError: No such order is known.
            BrokerConnectionError: The connection was lost while waiting: raised at once, not
                at the end of ``timeout_secs`` (the order itself stays at the broker).
        """

    @abstractmethod
    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        """Cancel every open order of ``account_id`` and wait until none is working.

        Returns:
            The ids of the orders that were cancelled.

        Raises:
            OrderExecutionError: Orders were still working after ``timeout_secs``.
        """

    @abstractmethod
    async def get_trading_hours_status(self, symbols: Sequence[str]) -> TradingHoursStatus:
        """Whether every symbol is inside its regular (liquid) trading hours now."""

    @abstractmethod
    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        """Symbols of which ``account_id`` bought shares (any fill) this trading day.

        "Today" is the New York calendar day by the broker's clock. Selling such shares today
        would be a day trade (in a cash account, a good-faith violation when they were paid
        with unsettled proceeds), so rebalancers leave them alone until the next day.

        Raises:
            InvalidInputError: ``account_id`` is not an account of this connection.
        """

    async def wait_for_positions(
        self, account_id: str, expected: Mapping[str, Decimal], *, timeout_secs: float
    ) -> dict[str, Decimal]:
        """Wait until the positions of ``account_id`` show ``expected``, or ``timeout_secs``.

        Brokers report a fill before their positions show it; a rebalancer waits here after
        its sells so that the buys are planned from the shares really held.

        Args:
            account_id: The broker's account id.
            expected: Shares expected per symbol (0: no position).
            timeout_secs: Longest wait; the call returns (it does not raise) when it passes.

        Returns:
            The quantities last seen for the symbols of ``expected`` (0 when not held): equal
            to ``expected`` unless the wait timed out.

        Raises:
            InvalidInputError: ``account_id`` is not an account of this connection.
            BrokerConnectionError: The connection is down or was lost while waiting.
        """
        wanted = {s: Decimal(q) for s, q in expected.items()}
        deadline = time.monotonic() + timeout_secs
        delay = 0.01
        while True:
            snapshot = await self.get_account_snapshot(account_id, use_cached_prices=True)
            held = {p.symbol: p.quantity for p in snapshot.positions}
            seen = {s: held.get(s, Decimal(0)) for s in wanted}
            remaining = deadline - time.monotonic()
            if seen == wanted or remaining <= 0:
                return seen
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, self.position_poll_max_secs)

    async def resolve_instruments(self, instruments: Sequence[InstrumentRef]) -> None:
        """Pin symbols to securities (a contract id, an ISIN, a primary exchange) for the
        quotes and orders that follow on this client.

        A connector that can resolve such references looks each up now and refuses one that
        matches no security, or several, or a security with another ticker. The default
        refuses any reference: a connector that identifies securities by ticker alone must
        not trade a symbol the caller had to pin (that would be a guess).

        Raises:
            InvalidInputError: A reference cannot be used by this connector, or is wrong.
            BrokerAPIError: The broker finds no security, or several, for a reference.
        """
        if instruments:
            pinned = ", ".join(i.describe() for i in instruments)
            raise InvalidInputError(
                f"{type(self).__name__} identifies securities by ticker only and cannot use "
                f"{pinned}; trade these symbols at a broker that can",
                source="allocations",
            )

    def take_warnings(self) -> list[str]:
        """Warnings collected since the last call, oldest first; each is returned once.

        Things the caller should tell the owner although the call succeeded, e.g. a quote
        without bid/ask that fell back to the last trade. Rebalancers drain them into their
        results, so the owner sees what the numbers rest on. The default collects none.
        """
        return []
