"""Account and positions through the real alpaca-py ``TradingClient``; keys checked."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AccountStatus, PositionSide
from alpaca.trading.models import Position, TradeAccount
from alpaca_api_sim import AlpacaApiSimulator
from alpaca_api_sim.pytest_plugin import EXAMPLE_ACCOUNT, EXAMPLE_MARGIN_ACCOUNT
from alpaca_api_sim.testing import assert_only_declared_fields, in_thread

MakeTrading = Callable[..., TradingClient]


async def test_account_of_cash_account_parses_with_exact_string_money(
    trading: TradingClient,
) -> None:
    account = await in_thread(trading.get_account)
    assert isinstance(account, TradeAccount)
    assert account.account_number == EXAMPLE_ACCOUNT
    assert account.status == AccountStatus.ACTIVE
    assert account.cash == "100000"
    assert account.multiplier == "1"
    assert account.buying_power == "100000"
    # 50 SPY at 589.11 + 100 TLT at 92.87 + 20 GLD at 245.81 (last trades) + cash.
    expected = (
        Decimal(100000) + 50 * Decimal("589.11") + 100 * Decimal("92.87") + 20 * Decimal("245.81")
    )
    assert account.equity is not None
    assert Decimal(account.equity) == expected
    assert account.long_market_value is not None
    assert Decimal(account.long_market_value) == expected - 100000
    assert account.daytrade_count == 0
    assert account.pattern_day_trader is False


async def test_account_of_margin_account_reports_multiplier_and_day_trades(
    make_trading: MakeTrading,
) -> None:
    account = await in_thread(make_trading(EXAMPLE_MARGIN_ACCOUNT).get_account)
    assert isinstance(account, TradeAccount)
    assert account.account_number == EXAMPLE_MARGIN_ACCOUNT
    assert account.multiplier == "2"
    assert account.buying_power == "40000"
    assert account.daytrade_count == 1
    assert account.shorting_enabled is True


async def test_account_and_position_bodies_carry_only_fields_the_sdk_declares(
    make_trading: MakeTrading,
) -> None:
    raw = make_trading(raw_data=True)
    account: Any = await in_thread(raw.get_account)
    assert_only_declared_fields(TradeAccount, account)
    positions: Any = await in_thread(raw.get_all_positions)
    assert len(positions) == 3
    for position in positions:
        assert_only_declared_fields(Position, position)


async def test_positions_are_valued_at_last_trade_exactly(trading: TradingClient) -> None:
    positions = await in_thread(trading.get_all_positions)
    assert isinstance(positions, list)
    by_symbol = {p.symbol: p for p in positions}
    assert sorted(by_symbol) == ["GLD", "SPY", "TLT"]
    spy = by_symbol["SPY"]
    assert spy.qty == "50"
    assert spy.side == PositionSide.LONG
    assert spy.current_price == "589.11"
    assert spy.market_value == "29455.5"
    assert spy.avg_entry_price == "540.25"
    assert spy.cost_basis == "27012.5"
    assert spy.lastday_price == "587.4"
    for position in positions:
        assert position.market_value is not None
        assert position.current_price is not None
        assert Decimal(position.market_value) == Decimal(position.qty) * Decimal(
            position.current_price
        )


async def test_open_position_of_symbol_not_held_answers_404(trading: TradingClient) -> None:
    held = await in_thread(trading.get_open_position, "TLT")
    assert isinstance(held, Position)
    assert held.qty == "100"
    with pytest.raises(APIError) as caught:
        await in_thread(trading.get_open_position, "QQQ")
    assert caught.value.status_code == 404
    assert caught.value.code == 40410000


async def test_unknown_key_id_answers_401_with_alpaca_error_body(
    alpaca_sim: AlpacaApiSimulator,
) -> None:
    client = TradingClient("PKNOTAKEY", "whatever", url_override=alpaca_sim.base_url)
    with pytest.raises(APIError) as caught:
        await in_thread(client.get_account)
    assert caught.value.status_code == 401
    assert caught.value.code == 40110000
    assert caught.value.message == "request is not authorized"


async def test_known_key_id_with_wrong_secret_answers_403(alpaca_sim: AlpacaApiSimulator) -> None:
    key, _ = alpaca_sim.credentials(EXAMPLE_ACCOUNT)
    client = TradingClient(key, "not-the-secret", url_override=alpaca_sim.base_url)
    with pytest.raises(APIError) as caught:
        await in_thread(client.get_all_positions)
    assert caught.value.status_code == 403
    assert caught.value.message == "forbidden"
    assert alpaca_sim.api_requests == 0


async def test_each_key_pair_sees_its_own_account(make_trading: MakeTrading) -> None:
    margin_positions = await in_thread(make_trading(EXAMPLE_MARGIN_ACCOUNT).get_all_positions)
    cash_positions = await in_thread(make_trading(EXAMPLE_ACCOUNT).get_all_positions)
    assert margin_positions == []
    assert isinstance(cash_positions, list)
    assert len(cash_positions) == 3
