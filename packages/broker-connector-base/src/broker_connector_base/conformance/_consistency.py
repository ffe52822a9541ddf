"""Conformance tests of state that must stay consistent: concurrent calls, an order across a
reconnect, positions catching up with fills (``wait_for_positions``), drained warnings."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from broker_connector_base.conformance._support import (
    RESTING,
    ConformanceEnv,
    ConformanceSupport,
    held,
    norm,
)
from broker_connector_base.exceptions import InvalidInputError
from broker_connector_base.models import (
    AccountSnapshot,
    ContractPrice,
    OpenOrder,
    TradingHoursStatus,
)

__all__ = ["ConsistencyTests"]

_Answers = tuple[
    AccountSnapshot,
    list[ContractPrice],
    list[ContractPrice],
    list[OpenOrder],
    frozenset[str],
    TradingHoursStatus,
]


def _holdings(snapshot: AccountSnapshot) -> dict[str, Decimal]:
    return {p.symbol: p.quantity for p in snapshot.positions}


class ConsistencyTests(ConformanceSupport):
    """Guarantees that hold across calls, connections and time."""

    async def test_concurrent_calls_answer_as_the_same_calls_one_by_one(
        self, env: ConformanceEnv
    ) -> None:
        client, account, symbols = env.client, env.account_id, [env.buy_symbol, *env.extra_symbols]

        def answers() -> asyncio.Future[_Answers]:
            return asyncio.gather(
                client.get_account_snapshot(account),
                client.get_multiple_market_prices(symbols),
                client.get_multiple_market_prices(list(reversed(symbols))),
                client.get_open_orders(account),
                client.get_symbols_bought_today(account),
                client.get_trading_hours_status(symbols),
            )

        alone: _Answers = (
            await self.call(client.get_account_snapshot(account)),
            await self.call(client.get_multiple_market_prices(symbols)),
            await self.call(client.get_multiple_market_prices(list(reversed(symbols)))),
            await self.call(client.get_open_orders(account)),
            await self.call(client.get_symbols_bought_today(account)),
            await self.call(client.get_trading_hours_status(symbols)),
        )
        # The same twelve calls at once: no answer may depend on what else is under way.
        together = await self.call(asyncio.gather(answers(), answers()))
        for snapshot, prices, backwards, orders, bought, hours in together:
            assert snapshot.account_id == account
            assert _holdings(snapshot) == _holdings(alone[0])
            assert snapshot.cash_balance == alone[0].cash_balance
            assert [p.symbol for p in prices] == [norm(s) for s in symbols]
            assert [p.symbol for p in backwards] == [norm(s) for s in reversed(symbols)]
            assert prices == alone[1]
            assert orders == alone[3]
            assert bought == alone[4]
            assert hours.is_open == alone[5].is_open

    async def test_order_ref_and_id_of_a_resting_order_survive_a_reconnect(
        self, env: ConformanceEnv
    ) -> None:
        ref = self.new_ref()
        order_id, price = await self.place_resting_buy(env, ref)
        try:
            await self.call(env.client.disconnect())
            assert await self.call(env.client.connect()) is True
            listed = await self.call(env.client.get_open_orders(env.account_id))
            matches = [o for o in listed if o.order_id == order_id]
            assert len(matches) == 1, listed
            [order] = matches
            assert order.order_ref == ref
            assert order.limit_price == price
            assert order.quantity == self.quantity
            assert await self.call(env.client.get_order_status(order_id)) in RESTING
        finally:
            await self.cancel_quietly(env, [order_id])

    async def test_wait_for_positions_after_a_fill_returns_the_expected_quantity(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        before = held(await self.snapshot(env), env.buy_symbol)
        await self.buy_filled(env)
        expected = {norm(env.buy_symbol): before + self.quantity}
        seen = await self.call(
            env.client.wait_for_positions(env.account_id, expected, timeout_secs=self.timeout_secs),
            waits_secs=self.timeout_secs,
        )
        assert seen == expected

    async def test_wait_for_positions_never_shown_returns_what_it_saw_at_the_timeout(
        self, env: ConformanceEnv
    ) -> None:
        before = held(await self.snapshot(env), env.buy_symbol)
        expected = {norm(env.buy_symbol): before + 1000}
        started = time.monotonic()
        seen = await self.call(
            env.client.wait_for_positions(
                env.account_id, expected, timeout_secs=self.short_wait_secs
            ),
            waits_secs=self.short_wait_secs,
        )
        assert seen == {norm(env.buy_symbol): before}
        assert time.monotonic() - started >= self.short_wait_secs * 0.9

    async def test_wait_for_positions_unknown_account_raises_invalid_input_error(
        self, env: ConformanceEnv
    ) -> None:
        with pytest.raises(InvalidInputError):
            await self.call(
                env.client.wait_for_positions(
                    env.unknown_account_id, {norm(env.buy_symbol): Decimal(1)}, timeout_secs=0
                )
            )

    async def test_take_warnings_returns_sentences_once(self, env: ConformanceEnv) -> None:
        await self.call(env.client.get_multiple_market_prices([env.buy_symbol, *env.extra_symbols]))
        await self.snapshot(env)
        first = env.client.take_warnings()
        assert isinstance(first, list)
        assert all(isinstance(w, str) and w for w in first), first
        assert env.client.take_warnings() == []
