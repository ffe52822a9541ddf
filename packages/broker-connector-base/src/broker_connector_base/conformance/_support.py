"""Settings and helpers shared by the conformance tests (see ``..conformance``)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import pytest

from broker_connector_base.base_client import BrokerClient
from broker_connector_base.exceptions import (
    BrokerConnectionError,
    BrokerError,
    InvalidInputError,
)
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from broker_connector_base.models import AccountSnapshot, ContractPrice, OrderStatus
from broker_connector_base.order_spec import OrderSpec
from broker_connector_base.types import CENT, to_cents

__all__ = [
    "RESTING",
    "BrokerFaults",
    "ConformanceEnv",
    "ConformanceSupport",
    "fake_faults",
    "held",
    "maybe_await",
    "norm",
    "overridden_tests",
]

_T = TypeVar("_T")

RESTING = frozenset({OrderStatus.WORKING, OrderStatus.PENDING})


FaultAction = Callable[..., object]
"""A fault switch: a plain function or a coroutine function (the suite awaits what it returns
when that is awaitable, and ignores anything else, such as a simulator's new settings)."""


@dataclass(frozen=True)
class BrokerFaults:
    """How the suite provokes a broker's unhappy paths (the connector's fixture supplies them).

    Attributes:
        reject_orders: ``reject_orders(symbol)``: from now on the broker rejects every new
            order in ``symbol`` (as a broker refuses a symbol the account may not trade).
        fill_partially: ``fill_partially(symbol)``: from now on orders in ``symbol`` fill part
            of their quantity (at least one share of two or more, never all) and the rest
            keeps working. A broker that can only do this for every symbol may.
        drop_connection: ``drop_connection()``: the connection to the broker breaks now, from
            the broker's side (a gateway restart, a network cut); orders stay at the broker.
        unreachable_client: ``unreachable_client()``: a new, disconnected client of the same
            connector configured for a broker that is not there (a closed port, a refused
            login), with short timeouts.
    """

    reject_orders: FaultAction
    fill_partially: FaultAction
    drop_connection: FaultAction
    unreachable_client: Callable[[], BrokerClient]


def fake_faults(broker: InMemoryBroker) -> BrokerFaults:
    """The fault switches of the in-memory fake ``broker`` (a reference for connectors).

    The unreachable client is of ``broker``'s own class, so a subclass is tested as itself.
    """

    def unreachable() -> InMemoryBroker:
        client = type(broker)(FakeExchange())
        client.fail_next("connect", BrokerConnectionError("connection refused: nothing listens"))
        return client

    return BrokerFaults(
        reject_orders=lambda symbol: broker.exchange.reject_symbol(symbol, "not permitted"),
        fill_partially=lambda symbol: broker.exchange.set_partial_fill(symbol, 1),
        drop_connection=broker.drop_connection,
        unreachable_client=unreachable,
    )


async def maybe_await(result: object) -> None:
    """Await ``result`` when a fault switch returned an awaitable."""
    if inspect.isawaitable(result):
        await result


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
        faults: How to provoke rejections, partial fills, lost connections and failed
            connects; the tests that need one fail while it is ``None`` (a connector that
            truly cannot provoke one skips those tests with a reason instead).
        close_auction: ``close_auction()`` runs the closing auction now (the stand-in's
            control), so that market-on-close orders fill; ``None`` when the broker cannot
            be made to (the MOC tests then check placing, listing and cancelling only).
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
    faults: BrokerFaults | None = None
    close_auction: FaultAction | None = None


def _skipped_with_reason(function: object) -> bool:
    """Whether ``function`` carries a skip/skipif/xfail mark that gives a reason."""
    for mark in getattr(function, "pytestmark", []):
        if mark.name not in {"skip", "skipif", "xfail"}:
            continue
        reason = mark.kwargs.get("reason") or (
            mark.args[0] if mark.name == "skip" and mark.args else ""
        )
        if isinstance(reason, str) and reason.strip():
            return True
    return False


def overridden_tests(cls: type, suite: type) -> list[str]:
    """The tests of ``suite`` that ``cls`` replaced or removed without a skip and a reason.

    A connector subclasses the suite and overrides only its fixtures and settings; a
    guarantee it cannot honour is overridden with ``@pytest.mark.skip(reason=...)`` (or
    ``xfail``), so the reason shows in every test report. Anything else would weaken the
    suite silently.
    """
    bad = []
    for name in sorted(n for n in dir(suite) if n.startswith("test_")):
        original: Any = getattr(suite, name)
        mine: Any = getattr(cls, name, None)
        if mine is original:
            continue
        if mine is None or not callable(mine) or not _skipped_with_reason(mine):
            bad.append(name)
    return bad


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
                order=OrderSpec(type="LIMIT", limit_price=price),
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
