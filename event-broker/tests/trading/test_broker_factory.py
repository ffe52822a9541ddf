"""Broker selection by ``AccountConfig.broker``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from app.trading.broker_factory import check_broker_supported, create_broker_client
from app.workers.protocol import WorkerRequest
from broker_connector_base import AccountConfig, InvalidInputError
from ibkr_connector import IBKRClient

RequestFactory = Callable[..., WorkerRequest]


def test_create_broker_client_for_ibkr_account_uses_the_request_connection_disconnected(
    make_request: RequestFactory,
) -> None:
    request = make_request(
        "DU424242", ib_gateway_host="gw.example", ib_gateway_port="4999", trading_mode="paper"
    )

    client = create_broker_client(request)

    assert isinstance(client, IBKRClient)
    assert (client.config.client_id, client.config.host, client.config.port) == (
        424242,
        "gw.example",
        4999,
    )
    assert client.config.trading_mode == "paper"
    assert client.config.data_dir == request.connection.data_dir
    assert not client.is_connected()


def test_check_broker_supported_refuses_unknown_broker_naming_it() -> None:
    account = AccountConfig(account_id="DU1", type="paper", strategy_name="s", broker="schwab")

    with pytest.raises(InvalidInputError, match="unsupported broker 'schwab'; supported: ibkr"):
        check_broker_supported(account)
