"""Pure IB translation: statuses, ids, prices, liquid hours, error table."""

from __future__ import annotations

import datetime as dt
import pickle
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from broker_connector_base import (
    AuthenticationError,
    BrokerAPIError,
    BrokerConnectionError,
    ContractPrice,
    InvalidInputError,
    OrderExecutionError,
    OrderStatus,
    RateLimitError,
)
from ibkr_connector.errors import (
    IB_ERRORS,
    ErrorKind,
    exception_for_code,
    exception_from_python,
)
from ibkr_connector.translation import (
    IB_ORDER_STATUS,
    ib_price,
    next_open,
    order_id_to_int,
    order_status,
    parse_liquid_hours,
    quantity_to_action,
    usable_price,
)

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("ib_status", "expected"),
    [
        ("PendingSubmit", OrderStatus.PENDING),
        ("ApiPending", OrderStatus.PENDING),
        ("PreSubmitted", OrderStatus.WORKING),
        ("Submitted", OrderStatus.WORKING),
        ("PendingCancel", OrderStatus.WORKING),
        ("ValidationError", OrderStatus.WORKING),
        ("ApiCancelled", OrderStatus.CANCELLED),
        ("Cancelled", OrderStatus.CANCELLED),
        ("Filled", OrderStatus.FILLED),
        ("Inactive", OrderStatus.REJECTED),
        ("SomethingNew", OrderStatus.ERROR),
        ("", OrderStatus.ERROR),
    ],
)
def test_order_status_maps_every_ib_status(ib_status: str, expected: OrderStatus) -> None:
    assert order_status(ib_status) is expected


def test_order_status_table_covers_every_ib_async_status() -> None:
    from ib_async import OrderStatus as IBStatus

    assert set(IBStatus.DoneStates | IBStatus.ActiveStates) <= set(IB_ORDER_STATUS)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([201], OrderStatus.REJECTED),
        ([203], OrderStatus.REJECTED),
        ([202], OrderStatus.CANCELLED),
        ([2104], OrderStatus.CANCELLED),
        ([], OrderStatus.CANCELLED),
    ],
)
def test_order_status_cancelled_with_order_error_is_rejected(
    codes: list[int], expected: OrderStatus
) -> None:
    assert order_status("Cancelled", codes) is expected


@pytest.mark.parametrize(
    ("status", "codes", "filled", "refused", "expected"),
    [
        ("Cancelled", [10148], 0, True, OrderStatus.WORKING),
        ("Cancelled", [161], 0, True, OrderStatus.WORKING),
        ("Cancelled", [10148], 10, True, OrderStatus.FILLED),
        ("Cancelled", [202], 10, False, OrderStatus.FILLED),
        ("Cancelled", [202], 4, False, OrderStatus.CANCELLED),
        ("Cancelled", [202, 10148], 4, False, OrderStatus.CANCELLED),
        ("Submitted", [], 10, False, OrderStatus.FILLED),
        ("ValidationError", [2109], 0, False, OrderStatus.WORKING),
    ],
)
def test_order_status_executions_and_refused_cancels_win_over_ib_async_status(
    status: str, codes: list[int], filled: float, refused: bool, expected: OrderStatus
) -> None:
    result = order_status(status, codes, filled=filled, total=10, cancel_refused=refused)

    assert result is expected


@pytest.mark.parametrize(
    ("text", "value"), [("1", 1), ("42", 42), (" 7 ", 7), ("2147483647", 2147483647)]
)
def test_order_id_to_int_numeric_text_converts(text: str, value: int) -> None:
    assert order_id_to_int(text) == value


@pytest.mark.parametrize("text", ["abc", "", "-1", "0", "1.5", "١٢", "12a", " "])
def test_order_id_to_int_non_numeric_raises_value_error(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        order_id_to_int(text)
    assert isinstance(caught.value, ValueError)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("quantity", "expected"), [(5, ("BUY", 5)), (-3, ("SELL", 3)), (1, ("BUY", 1))]
)
def test_quantity_to_action_signs(quantity: int, expected: tuple[str, int]) -> None:
    assert quantity_to_action(quantity) == expected


def test_quantity_to_action_zero_raises() -> None:
    with pytest.raises(InvalidInputError):
        quantity_to_action(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (589.1, Decimal("589.1")),
        (0.1, Decimal("0.1")),
        (float("nan"), None),
        (float("inf"), None),
        (-1.0, None),
        (0.0, None),
        (None, None),
    ],
)
def test_ib_price_converts_exactly_and_drops_no_value_markers(
    value: float | None, expected: Decimal | None
) -> None:
    assert ib_price(value) == expected


def _quote(**kw: str) -> ContractPrice:
    return ContractPrice(symbol="SPY", **{k: Decimal(v) for k, v in kw.items()})


def test_usable_price_with_bid_and_ask_is_unchanged_without_warning() -> None:
    quote = _quote(bid="10", ask="10.02", last="10.01")
    assert usable_price(quote) == (quote, None)


