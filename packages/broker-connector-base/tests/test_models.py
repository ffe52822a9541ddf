"""Model validation: symbols, exact money, ranges, frozen values, extra fields."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base.models import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    BrokerConnectionConfig,
    ContractPrice,
    OpenOrder,
    OrderFill,
    OrderResult,
    OrderStatus,
    Trade,
    TradingHoursStatus,
)
from broker_connector_base.types import to_cents
from pydantic import ValidationError


def _trade(**changes: Any) -> Trade:
    fields: dict[str, Any] = {
        "symbol": "SPY",
        "quantity": 3,
        "current_shares": 0,
        "target_value": "300",
        "current_value": "0",
        "price": "100.01",
    }
    return Trade.model_validate({**fields, **changes})


def _account(**changes: Any) -> AccountConfig:
    fields: dict[str, Any] = {"account_id": "DU123456", "type": "paper", "strategy_name": "s1"}
    return AccountConfig.model_validate({**fields, **changes})


# ------------------------------------------------------------------------------------------
# symbols
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" spy ", "SPY"),
        ("brk.b", "BRK.B"),
        ("brk  b", "BRK B"),
        ("bf-b", "BF-B"),
        ("\tqqq\n", "QQQ"),
    ],
)
def test_symbol_is_stripped_collapsed_and_upper_cased(raw: str, expected: str) -> None:
    assert _trade(symbol=raw).symbol == expected
    assert AllocationItem(symbol=raw, allocation=Decimal("0.5")).symbol == expected


@pytest.mark.parametrize("raw", ["", "   ", "$SPY", "SPY!", "A" * 21, ".SPY"])
def test_symbol_empty_or_not_a_ticker_is_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match="symbol"):
        _trade(symbol=raw)


def test_symbol_non_string_is_refused() -> None:
    with pytest.raises(ValidationError, match="valid string"):
        _trade(symbol=5)


# ------------------------------------------------------------------------------------------
# exact money
# ------------------------------------------------------------------------------------------


def test_float_inputs_become_their_shortest_decimal_and_add_exactly() -> None:
    a = _trade(price=0.1).price
    b = _trade(price=0.2).price
    assert (a, b) == (Decimal("0.1"), Decimal("0.2"))
    assert a + b == Decimal("0.3")  # 0.1 + 0.2 != 0.3 in float; here it is exact
    assert type(a) is Decimal


def test_float_allocation_and_percent_are_exact() -> None:
    assert AllocationItem(symbol="X", allocation=0.35).allocation == Decimal("0.35")
    assert _account(cash_reserve_percent=2.5).cash_reserve_percent == Decimal("2.5")
    assert _trade(current_shares=0.1).current_shares == Decimal("0.1")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), "NaN", "Infinity"])
@pytest.mark.parametrize("field", ["price", "target_value", "current_value", "current_shares"])
def test_nan_and_infinity_are_refused(field: str, bad: object) -> None:
    with pytest.raises(ValidationError, match="finite"):
        _trade(**{field: bad})


@pytest.mark.parametrize("field", ["price", "target_value", "current_value", "current_shares"])
def test_boolean_is_not_a_number(field: str) -> None:
    with pytest.raises(ValidationError, match="boolean"):
        _trade(**{field: True})


def test_negative_price_and_target_value_are_refused_but_negative_cash_is_not() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        _trade(price="-0.01")
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        _trade(target_value="-1")
    snap = AccountSnapshot(
        account_id="A", total_value=Decimal(5), cash_balance=Decimal(-5), settled_cash=Decimal(0)
    )
    assert snap.cash_balance == Decimal(-5)


@pytest.mark.parametrize(
    ("value", "cents"),
    [("1.005", "1.01"), ("1.004999", "1.00"), ("-1.005", "-1.01"), ("100.0050", "100.01")],
)
def test_to_cents_rounds_half_up(value: str, cents: str) -> None:
    assert to_cents(Decimal(value)) == Decimal(cents)


# ------------------------------------------------------------------------------------------
# trades and orders
# ------------------------------------------------------------------------------------------


def test_trade_zero_quantity_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one share"):
        _trade(quantity=0)


@pytest.mark.parametrize("bad", [True, False, 1.5, "one"])
def test_trade_quantity_must_be_whole_shares_not_bool(bad: object) -> None:
    with pytest.raises(ValidationError):
        _trade(quantity=bad)


def test_trade_action_and_notional_follow_quantity_sign() -> None:
    buy = _trade(quantity=3)
    sell = _trade(quantity=-3, price="99.99")
    assert (buy.action, buy.notional) == ("BUY", Decimal("300.03"))
    assert (sell.action, sell.notional) == ("SELL", Decimal("299.97"))


def test_trade_estimated_commission_is_optional_exact_and_never_negative() -> None:
    assert _trade().estimated_commission is None
    assert _trade(estimated_commission=1.01).estimated_commission == Decimal("1.01")
    with pytest.raises(ValidationError, match="estimated_commission"):
        _trade(estimated_commission="-0.01")


@pytest.mark.parametrize("model", [OrderResult, OpenOrder, OrderFill])
def test_order_models_need_a_non_empty_string_order_id(model: type[Any]) -> None:
    fields: dict[str, Any] = {
        "symbol": "SPY",
        "quantity": 1,
        "status": "WORKING",
        "order_type": "LIMIT",
    }
    allowed = {k: v for k, v in fields.items() if k in model.model_fields}
    for bad in ("", 42):
        with pytest.raises(ValidationError, match="order_id"):
            model.model_validate({**allowed, "order_id": bad})
    assert model.model_validate({**allowed, "order_id": "42"}).order_id == "42"


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (OrderStatus.FILLED, True),
        (OrderStatus.CANCELLED, True),
        (OrderStatus.REJECTED, True),
        (OrderStatus.EXPIRED, True),
        (OrderStatus.WORKING, False),
        (OrderStatus.PENDING, False),
        (OrderStatus.NOT_FOUND, False),
        (OrderStatus.ERROR, False),
    ],
)
def test_order_status_is_final_only_when_order_cannot_fill(
    status: OrderStatus, final: bool
) -> None:
    assert status.is_final is final


def test_order_status_is_a_string() -> None:
    assert OrderStatus.FILLED == "FILLED"
    assert OrderStatus("CANCELLED") is OrderStatus.CANCELLED
    assert {s.value for s in OrderStatus} == {s.name for s in OrderStatus}


# ------------------------------------------------------------------------------------------
# allocations, account config, connection config
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1", "0.25", 0.5])
def test_allocation_within_zero_to_one_is_accepted(value: object) -> None:
    assert AllocationItem.model_validate({"symbol": "X", "allocation": value}).allocation <= 1


@pytest.mark.parametrize("value", ["-0.0001", "1.0001", "2", True])
def test_allocation_outside_zero_to_one_is_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="allocation"):
        AllocationItem.model_validate({"symbol": "X", "allocation": value})


@pytest.mark.parametrize("value", ["-1", "100.01", "NaN"])
def test_cash_reserve_percent_outside_zero_to_hundred_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="cash_reserve_percent"):
        _account(cash_reserve_percent=value)


def test_account_config_defaults() -> None:
    config = _account()
    assert config.broker == "ibkr"
    assert config.enabled is True
    assert config.cash_reserve_percent == Decimal(1)
    assert (config.min_trade_value, config.drift_band_percent) == (Decimal(0), Decimal(0))
    assert config.replacement_set is None
    assert config.commission_schedule is None  # the broker's default, see the calculator


@pytest.mark.parametrize("name", ["ibkr_pro_fixed", "ibkr_pro_tiered", "ibkr_lite", "zero"])
def test_account_config_commission_schedule_accepts_each_known_schedule(name: str) -> None:
    assert _account(commission_schedule=name).commission_schedule == name


@pytest.mark.parametrize("name", ["ibkr_pro", "IBKR_PRO_FIXED", "", "free"])
def test_account_config_unknown_commission_schedule_is_refused_naming_the_field(
    name: str,
) -> None:
    with pytest.raises(ValidationError, match="commission_schedule") as caught:
        _account(commission_schedule=name)
    assert "ibkr_pro_fixed" in str(caught.value)  # the error lists what is allowed


@pytest.mark.parametrize(("raw", "expected"), [(" IBKR ", "ibkr"), ("Alpaca", "alpaca")])
def test_account_config_broker_is_lower_cased(raw: str, expected: str) -> None:
    assert _account(broker=raw).broker == expected


def test_account_config_empty_broker_is_refused() -> None:
    with pytest.raises(ValidationError, match="broker must not be empty"):
        _account(broker="  ")


@pytest.mark.parametrize("kind", ["paper", "live"])
def test_account_type_paper_or_live_is_accepted(kind: str) -> None:
    assert _account(type=kind).type == kind


@pytest.mark.parametrize("kind", ["Paper", "LIVE", "demo", ""])
def test_account_type_other_than_paper_or_live_is_refused(kind: str) -> None:
    with pytest.raises(ValidationError, match="'paper' or 'live'"):
        _account(type=kind)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_id", ""),
        ("account_id", "DU 1"),
        ("account_id", "x" * 33),
        ("strategy_name", "a/b"),
    ],
)
def test_account_config_ids_with_bad_characters_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        _account(**{field: value})


def test_account_config_replacement_set_is_stripped_and_empty_refused() -> None:
    assert _account(replacement_set=" etfs ").replacement_set == "etfs"
    with pytest.raises(ValidationError, match="not empty"):
        _account(replacement_set=" ")


def test_broker_connection_config_defaults_and_limits() -> None:
    config = BrokerConnectionConfig(broker_type="ibkr", trading_mode="paper")
    assert (config.host, config.port, config.timeout_secs) == (None, None, 30.0)
    for bad in ({"port": 0}, {"port": 65536}, {"timeout_secs": 0}, {"timeout_secs": "inf"}):
        with pytest.raises(ValidationError):
            BrokerConnectionConfig.model_validate(
                {"broker_type": "ibkr", "trading_mode": "paper", **bad}
            )
    with pytest.raises(ValidationError, match="trading_mode"):
        BrokerConnectionConfig.model_validate({"broker_type": "ibkr", "trading_mode": "demo"})
    with pytest.raises(ValidationError, match="broker_type"):
        BrokerConnectionConfig.model_validate({"broker_type": "", "trading_mode": "live"})


# ------------------------------------------------------------------------------------------
# frozen values, extra fields, snapshots, trading hours
# ------------------------------------------------------------------------------------------


def test_models_are_frozen() -> None:
    trade = _trade()
    with pytest.raises(ValidationError, match="frozen"):
        trade.quantity = 5  # type: ignore[misc]
    config = _account()
    with pytest.raises(ValidationError, match="frozen"):
        config.type = "live"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (AllocationItem, {"symbol": "X", "allocation": "0.1"}),
        (ContractPrice, {"symbol": "X"}),
        (OrderFill, {"order_id": "1", "status": "FILLED"}),
        (AccountConfig, {"account_id": "DU1", "type": "paper", "strategy_name": "s"}),
    ],
)
def test_unknown_fields_are_refused(model: type[Any], fields: dict[str, Any]) -> None:
    model.model_validate(fields)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({**fields, "accountId": "typo"})


def _position(symbol: str) -> AccountPosition:
    return AccountPosition(
        symbol=symbol, quantity=Decimal(1), market_price=Decimal(2), market_value=Decimal(2)
    )


def test_snapshot_duplicate_positions_are_refused_after_normalising() -> None:
    with pytest.raises(ValidationError, match="SPY appears more than once"):
        AccountSnapshot(
            account_id="A",
            total_value=Decimal(4),
            cash_balance=Decimal(0),
            settled_cash=Decimal(0),
            positions=[_position("spy"), _position(" SPY")],
        )


def test_snapshot_position_lookup_is_case_insensitive() -> None:
    snap = AccountSnapshot(
        account_id="A",
        total_value=Decimal(2),
        cash_balance=Decimal(0),
        settled_cash=Decimal(0),
        positions=[_position("VTI")],
    )
    assert snap.position(" vti ") == _position("VTI")
    assert snap.position("SPY") is None


def test_position_quantity_may_be_fractional_but_not_nan() -> None:
    assert AccountPosition.model_validate(
        {"symbol": "X", "quantity": 0.5, "market_price": 2, "market_value": 1}
    ).quantity == Decimal("0.5")
    with pytest.raises(ValidationError, match="finite"):
        AccountPosition.model_validate(
            {"symbol": "X", "quantity": "NaN", "market_price": 2, "market_value": 1}
        )


def test_trading_hours_status_needs_timezone_aware_times() -> None:
    aware = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    status = TradingHoursStatus(is_open=False, checked_at=aware, closed_symbols=["spy"])
    assert status.closed_symbols == ["SPY"]
    with pytest.raises(ValidationError, match="timezone"):
        TradingHoursStatus(is_open=True, checked_at=datetime(2026, 11, 23, 14, 30))
    with pytest.raises(ValidationError, match="timezone"):
        TradingHoursStatus(
            is_open=False, checked_at=aware, next_open=datetime(2026, 11, 24, 14, 30)
        )
