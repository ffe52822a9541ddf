"""Conformance tests of placing, waiting for, listing and cancelling orders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from broker_connector_base.conformance._support import (
    RESTING,
    ConformanceEnv,
    ConformanceSupport,
    held,
    norm,
)
from broker_connector_base.exceptions import BrokerError, InvalidInputError, OrderExecutionError
from broker_connector_base.models import OrderStatus
from broker_connector_base.order_spec import ORDER_TYPES, OrderSpec, OrderType

__all__ = ["OrderTests"]

# Orders that must be refused before placing: a zero quantity, whatever the type.
_MALFORMED_ORDERS = [
    pytest.param("MARKET", id="zero-quantity-market"),
    pytest.param("LIMIT", id="zero-quantity-limit"),
]

_ID_METHODS = ["cancel_order", "get_order_status", "wait_for_order"]


class OrderTests(ConformanceSupport):
    """Guarantees of ``place_order``, ``wait_for_order``, ``get_open_orders`` and cancels."""

    # ----------------------------------------------------------------------------------
    # fills
    # ----------------------------------------------------------------------------------

    async def test_market_buy_fills_completely_and_grows_position(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        before = held(await self.snapshot(env), env.buy_symbol)
        ref = self.new_ref()
        result = await self.call(
            env.client.place_order(env.account_id, env.buy_symbol, self.quantity, order_ref=ref)
        )
        assert type(result.order_id) is str
        assert result.order_id
        assert result.symbol == norm(env.buy_symbol)
        assert result.quantity == self.quantity
        assert result.order_ref == ref
        assert result.status in {OrderStatus.FILLED, *RESTING}, result
        fill = await self.call(
            env.client.wait_for_order(result.order_id, timeout_secs=self.timeout_secs),
            waits_secs=self.timeout_secs,
        )
        assert fill.order_id == result.order_id
        assert fill.status == OrderStatus.FILLED, fill
        assert fill.filled_quantity == self.quantity
        assert fill.remaining_quantity == 0
        assert fill.avg_fill_price is not None
        assert fill.avg_fill_price > 0
        expected = before + self.quantity
        snap = await self.settled_snapshot(env, env.buy_symbol, expected)
        assert held(snap, env.buy_symbol) == expected

    async def test_market_buy_reduces_cash_by_at_least_its_cost(self, env: ConformanceEnv) -> None:
        self.require_open_market(env)
        first = await self.snapshot(env)
        before = held(first, env.buy_symbol)
        order_id = await self.buy_filled(env)
        fill = await self.call(env.client.wait_for_order(order_id, timeout_secs=0))
        assert fill.avg_fill_price is not None
        after = await self.settled_snapshot(env, env.buy_symbol, before + self.quantity)
        cost = fill.avg_fill_price * self.quantity
        # Commissions may take more; the cash must never go down by less than the cost.
        assert after.cash_balance <= first.cash_balance - cost + self.value_tolerance

    async def test_market_sell_after_buy_fills_and_restores_position(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        before = held(await self.snapshot(env), env.buy_symbol)
        buy_id = await self.buy_filled(env)
        await self.settled_snapshot(env, env.buy_symbol, before + self.quantity)
        result = await self.call(
            env.client.place_order(env.account_id, env.buy_symbol, -self.quantity)
        )
        assert result.quantity == -self.quantity
        assert result.order_id != buy_id
        fill = await self.call(
            env.client.wait_for_order(result.order_id, timeout_secs=self.timeout_secs),
            waits_secs=self.timeout_secs,
        )
        assert fill.status == OrderStatus.FILLED, fill
        assert fill.filled_quantity == -self.quantity
        assert fill.avg_fill_price is not None
        assert fill.avg_fill_price > 0
        snap = await self.settled_snapshot(env, env.buy_symbol, before)
        assert held(snap, env.buy_symbol) == before

    async def test_symbols_bought_today_include_a_filled_buy_only(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        await self.buy_filled(env)
        bought = await self.call(env.client.get_symbols_bought_today(env.account_id))
        assert isinstance(bought, frozenset), bought
        assert norm(env.buy_symbol) in bought
        never_bought = {norm(s) for s in (env.unknown_symbol, *env.extra_symbols)}
        assert not bought & never_bought, bought

    async def test_symbols_bought_today_unknown_account_raises_invalid_input_error(
        self, env: ConformanceEnv
    ) -> None:
        with pytest.raises(InvalidInputError):
            await self.call(env.client.get_symbols_bought_today(env.unknown_account_id))

    async def test_wait_for_order_on_filled_order_returns_same_fill_again(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        order_id = await self.buy_filled(env)
        first = await self.call(env.client.wait_for_order(order_id, timeout_secs=0))
        again = await self.call(env.client.wait_for_order(order_id, timeout_secs=0))
        assert first.status == again.status == OrderStatus.FILLED
        assert first.filled_quantity == again.filled_quantity == self.quantity
        assert first.avg_fill_price == again.avg_fill_price
        assert await self.call(env.client.get_order_status(order_id)) == OrderStatus.FILLED
        listed = await self.call(env.client.get_open_orders(env.account_id))
        assert order_id not in {o.order_id for o in listed}

    # ----------------------------------------------------------------------------------
    # resting orders and cancels
    # ----------------------------------------------------------------------------------

    async def test_limit_buy_far_below_bid_rests_and_is_listed_with_order_ref(
        self, env: ConformanceEnv
    ) -> None:
        ref = self.new_ref()
        order_id, price = await self.place_resting_buy(env, ref)
        try:
            assert await self.call(env.client.get_order_status(order_id)) in RESTING
            listed = await self.call(env.client.get_open_orders(env.account_id))
            matches = [o for o in listed if o.order_id == order_id]
            assert len(matches) == 1, listed
            [order] = matches
            assert order.symbol == norm(env.buy_symbol)
            assert order.quantity == self.quantity
            assert order.order_type == "LIMIT"
            assert order.limit_price == price
            assert order.order_ref == ref
            assert order.status in RESTING
            assert order.account_id in (None, env.account_id)
        finally:
            await self.cancel_quietly(env, [order_id])

    async def test_wait_for_order_resting_with_short_timeout_returns_non_final(
        self, env: ConformanceEnv
    ) -> None:
        order_id, _ = await self.place_resting_buy(env, self.new_ref())
        try:
            fill = await self.call(
                env.client.wait_for_order(order_id, timeout_secs=self.short_wait_secs),
                waits_secs=self.short_wait_secs,
            )
            assert fill.status in RESTING, fill
            assert fill.filled_quantity == 0
        finally:
            await self.cancel_quietly(env, [order_id])

    async def test_cancel_order_resting_limit_ends_cancelled_and_unlisted(
        self, env: ConformanceEnv
    ) -> None:
        order_id, _ = await self.place_resting_buy(env, self.new_ref())
        try:
            await self.call(env.client.cancel_order(order_id))
            fill = await self.call(
                env.client.wait_for_order(order_id, timeout_secs=self.timeout_secs),
                waits_secs=self.timeout_secs,
            )
            assert fill.status == OrderStatus.CANCELLED, fill
            assert fill.filled_quantity == 0
            assert await self.call(env.client.get_order_status(order_id)) == (OrderStatus.CANCELLED)
            listed = await self.call(env.client.get_open_orders(env.account_id))
            assert order_id not in {o.order_id for o in listed}
        finally:
            await self.cancel_quietly(env, [order_id])

    async def test_resting_orders_get_unique_string_ids(self, env: ConformanceEnv) -> None:
        ids: list[str] = []
        try:
            for _ in range(3):
                order_id, _ = await self.place_resting_buy(env, self.new_ref())
                ids.append(order_id)
            assert all(type(i) is str and i for i in ids)
            assert len(set(ids)) == len(ids), ids
        finally:
            await self.cancel_quietly(env, ids)

    async def test_cancel_all_orders_cancels_every_resting_order_and_returns_ids(
        self, env: ConformanceEnv
    ) -> None:
        ids: list[str] = []
        try:
            for _ in range(2):
                order_id, _ = await self.place_resting_buy(env, self.new_ref())
                ids.append(order_id)
            cancelled = await self.call(
                env.client.cancel_all_orders(env.account_id, timeout_secs=self.timeout_secs),
                waits_secs=self.timeout_secs,
            )
            assert all(type(i) is str for i in cancelled)
            assert set(ids) <= set(cancelled), (ids, cancelled)
            for order_id in ids:
                status = await self.call(env.client.get_order_status(order_id))
                assert status == OrderStatus.CANCELLED, (order_id, status)
            assert await self.call(env.client.get_open_orders(env.account_id)) == []
        finally:
            await self.cancel_quietly(env, ids)

    async def test_cancel_all_orders_with_none_open_returns_empty_list(
        self, env: ConformanceEnv
    ) -> None:
        timeout = self.timeout_secs
        await self.call(
            env.client.cancel_all_orders(env.account_id, timeout_secs=timeout), waits_secs=timeout
        )
        again = await self.call(
            env.client.cancel_all_orders(env.account_id, timeout_secs=timeout), waits_secs=timeout
        )
        assert again == []

    # ----------------------------------------------------------------------------------
    # unknown and malformed ids
    # ----------------------------------------------------------------------------------

    async def test_get_order_status_unknown_id_returns_not_found(self, env: ConformanceEnv) -> None:
        status = await self.call(env.client.get_order_status(env.unknown_order_id))
        assert status == OrderStatus.NOT_FOUND

    async def test_wait_for_order_unknown_id_raises_order_execution_error(
        self, env: ConformanceEnv
    ) -> None:
        with pytest.raises(OrderExecutionError):
            await self.call(
                env.client.wait_for_order(env.unknown_order_id, timeout_secs=1), waits_secs=1
            )

    async def test_cancel_order_unknown_id_raises_order_execution_error(
        self, env: ConformanceEnv
    ) -> None:
        with pytest.raises(OrderExecutionError):
            await self.call(env.client.cancel_order(env.unknown_order_id))

    @pytest.mark.parametrize("method", _ID_METHODS)
    async def test_order_id_in_wrong_format_raises_invalid_input_error(
        self, env: ConformanceEnv, method: str
    ) -> None:
        if env.invalid_order_id is None:
            pytest.skip("every string is a valid order id for this broker")
        bad = env.invalid_order_id
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "cancel_order": lambda: env.client.cancel_order(bad),
            "get_order_status": lambda: env.client.get_order_status(bad),
            "wait_for_order": lambda: env.client.wait_for_order(bad, timeout_secs=1),
        }
        with pytest.raises(InvalidInputError) as caught:
            await self.call(calls[method]())
        assert isinstance(caught.value, ValueError)

    # ----------------------------------------------------------------------------------
    # refused orders
    # ----------------------------------------------------------------------------------

    @pytest.mark.parametrize("order_type", _MALFORMED_ORDERS)
    async def test_place_order_zero_quantity_raises_invalid_input_error_and_places_nothing(
        self, env: ConformanceEnv, order_type: OrderType
    ) -> None:
        price = await self.resting_limit_price(env) if order_type == "LIMIT" else None
        await self._refused_before_placing(
            env, 0, OrderSpec(type=order_type, limit_price=price), InvalidInputError
        )

    @pytest.mark.parametrize("order_type", ORDER_TYPES)
    async def test_place_order_of_an_undeclared_type_raises_invalid_input_error(
        self, env: ConformanceEnv, order_type: OrderType
    ) -> None:
        if order_type in type(env.client).supported_order_types:
            pytest.skip(f"{order_type} is declared (tested in the order type tests)")
        price = await self.resting_limit_price(env) if order_type == "LIMIT" else None
        await self._refused_before_placing(
            env, self.quantity, OrderSpec(type=order_type, limit_price=price), InvalidInputError
        )

    async def _refused_before_placing(
        self, env: ConformanceEnv, quantity: int, order: OrderSpec, error: type[Exception]
    ) -> None:
        before_orders = await self.call(env.client.get_open_orders(env.account_id))
        before_held = held(await self.snapshot(env), env.buy_symbol)
        with pytest.raises(error):
            await self.call(
                env.client.place_order(env.account_id, env.buy_symbol, quantity, order=order)
            )
        after_orders = await self.call(env.client.get_open_orders(env.account_id))
        assert {o.order_id for o in after_orders} == {o.order_id for o in before_orders}
        assert held(await self.snapshot(env), env.buy_symbol) == before_held

    async def test_place_order_unknown_symbol_raises_and_places_nothing(
        self, env: ConformanceEnv
    ) -> None:
        before_orders = await self.call(env.client.get_open_orders(env.account_id))
        with pytest.raises((BrokerError, InvalidInputError)):
            await self.call(
                env.client.place_order(
                    env.account_id,
                    env.unknown_symbol,
                    self.quantity,
                    order=OrderSpec(type="LIMIT", limit_price=Decimal("1.00")),
                )
            )
        after_orders = await self.call(env.client.get_open_orders(env.account_id))
        assert {o.order_id for o in after_orders} == {o.order_id for o in before_orders}
