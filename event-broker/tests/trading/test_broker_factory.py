"""Broker selection by ``AccountConfig.broker``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from app.trading.broker_factory import check_broker_supported, create_broker_client
from app.workers.protocol import WorkerRequest
from broker_connector_base import AccountConfig, BrokerClient, InvalidInputError

RequestFactory = Callable[..., WorkerRequest]


def test_create_broker_client_for_ibkr_account_is_disconnected_broker_client(
    make_request: RequestFactory,
) -> None:
    client = create_broker_client(make_request())

    assert isinstance(client, BrokerClient)
    assert not client.is_connected()


def test_check_broker_supported_refuses_unknown_broker_naming_it() -> None:
    account = AccountConfig(account_id="DU1", type="paper", strategy_name="s", broker="schwab")

    with pytest.raises(InvalidInputError, match="unsupported broker 'schwab'; supported: ibkr"):
        check_broker_supported(account)