@pytest.mark.parametrize(
    ("quote", "bid", "ask", "source"),
    [
        (_quote(last="10.01", close="9.9"), "10.01", "10.01", "last trade 10.01"),
        (_quote(close="9.9"), "9.9", "9.9", "previous close 9.9"),
        (_quote(bid="10", last="10.01"), "10", "10.01", "last trade"),
        (_quote(ask="10.2"), "10.2", "10.2", "the only quoted side"),
    ],
)
def test_usable_price_missing_side_falls_back_with_warning_naming_symbol(
    quote: ContractPrice, bid: str, ask: str, source: str
) -> None:
    filled, warning = usable_price(quote)
    assert (filled.bid, filled.ask) == (Decimal(bid), Decimal(ask))
    assert warning is not None
    assert warning.startswith("SPY:")
    assert source in warning


def test_parse_liquid_hours_current_format_with_closed_day() -> None:
    sessions = parse_liquid_hours(
        "20261123:0930-20261123:1600;20261124:CLOSED;20261125:0930-20261125:1300",
        "US/Eastern",
    )
    assert sessions == [
        (dt.datetime(2026, 11, 23, 9, 30, tzinfo=NY), dt.datetime(2026, 11, 23, 16, 0, tzinfo=NY)),
        (dt.datetime(2026, 11, 25, 9, 30, tzinfo=NY), dt.datetime(2026, 11, 25, 13, 0, tzinfo=NY)),
    ]


def test_parse_liquid_hours_old_format_same_day_end() -> None:
    [(start, end)] = parse_liquid_hours("20261123:0930-1600", "America/New_York")
    assert (start.hour, start.minute, end.hour) == (9, 30, 16)


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("20261123:0930", "US/Eastern"),
        ("2026-11-23:0930-1600", "US/Eastern"),
        ("20261123:1600-20261123:0930", "US/Eastern"),
        ("20261123:0930-1600", "Mars/Olympus"),
    ],
)
def test_parse_liquid_hours_malformed_raises_invalid_input(text: str, zone: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_liquid_hours(text, zone)


def test_next_open_inside_session_is_open() -> None:
    sessions = parse_liquid_hours("20261123:0930-20261123:1600", "US/Eastern")
    assert next_open(sessions, dt.datetime(2026, 11, 23, 10, 0, tzinfo=NY)) == (True, None)


def test_next_open_after_close_gives_next_session_start() -> None:
    sessions = parse_liquid_hours(
        "20261123:0930-20261123:1600;20261124:0930-20261124:1600", "US/Eastern"
    )
    is_open, opens = next_open(sessions, dt.datetime(2026, 11, 23, 16, 0, tzinfo=NY))
    assert is_open is False
    assert opens == dt.datetime(2026, 11, 24, 9, 30, tzinfo=NY)


def test_next_open_after_last_session_is_unknown() -> None:
    sessions = parse_liquid_hours("20261123:0930-20261123:1600", "US/Eastern")
    assert next_open(sessions, dt.datetime(2026, 11, 24, 9, 0, tzinfo=NY)) == (False, None)


@pytest.mark.parametrize(
    ("code", "exc_type"),
    [
        (502, BrokerConnectionError),
        (504, BrokerConnectionError),
        (1100, BrokerConnectionError),
        (326, BrokerConnectionError),
        (10141, AuthenticationError),
        (100, RateLimitError),
        (420, RateLimitError),
        (200, BrokerAPIError),
        (354, BrokerAPIError),
        (201, OrderExecutionError),
        (202, OrderExecutionError),
        (10147, OrderExecutionError),
        (99999, BrokerAPIError),
    ],
)
def test_exception_for_code_maps_by_table(code: int, exc_type: type[Exception]) -> None:
    exc = exception_for_code(code, "text from IB", context="placing BUY 1 SPY", order_id="5")
    assert type(exc) is exc_type
    assert f"IB error {code}: text from IB" in str(exc)
    assert str(exc).startswith("placing BUY 1 SPY")
    if isinstance(exc, OrderExecutionError):
        assert exc.order_id == "5"
    if isinstance(exc, BrokerAPIError):
        assert exc.api_code == str(code)
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is exc_type
    assert str(again) == str(exc)


def test_exception_for_code_ignores_message_text() -> None:
    # Text that the seed's substring guessing would call a connection error.
    exc = exception_for_code(201, "connection timeout rate limit login")
    assert type(exc) is OrderExecutionError


def test_error_table_kinds_are_all_mapped() -> None:
    for code, kind in IB_ERRORS.items():
        exc = exception_for_code(code, "x")
        assert isinstance(exc, OrderExecutionError) == (kind is ErrorKind.ORDER), code


@pytest.mark.parametrize(
    ("exc", "exc_type"),
    [
        (ConnectionRefusedError("refused"), BrokerConnectionError),
        (ConnectionResetError("reset"), BrokerConnectionError),
        (TimeoutError(), BrokerConnectionError),
        (RuntimeError("odd"), BrokerAPIError),
    ],
)
def test_exception_from_python_maps_socket_failures(
    exc: Exception, exc_type: type[Exception]
) -> None:
    mapped = exception_from_python(exc, context="reading positions")
    assert type(mapped) is exc_type
    assert str(mapped).startswith("reading positions")


def test_exception_from_python_request_error_uses_its_code() -> None:
    from ib_async import RequestError

    mapped = exception_from_python(RequestError(3, 200, "No security"), context="SPYX")
    assert type(mapped) is BrokerAPIError
    assert isinstance(mapped, BrokerAPIError)
    assert mapped.api_code == "200"
