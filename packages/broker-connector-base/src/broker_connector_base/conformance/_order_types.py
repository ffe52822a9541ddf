"""Conformance tests of the order types a connector declares (``supported_order_types``).

Each type the connector says it sends is placed for real: a marketable LIMIT fills within its
limit, MIDPRICE between the bid and the ask, every ADAPTIVE priority fills, a market-on-close
order rests in the session and (where the stand-in can run a closing auction) fills at the
close. A filled order reports what it cost in commission.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from broker_connector_base.conformance._support import (
    RESTING,
    ConformanceEnv,
    ConformanceSupport,
    held,
    maybe_await,
    norm,
)
from broker_connector_base.models import OrderFill, OrderStatus
from broker_connector_base.order_spec import ADAPTIVE_PRIORITIES, ORDER_TYPES, OrderSpec, OrderType
from broker_connector_base.types import CENT, to_cents

__all__ = ["OrderTypeTests"]


class OrderTypeTests(ConformanceSupport):
    """Guarantees of each declared order type."""

    def require_type(self, env: ConformanceEnv, order_type: OrderType) -> None:
        """Skip the test when the connector does not declare ``order_type``."""
        if order_type not in type(env.client).supported_order_types:
            pytest.skip(f"{type(env.client).__name__} does not declare {order_type} orders")

    async def place_and_wait(self, env: ConformanceEnv, order: OrderSpec) -> OrderFill:
        """Buy ``quantity`` shares of ``buy_symbol`` with ``order`` and wait for the end."""
        result = await self.call(
            env.client.place_order(
                env.account_id, env.buy_symbol, self.quantity, order=order, order_ref=self.new_ref()
            )
        )
        assert result.status in {OrderStatus.FILLED, *RESTING}, result
        return await self.call(
            env.client.wait_for_order(result.order_id, timeout_secs=self.timeout_secs),
            waits_secs=self.timeout_secs,
        )

    async def test_supported_order_types_are_a_class_attribute_with_market(
        self, env: ConformanceEnv
    ) -> None:
        declared = type(env.client).supported_order_types
        assert isinstance(declared, frozenset), declared
        assert "MARKET" in declared
        assert declared <= set(ORDER_TYPES), declared

    async def test_filled_market_order_reports_its_commission(self, env: ConformanceEnv) -> None:
        self.require_open_market(env)
        fill = await self.place_and_wait(env, OrderSpec())
        assert fill.status == OrderStatus.FILLED, fill
        # 0 at a broker that charges none; None would mean the cost is unknown.
        assert fill.commission is not None, fill
        assert fill.commission >= 0

    async def test_marketable_limit_buy_fills_within_its_limit(self, env: ConformanceEnv) -> None:
        self.require_type(env, "LIMIT")
        self.require_open_market(env)
        quote = await self.quote(env, env.buy_symbol)
        far_side = quote.ask or quote.last
        assert far_side, f"no ask or last for {env.buy_symbol}: {quote!r}"
        limit = to_cents(far_side * Decimal("1.01"))
        fill = await self.place_and_wait(env, OrderSpec(type="LIMIT", limit_price=limit))
        assert fill.status == OrderStatus.FILLED, fill
        assert fill.avg_fill_price is not None
        assert 0 < fill.avg_fill_price <= limit

    async def test_midprice_buy_fills_between_bid_and_ask(self, env: ConformanceEnv) -> None:
        self.require_type(env, "MIDPRICE")
        self.require_open_market(env)
        quote = await self.quote(env, env.buy_symbol)
        assert quote.bid, f"MIDPRICE needs a two-sided quote: {quote!r}"
        assert quote.ask, f"MIDPRICE needs a two-sided quote: {quote!r}"
        fill = await self.place_and_wait(env, OrderSpec(type="MIDPRICE"))
        assert fill.status == OrderStatus.FILLED, fill
        assert fill.avg_fill_price is not None
        assert quote.bid <= fill.avg_fill_price <= quote.ask, (quote, fill)
        if quote.ask - quote.bid > CENT:
            # Pegged to the midpoint: on a spread wider than a cent it never takes the ask.
            assert fill.avg_fill_price < quote.ask, (quote, fill)

    @pytest.mark.parametrize("priority", ADAPTIVE_PRIORITIES)
    async def test_adaptive_buy_fills_at_every_priority(
        self, env: ConformanceEnv, priority: str
    ) -> None:
        self.require_type(env, "ADAPTIVE")
        self.require_open_market(env)
        quote = await self.quote(env, env.buy_symbol)
        fill = await self.place_and_wait(env, OrderSpec.of("ADAPTIVE", priority=priority))
        assert fill.status == OrderStatus.FILLED, fill
        assert fill.avg_fill_price is not None
        if quote.bid and quote.ask:
            assert quote.bid <= fill.avg_fill_price <= quote.ask, (quote, fill)

    async def test_moc_buy_rests_in_the_session_listed_as_moc(self, env: ConformanceEnv) -> None:
        self.require_type(env, "MOC")
        result = await self.call(
            env.client.place_order(
                env.account_id,
                env.buy_symbol,
                self.quantity,
                order=OrderSpec(type="MOC"),
                order_ref=self.new_ref(),
            )
        )
        try:
            assert result.status in RESTING, result
            fill = await self.call(
                env.client.wait_for_order(result.order_id, timeout_secs=self.short_wait_secs),
                waits_secs=self.short_wait_secs,
            )
            assert fill.status in RESTING, fill
            assert fill.filled_quantity == 0
            listed = await self.call(env.client.get_open_orders(env.account_id))
            [order] = [o for o in listed if o.order_id == result.order_id]
            assert order.order_type == "MOC"
            assert order.symbol == norm(env.buy_symbol)
        finally:
            await self.cancel_quietly(env, [result.order_id])

    async def test_moc_buy_fills_in_the_closing_auction(self, env: ConformanceEnv) -> None:
        self.require_type(env, "MOC")
        self.require_open_market(env)  # the auction closes a session the order worked in
        if env.close_auction is None:
            pytest.skip("the broker cannot be made to run a closing auction (env.close_auction)")
        before = held(await self.snapshot(env), env.buy_symbol)
        result = await self.call(
            env.client.place_order(
                env.account_id, env.buy_symbol, self.quantity, order=OrderSpec(type="MOC")
            )
        )
        try:
            await maybe_await(env.close_auction())
            fill = await self.call(
                env.client.wait_for_order(result.order_id, timeout_secs=self.timeout_secs),
                waits_secs=self.timeout_secs,
            )
            assert fill.status == OrderStatus.FILLED, fill
            assert fill.filled_quantity == self.quantity
            assert fill.avg_fill_price is not None
            assert fill.avg_fill_price > 0
            snap = await self.settled_snapshot(env, env.buy_symbol, before + self.quantity)
            assert held(snap, env.buy_symbol) == before + self.quantity
        finally:
            await self.cancel_quietly(env, [result.order_id])
