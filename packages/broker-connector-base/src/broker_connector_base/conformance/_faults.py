"""Conformance tests of the unhappy paths: broker-side rejection, partial fills, a connection
lost while waiting, a connection that cannot be made (``ConformanceEnv.faults``)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from broker_connector_base.conformance._support import (
    RESTING,
    BrokerFaults,
    ConformanceEnv,
    ConformanceSupport,
    held,
    maybe_await,
)
from broker_connector_base.exceptions import (
    BrokerConnectionError,
    BrokerError,
    OrderExecutionError,
)
from broker_connector_base.models import OrderFill, OrderStatus

__all__ = ["FaultTests"]


def _faults(env: ConformanceEnv) -> BrokerFaults:
    if env.faults is None:
        pytest.fail(
            "ConformanceEnv.faults is None: give the suite a way to provoke rejections, partial "
            "fills, dropped connections and failed connects (or skip this test with a reason)"
        )
    return env.faults


class FaultTests(ConformanceSupport):
    """What a connector does when the broker refuses, fills part, or goes away."""

    async def test_order_rejected_by_broker_is_reported_rejected_and_changes_nothing(
        self, env: ConformanceEnv
    ) -> None:
        before = await self.snapshot(env)
        await maybe_await(_faults(env).reject_orders(env.buy_symbol))
        order_id = await self._place_rejected(env)
        if order_id is not None:
            status = await self.call(env.client.get_order_status(order_id))
            assert status in {OrderStatus.REJECTED, OrderStatus.NOT_FOUND}, status
        listed = await self.call(env.client.get_open_orders(env.account_id))
        assert order_id is None or order_id not in {o.order_id for o in listed}
        after = await self.snapshot(env)
        assert held(after, env.buy_symbol) == held(before, env.buy_symbol)
        assert after.cash_balance == before.cash_balance

    async def _place_rejected(self, env: ConformanceEnv) -> str | None:
        """Place an order the broker rejects; its id (``None`` when the broker gave none).

        A broker rejects at placement (``place_order`` raises ``OrderExecutionError``), or
        accepts first and rejects a moment later (the wait for the order ends ``REJECTED``
        with nothing filled): both are allowed, nothing else is.
        """
        ref = self.new_ref()
        try:
            result = await self.call(
                env.client.place_order(env.account_id, env.buy_symbol, self.quantity, order_ref=ref)
            )
        except OrderExecutionError as exc:
            return exc.order_id
        fill = await self.call(
            env.client.wait_for_order(result.order_id, timeout_secs=self.timeout_secs),
            waits_secs=self.timeout_secs,
        )
        assert fill.status == OrderStatus.REJECTED, fill
        assert fill.filled_quantity == 0, fill
        return result.order_id

    async def test_partial_fill_reports_the_filled_part_and_the_rest_keeps_working(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        quantity = max(2, self.quantity)
        before = held(await self.snapshot(env), env.buy_symbol)
        await maybe_await(_faults(env).fill_partially(env.buy_symbol))
        result = await self.call(env.client.place_order(env.account_id, env.buy_symbol, quantity))
        try:
            fill = await self._first_fill(env, result.order_id)
            assert fill.status in RESTING, fill
            assert 0 < fill.filled_quantity < quantity, fill
            assert fill.remaining_quantity == quantity - fill.filled_quantity, fill
            assert fill.avg_fill_price is not None
            assert fill.avg_fill_price > 0
            await self.call(env.client.cancel_order(result.order_id))
            final = await self.call(
                env.client.wait_for_order(result.order_id, timeout_secs=self.timeout_secs),
                waits_secs=self.timeout_secs,
            )
            assert final.status == OrderStatus.CANCELLED, final
            assert final.filled_quantity == fill.filled_quantity, final
            expected = before + fill.filled_quantity
            snap = await self.settled_snapshot(env, env.buy_symbol, expected)
            assert held(snap, env.buy_symbol) == expected
        finally:
            await self.cancel_quietly(env, [result.order_id])

    async def _first_fill(self, env: ConformanceEnv, order_id: str) -> OrderFill:
        """The order's state once something filled (short waits, up to ``timeout_secs``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_secs
        while True:
            fill = await self.call(
                env.client.wait_for_order(order_id, timeout_secs=self.short_wait_secs),
                waits_secs=self.short_wait_secs,
            )
            if fill.filled_quantity or fill.status.is_final or loop.time() >= deadline:
                return fill

    async def test_connection_lost_while_waiting_for_an_order_raises_at_once(
        self, env: ConformanceEnv
    ) -> None:
        order_id, _ = await self.place_resting_buy(env, self.new_ref())
        # Far longer than the bound ``call`` allows: the wait must end with the connection,
        # not run into its own timeout.
        long_wait = self.timeout_secs * 10
        waiting = asyncio.ensure_future(env.client.wait_for_order(order_id, timeout_secs=long_wait))
        try:
            # One round trip after the wait started, so the wait is under way when the
            # connection goes.
            await self.call(env.client.get_order_status(order_id))
            assert not waiting.done(), waiting
            await maybe_await(_faults(env).drop_connection())
            with pytest.raises(BrokerConnectionError):
                await self.call(waiting)
        finally:
            waiting.cancel()
            await self._reconnect_and_cancel(env, order_id)

    async def _reconnect_and_cancel(self, env: ConformanceEnv, order_id: str) -> None:
        """Best effort, leave the broker as found: the order outlived the connection."""
        with contextlib.suppress(BrokerError, TimeoutError):
            if not env.client.is_connected():
                await asyncio.wait_for(env.client.connect(), self.timeout_secs)
        await self.cancel_quietly(env, [order_id])

    async def test_connect_to_unreachable_broker_raises_broker_connection_error_in_time(
        self, env: ConformanceEnv
    ) -> None:
        client = _faults(env).unreachable_client()
        try:
            with pytest.raises(BrokerConnectionError):
                await self.call(client.connect())
            assert client.is_connected() is False
        finally:
            await self.call(client.disconnect())
