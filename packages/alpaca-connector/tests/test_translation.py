"""Pure translation: every Alpaca status, client_order_id round trips, exact numbers, errors."""

from __future__ import annotations

import json
import pickle
from decimal import Decimal
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from alpaca.trading.models import Order
from alpaca_connector.errors import exception_for, transport_error
from alpaca_connector.translation import (
    MAX_ORDER_REF_LENGTH,
    STATUS_MAP,
    exact,
    fill_of,
    new_client_order_id,
    order_record_of,
    order_ref_of,
    order_status,
    price_of,
)
from broker_connector_base import (
    AuthenticationError,
    BrokerAPIError,
    BrokerConnectionError,
    InvalidInputError,
    OrderExecutionError,
    OrderStatus,
    RateLimitError,
)


def alpaca_order(**fields: Any) -> Order:
    base: dict[str, Any] = {
        "id": "6f2c1b1e-8a55-4c1e-9d3e-0b7f2a3c4d5e",
        "client_order_id": "run-1-rb0123456789",
        "created_at": "2026-11-24T15:00:00Z",
        "updated_at": "2026-11-24T15:00:01Z",
        "submitted_at": "2026-11-24T15:00:00Z",
        "symbol": "SPY",
        "qty": "10",
        "filled_qty": "0",
        "order_class": "simple",
        "type": "market",
        "side": "buy",
        "time_in_force": "day",
        "status": "new",
        "extended_hours": False,
    }
    base.update(fields)
    return Order(**base)


@pytest.mark.parametrize("status", list(AlpacaStatus))
def test_every_alpaca_status_has_a_base_status(status: AlpacaStatus) -> None:
    assert status in STATUS_MAP
    assert order_status(alpaca_order(status=status.value)) == STATUS_MAP[status]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("filled", OrderStatus.FILLED),
        ("canceled", OrderStatus.CANCELLED),
        ("expired", OrderStatus.EXPIRED),
        ("rejected", OrderStatus.REJECTED),
        ("replaced", OrderStatus.CANCELLED),
        ("new", OrderStatus.WORKING),
        ("partially_filled", OrderStatus.WORKING),
        ("pending_cancel", OrderStatus.WORKING),
        ("accepted", OrderStatus.PENDING),
        ("pending_new", OrderStatus.PENDING),
    ],
)
def test_status_map_entries(status: str, expected: OrderStatus) -> None:
    assert order_status(alpaca_order(status=status)) == expected


def test_calculated_order_with_every_share_filled_counts_as_filled() -> None:
    done = alpaca_order(status="calculated", filled_qty="10", filled_avg_price="589.12")
    assert order_status(done) == OrderStatus.FILLED
    assert order_status(alpaca_order(status="calculated", filled_qty="4")) == OrderStatus.WORKING


def test_fill_of_sell_is_signed_and_exact() -> None:
    order = alpaca_order(
        side="sell", status="partially_filled", filled_qty="4", filled_avg_price="92.87"
    )
    fill = fill_of(order)
    assert (fill.filled_quantity, fill.remaining_quantity) == (-4, 6)
    assert fill.avg_fill_price == Decimal("92.87")


def test_order_record_of_partly_filled_cancelled_sell_keeps_fill_and_run_tag() -> None:
    order = alpaca_order(side="sell", status="canceled", filled_qty="4", filled_avg_price="101.25")

    record = order_record_of(order)

    assert record.order_id == record.perm_id == "6f2c1b1e-8a55-4c1e-9d3e-0b7f2a3c4d5e"
    assert record.status is OrderStatus.CANCELLED
    assert (record.quantity, record.filled_quantity) == (-10, -4)
    assert record.avg_fill_price == Decimal("101.25")
    assert record.order_ref == "run-1"


