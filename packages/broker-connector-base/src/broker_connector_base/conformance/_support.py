"""Settings and helpers shared by the conformance tests (see ``..conformance``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, TypeVar

import pytest

from broker_connector_base.base_client import BrokerClient
from broker_connector_base.exceptions import BrokerError, InvalidInputError
from broker_connector_base.models import AccountSnapshot, ContractPrice, OrderStatus
from broker_connector_base.types import CENT, to_cents

__all__ = ["RESTING", "ConformanceEnv", "ConformanceSupport", "held", "norm"]

_T = TypeVar("_T")

RESTING = frozenset({OrderStatus.WORKING, OrderStatus.PENDING})


@dataclass(frozen=True)
class ConformanceEnv:
    """What a connector hands the suite.

    Attributes:
        client: A connected client.
        account_id: An account with cash for a few orders of ``quantity`` shares of
            ``buy_symbol`` (the suite buys and sells back; it never shorts).
        buy_symbol: A liquid symbol that fills at once while the market is open.
        unknown_symbol: A symbol the broker does not know.
        unknown_account_id: An account id that is not an account of this connection.
        market_open: What ``get_trading_hours_status`` should report for ``buy_symbol``.
        invalid_order_id: An order id in the wrong format for this broker, or ``None`` when
            every string is a valid id.
        unknown_order_id: An id in the right format that no order has.
        extra_symbols: Further known symbols with prices, used to check that quotes come
            back in the order asked.
    """

    client: BrokerClient
    account_id: str
    buy_symbol: str
    unknown_symbol: str
    unknown_account_id: str
    market_open: bool = True
    invalid_order_id: str | None = "abc"
    unknown_order_id: str = "987654321"
    extra_symbols: tuple[str, ...] = ()


def norm(symbol: str) -> str:
    """``symbol`` the way models normalise it (whitespace collapsed, upper case)."""
    return " ".join(symbol.split()).upper()


def held(snapshot: AccountSnapshot, symbol: str) -> Decimal:
    """Shares of ``symbol`` in ``snapshot`` (0 when there is no position)."""
    position = snapshot.position(symbol)
    return position.quantity if position is not None else Decimal(0)


class ConformanceSupport:
    """Settings, the ``env`` fixture placeholder and helpers shared by the conformance tests."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    timeout_secs: ClassVar[float] = 10.0
    """Bound on every call, and how long an order may take to fill or cancel."""

    short_wait_secs: ClassVar[float] = 0.3
    """Timeout given to ``wait_for_order`` when the test expects it to time out."""

    quantity: ClassVar[int] = 1
    """Shares per test order."""

    resting_limit_factor: ClassVar[Decimal] = Decimal("0.5")
    """A limit buy priced at this fraction of the bid must rest, not fill."""

    value_tolerance: ClassVar[Decimal] = CENT
    """Allowed |market_value - quantity * market_price| per position."""

    @pytest.fixture
    def env(self) -> ConformanceEnv:
        """Override in the subclass: yield a ``ConformanceEnv`` with a connected client."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the `env` fixture to yield a ConformanceEnv"
        )

    # ----------------------------------------------------------------------------------
    # helpers
    # ----------------------------------------------------------------------------------

    async def call(self, awaitable: Awaitable[_T], *, waits_secs: float = 0.0) -> _T:
        """Await one broker call, failing the test if it outlives its bound.

        The bound is ``timeout_secs``, plus ``waits_secs`` for calls told to wait that long
        (``wait_for_order``, ``cancel_all_orders``).
        """
        bound = self.timeout_secs + waits_secs
        try:
            return await asyncio.wait_for(awaitable, bound)
        except TimeoutError:
            pytest.fail(f"broker call did not return within {bound} s")

    async def snapshot(self, env: ConformanceEnv) -> AccountSnapshot:
        """The current snapshot of ``env.account_id``."""
        return await self.call(env.client.get_account_snapshot(env.account_id))

    async def settled_snapshot(
        self, env: ConformanceEnv, symbol: str, expected: Decimal
    ) -> AccountSnapshot:
        """A snapshot once the position in ``symbol`` equals ``expected``.

        Brokers publish position changes a moment after the fill report, so the snapshot is
        polled (with backoff) for up to ``timeout_secs``; the last one is returned either way
        and the caller asserts on it.
        """
        deadline = time.monotonic() + self.timeout_secs
        delay = 0.01
        while True:
            snap = await self.snapshot(env)
            if held(snap, symbol) == expected or time.monotonic() >= deadline:
                return snap
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def quote(self, env: ConformanceEnv, symbol: str) -> ContractPrice:
        """The quote of one symbol."""
        [price] = await self.call(env.client.get_multiple_market_prices([symbol]))
        return price

    async def resting_limit_price(self, env: ConformanceEnv) -> Decimal:
        """A limit buy price far enough below the market that the order rests."""
        quote = await self.quote(env, env.buy_symbol)
        reference = next(
            (p for p in (quote.bid, quote.last, quote.close, quote.ask) if p is not None and p > 0),
            None,
        )
        assert reference is not None, f"no usable price for {env.buy_symbol}: {quote!r}"
        return max(to_cents(reference * self.resting_limit_factor), CENT)

    async def place_resting_buy(self, env: ConformanceEnv, order_ref: str) -> tuple[str, Decimal]:
        """Place a limit buy that rests; returns its id and limit price."""
        price = await self.resting_limit_price(env)
        result = await self.call(
            env.client.place_order(
                env.account_id,
                env.buy_symbol,
                self.quantity,
                order_type="LIMIT",
                price=price,
                order_ref=order_ref,
            )
        )
        assert result.status in RESTING, f"limit buy at {price} did not rest: {result!r}"
        return result.order_id, price

    async def cancel_quietly(self, env: ConformanceEnv, order_ids: Sequence[str]) -> None:
        """Best-effort cleanup of orders a failed test may have left resting."""
        for order_id in order_ids:
            with contextlib.suppress(BrokerError, InvalidInputError, TimeoutError):
                status = await asyncio.wait_for(
                    env.client.get_order_status(order_id), self.timeout_secs
                )
                if not status.is_final:
                    await asyncio.wait_for(env.client.cancel_order(order_id), self.timeout_secs)

    async def buy_filled(self, env: ConformanceEnv, order_ref: str | None = None) -> str:
        """Market-buy ``quantity`` shares, assert it filled, return the order id."""
        result = await self.call(
            env.client.place_order(
                env.account_id, env.buy_symbol, self.quantity, order_ref=order_ref
            )
        )
        fill = await self.call(
            env.client.wait_for_order(result.order_id, timeout_secs=self.timeout_secs),
            waits_secs=self.timeout_secs,
        )
        assert fill.status == OrderStatus.FILLED, fill
        return result.order_id

    @staticmethod
    def new_ref() -> str:
        """A fresh ``order_ref`` (what the daemon stores as its run id)."""
        return f"conf-{uuid.uuid4().hex[:12]}"

    @staticmethod
    def require_open_market(env: ConformanceEnv) -> None:
        """Skip the test when fills cannot happen."""
        if not env.market_open:
            pytest.skip("needs fills: env.market_open is False")
