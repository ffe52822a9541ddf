"""Conformance tests of ``get_orders_by_ref``: what a restarted daemon reconciles with."""

from __future__ import annotations

import pytest

from broker_connector_base.conformance._support import (
    RESTING,
    ConformanceEnv,
    ConformanceSupport,
    norm,
)
from broker_connector_base.exceptions import InvalidInputError
from broker_connector_base.models import OrderRecord, OrderStatus

__all__ = ["ReconcileTests"]


def _by_order_id(records: list[OrderRecord], order_id: str) -> OrderRecord:
    matches = [r for r in records if r.order_id == order_id]
    assert len(matches) == 1, (order_id, records)
    return matches[0]


class ReconcileTests(ConformanceSupport):
    """Guarantees of ``get_orders_by_ref``: every order of a tag, with its real fills."""

    async def orders_by_ref(self, env: ConformanceEnv, ref: str) -> list[OrderRecord]:
        """The broker's records of ``ref`` in ``env.account_id``."""
        records = await self.call(env.client.get_orders_by_ref(env.account_id, ref))
        assert isinstance(records, list), records
        assert all(isinstance(r, OrderRecord) for r in records), records
        return records

    async def test_orders_by_ref_filled_buy_reports_fill_and_permanent_id(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        ref = self.new_ref()
        result = await self.call(
            env.client.place_order(env.account_id, env.buy_symbol, self.quantity, order_ref=ref)
        )
        fill = await self.call(
            env.client.wait_for_order(result.order_id, timeout_secs=self.timeout_secs),
            waits_secs=self.timeout_secs,
        )
        assert fill.status == OrderStatus.FILLED, fill
        record = _by_order_id(await self.orders_by_ref(env, ref), result.order_id)
        assert record.perm_id
        assert result.perm_id in (None, record.perm_id), (result, record)
        assert record.symbol == norm(env.buy_symbol)
        assert record.quantity in (self.quantity, None)
        assert record.status == OrderStatus.FILLED, record
        assert record.filled_quantity == self.quantity
        assert record.avg_fill_price == fill.avg_fill_price
        assert record.order_ref == ref
        assert record.account_id in (None, env.account_id)

    async def test_orders_by_ref_sell_is_signed_and_listed_after_its_buy(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        ref = self.new_ref()
        buy_id = await self.buy_filled(env, order_ref=ref)
        sell = await self.call(
            env.client.place_order(env.account_id, env.buy_symbol, -self.quantity, order_ref=ref)
        )
        done = await self.call(
            env.client.wait_for_order(sell.order_id, timeout_secs=self.timeout_secs),
            waits_secs=self.timeout_secs,
        )
        assert done.status == OrderStatus.FILLED, done
        records = await self.orders_by_ref(env, ref)
        assert [r.order_id for r in records] == [buy_id, sell.order_id], records
        record = records[1]
        assert record.quantity in (-self.quantity, None)
        assert record.filled_quantity == -self.quantity
        assert len({r.perm_id for r in records}) == 2, records

    async def test_orders_by_ref_lists_resting_order_then_its_cancel(
        self, env: ConformanceEnv
    ) -> None:
        ref = self.new_ref()
        order_id, _ = await self.place_resting_buy(env, ref)
        try:
            resting = _by_order_id(await self.orders_by_ref(env, ref), order_id)
            assert resting.status in RESTING, resting
            assert resting.quantity == self.quantity
            assert resting.filled_quantity == 0
            assert resting.avg_fill_price is None
            await self.call(env.client.cancel_order(order_id))
            fill = await self.call(
                env.client.wait_for_order(order_id, timeout_secs=self.timeout_secs),
                waits_secs=self.timeout_secs,
            )
            assert fill.status == OrderStatus.CANCELLED, fill
            cancelled = _by_order_id(await self.orders_by_ref(env, ref), order_id)
            assert cancelled.status == OrderStatus.CANCELLED, cancelled
            assert cancelled.perm_id == resting.perm_id
            assert cancelled.filled_quantity == 0
        finally:
            await self.cancel_quietly(env, [order_id])

    async def test_orders_by_ref_matches_the_tag_exactly(self, env: ConformanceEnv) -> None:
        ref = self.new_ref()
        ids: list[str] = []
        try:
            for tag in (ref, f"{ref}-other", ref[:-1]):
                order_id, _ = await self.place_resting_buy(env, tag)
                ids.append(order_id)
            records = await self.orders_by_ref(env, ref)
            assert [r.order_id for r in records] == ids[:1], records
            assert all(r.order_ref == ref for r in records), records
        finally:
            await self.cancel_quietly(env, ids)

    async def test_orders_by_ref_unknown_tag_returns_empty_list(self, env: ConformanceEnv) -> None:
        assert await self.orders_by_ref(env, self.new_ref()) == []

    async def test_orders_by_ref_unknown_account_raises_invalid_input_error(
        self, env: ConformanceEnv
    ) -> None:
        with pytest.raises(InvalidInputError):
            await self.call(env.client.get_orders_by_ref(env.unknown_account_id, self.new_ref()))

    async def test_orders_by_ref_same_after_reconnecting(self, env: ConformanceEnv) -> None:
        self.require_open_market(env)
        ref = self.new_ref()
        await self.buy_filled(env, order_ref=ref)
        before = await self.orders_by_ref(env, ref)
        await self.call(env.client.disconnect())
        assert await self.call(env.client.connect()) is True
        after = await self.orders_by_ref(env, ref)
        assert after == before
