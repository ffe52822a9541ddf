"""Conformance tests of connection, account snapshot, market data and trading hours."""

from __future__ import annotations

from decimal import Decimal

import pytest

from broker_connector_base.conformance._support import (
    ConformanceEnv,
    ConformanceSupport,
    held,
    norm,
)
from broker_connector_base.exceptions import (
    BrokerAPIError,
    BrokerConnectionError,
    InvalidInputError,
)

__all__ = ["SessionTests"]


class SessionTests(ConformanceSupport):
    """Guarantees of the connection, snapshot, price and trading-hours methods."""

    # ----------------------------------------------------------------------------------
    # connection
    # ----------------------------------------------------------------------------------

    async def test_is_connected_when_env_ready_returns_true(self, env: ConformanceEnv) -> None:
        assert env.client.is_connected() is True

    async def test_disconnect_when_connected_makes_is_connected_false(
        self, env: ConformanceEnv
    ) -> None:
        await self.call(env.client.disconnect())
        assert env.client.is_connected() is False

    async def test_disconnect_twice_does_not_raise(self, env: ConformanceEnv) -> None:
        await self.call(env.client.disconnect())
        await self.call(env.client.disconnect())
        assert env.client.is_connected() is False

    async def test_connect_after_disconnect_reconnects(self, env: ConformanceEnv) -> None:
        await self.call(env.client.disconnect())
        assert await self.call(env.client.connect()) is True
        assert env.client.is_connected() is True
        snap = await self.snapshot(env)
        assert snap.account_id == env.account_id

    async def test_snapshot_after_disconnect_raises_broker_connection_error(
        self, env: ConformanceEnv
    ) -> None:
        await self.call(env.client.disconnect())
        with pytest.raises(BrokerConnectionError):
            await self.call(env.client.get_account_snapshot(env.account_id))

    # ----------------------------------------------------------------------------------
    # account snapshot
    # ----------------------------------------------------------------------------------

    async def test_snapshot_known_account_has_its_id_and_decimal_money(
        self, env: ConformanceEnv
    ) -> None:
        snap = await self.snapshot(env)
        assert snap.account_id == env.account_id
        for amount in (snap.total_value, snap.cash_balance, snap.settled_cash):
            assert type(amount) is Decimal
            assert amount.is_finite()

    async def test_snapshot_positions_are_valued_at_market_price(self, env: ConformanceEnv) -> None:
        snap = await self.snapshot(env)
        for position in snap.positions:
            assert type(position.quantity) is Decimal
            assert type(position.market_price) is Decimal
            assert type(position.market_value) is Decimal
            expected = position.quantity * position.market_price
            assert abs(position.market_value - expected) <= self.value_tolerance, position

    async def test_snapshot_after_buy_values_new_position_at_market_price(
        self, env: ConformanceEnv
    ) -> None:
        self.require_open_market(env)
        before = held(await self.snapshot(env), env.buy_symbol)
        await self.buy_filled(env)
        snap = await self.settled_snapshot(env, env.buy_symbol, before + self.quantity)
        position = snap.position(env.buy_symbol)
        assert position is not None
        assert position.market_price > 0
        expected = position.quantity * position.market_price
        assert abs(position.market_value - expected) <= self.value_tolerance, position

    async def test_snapshot_with_cached_prices_has_same_holdings(self, env: ConformanceEnv) -> None:
        fresh = await self.snapshot(env)
        cached = await self.call(
            env.client.get_account_snapshot(env.account_id, use_cached_prices=True)
        )
        assert cached.account_id == env.account_id
        assert {p.symbol: p.quantity for p in cached.positions} == {
            p.symbol: p.quantity for p in fresh.positions
        }
        assert cached.cash_balance == fresh.cash_balance

    async def test_snapshot_unknown_account_raises_invalid_input_error(
        self, env: ConformanceEnv
    ) -> None:
        with pytest.raises(InvalidInputError) as caught:
            await self.call(env.client.get_account_snapshot(env.unknown_account_id))
        assert isinstance(caught.value, ValueError)

    # ----------------------------------------------------------------------------------
    # market data
    # ----------------------------------------------------------------------------------

    async def test_prices_known_symbol_returns_one_decimal_quote(self, env: ConformanceEnv) -> None:
        prices = await self.call(env.client.get_multiple_market_prices([env.buy_symbol]))
        assert [p.symbol for p in prices] == [norm(env.buy_symbol)]
        [quote] = prices
        values = [quote.bid, quote.ask, quote.last, quote.close]
        assert any(v is not None and v > 0 for v in values), quote
        assert all(v is None or type(v) is Decimal for v in values), quote
        if quote.bid is not None and quote.ask is not None and quote.bid > 0 and quote.ask > 0:
            assert quote.bid <= quote.ask, quote

    async def test_prices_several_symbols_come_back_in_request_order(
        self, env: ConformanceEnv
    ) -> None:
        symbols = [env.buy_symbol, *env.extra_symbols]
        for order in (symbols, list(reversed(symbols))):
            prices = await self.call(env.client.get_multiple_market_prices(order))
            assert [p.symbol for p in prices] == [norm(s) for s in order]

    async def test_prices_with_use_cache_return_same_symbols_in_order(
        self, env: ConformanceEnv
    ) -> None:
        symbols = [env.buy_symbol, *env.extra_symbols]
        await self.call(env.client.get_multiple_market_prices(symbols))
        cached = await self.call(env.client.get_multiple_market_prices(symbols, use_cache=True))
        assert [p.symbol for p in cached] == [norm(s) for s in symbols]

    async def test_prices_no_symbols_returns_empty_list(self, env: ConformanceEnv) -> None:
        assert await self.call(env.client.get_multiple_market_prices([])) == []

    async def test_prices_unknown_symbol_raises_broker_api_error_naming_it(
        self, env: ConformanceEnv
    ) -> None:
        with pytest.raises(BrokerAPIError) as caught:
            await self.call(
                env.client.get_multiple_market_prices([env.buy_symbol, env.unknown_symbol])
            )
        assert norm(env.unknown_symbol) in str(caught.value).upper()

    # ----------------------------------------------------------------------------------
    # trading hours
    # ----------------------------------------------------------------------------------

    async def test_trading_hours_status_matches_env_market_open(self, env: ConformanceEnv) -> None:
        status = await self.call(env.client.get_trading_hours_status([env.buy_symbol]))
        assert status.is_open is env.market_open
        assert status.checked_at.tzinfo is not None, "checked_at must be timezone-aware"
        if env.market_open:
            assert status.closed_symbols == []
            assert status.next_open is None
        else:
            assert norm(env.buy_symbol) in status.closed_symbols