@pytest.mark.parametrize(
    "ref", ["run-1", "2026-11-24T15:00:00Z-abc", "x", "a" * MAX_ORDER_REF_LENGTH]
)
def test_client_order_id_carries_order_ref_and_is_unique(ref: str) -> None:
    ids = {new_client_order_id(ref) for _ in range(50)}
    assert len(ids) == 50
    assert all(order_ref_of(i) == ref and len(i) <= 128 for i in ids)


def test_client_order_id_without_ref_and_foreign_ids_have_no_order_ref() -> None:
    assert order_ref_of(new_client_order_id(None)) is None
    assert order_ref_of("6f2c1b1e-8a55-4c1e-9d3e-0b7f2a3c4d5e") is None
    assert order_ref_of("my-manual-order") is None


@pytest.mark.parametrize("ref", ["", "a" * (MAX_ORDER_REF_LENGTH + 1)])
def test_order_ref_of_bad_length_is_invalid_input(ref: str) -> None:
    with pytest.raises(InvalidInputError, match="order_ref"):
        new_client_order_id(ref)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("589.12", Decimal("589.12")),
        (589.12, Decimal("589.12")),
        (0.1, Decimal("0.1")),
        (None, None),
    ],
)
def test_exact_numbers_never_take_the_binary_expansion(value: Any, expected: Any) -> None:
    assert exact(value) == expected


@pytest.mark.parametrize("value", ["nan", "abc", True, float("inf")])
def test_exact_refuses_non_numbers(value: Any) -> None:
    with pytest.raises(ValueError, match="number"):
        exact(value)


def test_zero_quote_side_is_no_price() -> None:
    assert price_of(0.0) is None
    assert price_of(245.81) == Decimal("245.81")


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status


class _HTTPError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.response = _Response(status)


def raw_api_error(body: str, status: int) -> APIError:
    # alpaca-py's APIError carries no annotations.
    return APIError(body, _HTTPError(status))  # type: ignore[no-untyped-call]


def api_error(status: int, message: str, code: int = 40010000) -> APIError:
    return raw_api_error(json.dumps({"code": code, "message": message}), status)


@pytest.mark.parametrize(
    ("status", "message", "operation", "expected"),
    [
        (401, "request is not authorized", "other", AuthenticationError),
        (403, "forbidden", "order", AuthenticationError),
        (403, "forbidden", "other", AuthenticationError),
        (403, "insufficient buying power", "order", OrderExecutionError),
        (422, 'asset "ZZZZQX" not found', "order", OrderExecutionError),
        (404, "order not found", "order", OrderExecutionError),
        (404, "order not found", "lookup", OrderExecutionError),
        (404, "position does not exist", "other", BrokerAPIError),
        (429, "rate limit exceeded", "order", RateLimitError),
        (500, "internal server error", "order", BrokerAPIError),
    ],
)
def test_api_errors_map_onto_the_base_tree(
    status: int, message: str, operation: Any, expected: type[Exception]
) -> None:
    error = exception_for(api_error(status, message), "doing it", operation=operation)
    assert type(error) is expected
    assert str(error).startswith("doing it: ")
    assert type(pickle.loads(pickle.dumps(error))) is expected


def test_refused_order_error_carries_alpacas_reason_and_code() -> None:
    error = exception_for(
        api_error(403, "insufficient buying power", 40310000), "placing", operation="order"
    )
    assert "insufficient buying power" in str(error)
    rate = exception_for(api_error(429, "rate limit exceeded", 42910000), "reading")
    assert isinstance(rate, RateLimitError)
    assert rate.api_code == "42910000"


def test_non_json_error_body_is_kept_as_the_reason() -> None:
    error = exception_for(raw_api_error("Bad Gateway", 502), "reading")
    assert isinstance(error, BrokerAPIError)
    assert "Bad Gateway" in str(error)


def test_transport_failures_are_connection_errors() -> None:
    assert "timed out" in str(transport_error(requests.ReadTimeout("slow"), "reading"))
    refused = transport_error(requests.ConnectionError("refused"), "reading")
    assert isinstance(refused, BrokerConnectionError)
    assert "could not reach Alpaca" in str(refused)
