"""The worker request: common fields plus the broker's connection, and its trip over the pipe."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from app.trading.connections import IBKRWorkerConnection
from app.workers.protocol import WorkerRequest, decode_request, encode_request
from broker_connector_base import AccountConfig, AllocationItem
from pydantic import SecretStr, ValidationError

RequestFactory = Callable[..., WorkerRequest]


def test_request_carries_the_ib_settings_in_its_ibkr_connection_only(
    make_request: RequestFactory,
) -> None:
    request = make_request(
        "DU959247",
        ib_gateway_host="gw.internal",
        ib_gateway_port="4010",
        price_cache_ttl_secs="15",
        ib_shared_quote_max_age_secs="0",
    )

    payload = json.loads(encode_request(request))

    assert isinstance(request.connection, IBKRWorkerConnection)
    assert payload["connection"] == {
        "broker": "ibkr",
        "client_id": 959247,
        "host": "gw.internal",
        "port": 4010,
        "data_dir": str(request.journal_path.parent),
        "price_cache_ttl_secs": 15.0,
        "pacing_file": str(request.connection.data_dir / "ib-pacing-gw.internal-4010"),
        "messages_per_sec": 40,
        "shared_quote_max_age_secs": 0.0,
    }
    assert {"client_id", "gateway_host", "gateway_port", "data_dir"}.isdisjoint(payload)
    assert decode_request(encode_request(request)) == request


def test_request_with_connection_of_another_broker_than_the_account_is_refused(
    make_request: RequestFactory,
) -> None:
    fields = make_request().model_dump()
    fields["account"] = AccountConfig(
        account_id="DU1", type="paper", strategy_name="s1", broker="alpaca"
    )

    with pytest.raises(ValidationError, match="trades at 'alpaca' but the request's connection"):
        WorkerRequest.model_validate(fields)


def test_request_line_with_unknown_connection_broker_is_refused_naming_it(
    make_request: RequestFactory,
) -> None:
    payload = json.loads(encode_request(make_request()))
    payload["connection"]["broker"] = "schwab"

    with pytest.raises(ValidationError, match="schwab") as caught:
        decode_request(json.dumps(payload).encode())

    assert caught.value.errors()[0]["loc"][0] == "connection"


def test_every_secret_of_the_request_is_listed_for_redaction_and_clear_only_in_the_pipe(
    make_request: RequestFactory,
) -> None:
    request = make_request(allocations_api_key="alloc-s3cret")

    raw = encode_request(request)

    assert [s.get_secret_value() for s in request.secrets()] == ["alloc-s3cret"]
    assert b"alloc-s3cret" in raw
    assert "alloc-s3cret" not in repr(request)
    assert "alloc-s3cret" not in request.model_dump_json()
    assert decode_request(raw).allocations_api_key == SecretStr("alloc-s3cret")


def test_request_with_given_allocations_round_trips_for_a_preview(make_request: Any) -> None:
    preview = make_request()
    given = (AllocationItem(symbol="SPY", allocation=Decimal("0.6")),)
    request = preview.model_copy(update={"allocations": given})

    decoded = decode_request(encode_request(WorkerRequest.model_validate(request.model_dump())))

    assert decoded.allocations == given


def test_request_with_given_allocations_is_refused_for_a_rebalance(make_request: Any) -> None:
    rebalance = make_request(mode="rebalance").model_dump()
    rebalance["allocations"] = [{"symbol": "SPY", "allocation": "1"}]

    with pytest.raises(ValueError, match="allocations given with the request are for previews"):
        WorkerRequest.model_validate(rebalance)


def test_alpaca_request_carries_its_key_pair_in_clear_only_in_the_pipe(
    make_request: RequestFactory,
) -> None:
    account = AccountConfig(account_id="PA1111", type="paper", strategy_name="s1", broker="alpaca")
    request = make_request(
        account=account,
        alpaca_api_key_id="alpaca-key-id",
        alpaca_api_secret_key="alpaca-s3cret",
        alpaca_base_url="http://127.0.0.1:8765",
    )

    raw = encode_request(request)

    assert json.loads(raw)["connection"] == {
        "broker": "alpaca",
        "key_id": "alpaca-key-id",
        "secret_key": "alpaca-s3cret",
        "base_url": "http://127.0.0.1:8765",
    }
    assert {s.get_secret_value() for s in request.secrets()} == {"alpaca-key-id", "alpaca-s3cret"}
    for secret in ("alpaca-key-id", "alpaca-s3cret"):
        assert secret not in repr(request)
        assert secret not in request.model_dump_json()
        assert secret not in request.connection.describe()
    assert decode_request(raw) == request
