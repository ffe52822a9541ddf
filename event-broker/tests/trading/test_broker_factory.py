"""Broker selection by ``AccountConfig.broker``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alpaca_connector import AlpacaClient
from app.trading.broker_factory import (
    check_broker_supported,
    create_broker_client,
    preload_connector,
)
from app.workers.protocol import WorkerRequest
from broker_connector_base import AccountConfig, InvalidInputError
from ibkr_connector import IBKRClient

RequestFactory = Callable[..., WorkerRequest]


def test_create_broker_client_for_ibkr_account_uses_the_request_connection_disconnected(
    make_request: RequestFactory,
) -> None:
    request = make_request(
        "DU424242",
        ib_gateway_host="gw.example",
        ib_gateway_port="4999",
        trading_mode="paper",
        ib_shared_quote_max_age_secs="0.25",
    )

    client = create_broker_client(request)

    assert isinstance(client, IBKRClient)
    assert (client.config.client_id, client.config.host, client.config.port) == (
        424242,
        "gw.example",
        4999,
    )
    assert client.config.trading_mode == "paper"
    assert client.config.data_dir == request.journal_path.parent  # DATA_DIR
    assert client.config.shared_quote_max_age_secs == 0.25
    assert not client.is_connected()


def test_check_broker_supported_refuses_unknown_broker_naming_it() -> None:
    account = AccountConfig(account_id="DU1", type="paper", strategy_name="s", broker="schwab")

    with pytest.raises(
        InvalidInputError, match="unsupported broker 'schwab'; supported: alpaca, ibkr"
    ):
        check_broker_supported(account)


def _alpaca_request(make_request: RequestFactory, mode: str, **environ: str) -> WorkerRequest:
    account = AccountConfig(account_id="PA1111", type=mode, strategy_name="s", broker="alpaca")
    return make_request(
        account=account,
        trading_mode=mode,
        alpaca_api_key_id="key-id",
        alpaca_api_secret_key="secret",
        **environ,
    )


@pytest.mark.parametrize(
    ("mode", "url"),
    [("paper", "https://paper-api.alpaca.markets"), ("live", "https://api.alpaca.markets")],
)
def test_create_broker_client_for_alpaca_account_uses_alpaca_of_the_trading_mode(
    make_request: RequestFactory, mode: str, url: str
) -> None:
    # The request exists only when the account's type and TRADING_MODE agree (live twice).
    client = create_broker_client(_alpaca_request(make_request, mode))

    assert isinstance(client, AlpacaClient)
    assert client.config.trading_mode == mode
    assert client.config.trading_url == url
    assert client.config.market_data_url == "https://data.alpaca.markets"
    assert client.config.key_id.get_secret_value() == "key-id"
    assert client.config.secret_key.get_secret_value() == "secret"
    assert not client.is_connected()


def test_create_broker_client_for_alpaca_account_with_base_url_uses_it_for_all_requests(
    make_request: RequestFactory,
) -> None:
    request = _alpaca_request(make_request, "paper", alpaca_base_url="http://127.0.0.1:8765")

    client = create_broker_client(request)

    assert isinstance(client, AlpacaClient)
    assert client.config.trading_url == "http://127.0.0.1:8765"
    assert client.config.market_data_url == "http://127.0.0.1:8765"


def test_preload_connector_for_unknown_broker_names_it() -> None:
    with pytest.raises(InvalidInputError, match="no connector for broker 'schwab'"):
        preload_connector("schwab")
