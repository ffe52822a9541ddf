"""AlpacaConnectionConfig: URLs per trading mode, https for live, secrets kept secret."""

from __future__ import annotations

from typing import Any

import pytest
from alpaca_connector import AlpacaConnectionConfig
from pydantic import ValidationError

KEYS: dict[str, Any] = {"key_id": "PKTESTKEY0000000001", "secret_key": "test-secret-do-not-show"}


@pytest.mark.parametrize(
    ("mode", "trading"),
    [("paper", "https://paper-api.alpaca.markets"), ("live", "https://api.alpaca.markets")],
)
def test_default_urls_follow_the_trading_mode(mode: str, trading: str) -> None:
    config = AlpacaConnectionConfig(trading_mode=mode, **KEYS)
    assert config.trading_url == trading
    assert config.market_data_url == "https://data.alpaca.markets"


def test_base_url_override_serves_trading_and_data() -> None:
    config = AlpacaConnectionConfig(base_url="http://127.0.0.1:8765/", **KEYS)
    assert config.trading_url == config.market_data_url == "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_url", "ftp://example.com", "not an http"),
        ("base_url", "http://127.0.0.1:8765/v2", "bare origin"),
        ("key_id", "  ", "must not be empty"),
        ("request_timeout_secs", 0, "greater than 0"),
        ("trading_mode", "real", "paper"),
    ],
)
def test_bad_settings_name_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AlpacaConnectionConfig(**(KEYS | {field: value}))
    assert field in str(caught.value)
    assert message in str(caught.value)


def test_live_connection_over_plain_http_is_refused() -> None:
    with pytest.raises(ValidationError, match="live connection must use https"):
        AlpacaConnectionConfig(trading_mode="live", base_url="http://127.0.0.1:8765", **KEYS)


def test_secrets_stay_out_of_repr_and_dump() -> None:
    config = AlpacaConnectionConfig(**KEYS)
    shown = f"{config!r} {config} {config.model_dump()} {config.model_dump_json()}"
    assert "test-secret-do-not-show" not in shown
    assert "PKTESTKEY0000000001" not in shown
