"""Connection settings of the Alpaca connector."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from broker_connector_base import BrokerConnectionConfig
from pydantic import Field, SecretStr, field_validator, model_validator

__all__ = ["DATA_URL", "TRADING_URLS", "AlpacaConnectionConfig"]

TRADING_URLS: dict[str, str] = {
    "paper": "https://paper-api.alpaca.markets",
    "live": "https://api.alpaca.markets",
}
"""Alpaca's Trading API per trading mode (paper keys work only on paper, live keys on live)."""

DATA_URL = "https://data.alpaca.markets"
"""Alpaca's Market Data API (the same for paper and live keys)."""


class AlpacaConnectionConfig(BrokerConnectionConfig):
    """How to reach one Alpaca account (an API key pair is one account).

    ``base_url`` ``None`` means Alpaca's Trading API for ``trading_mode``; set it to reach a
    stand-in (``alpaca_api_sim``). ``data_url`` ``None`` means ``base_url`` when that is set
    (the stand-in serves both), else Alpaca's Market Data API. A live connection must use
    https: the key pair travels in headers.
    ``request_timeout_secs`` bounds every single request (alpaca-py itself has no timeout);
    ``order_poll_max_secs`` is the longest pause between two looks at an order being waited
    for. ``data_feed`` is the quote feed (``iex`` is free; ``sip`` needs a subscription).
    The base's generic ``timeout_secs``, ``host`` and ``port`` are not read by this connector.
    """

    broker_type: Literal["alpaca"] = "alpaca"
    trading_mode: Literal["paper", "live"] = "paper"
    key_id: SecretStr
    secret_key: SecretStr
    base_url: str | None = None
    data_url: str | None = None
    data_feed: Literal["iex", "sip", "delayed_sip"] = "iex"
    request_timeout_secs: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    order_poll_max_secs: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 0.5
    max_parallel_requests: Annotated[int, Field(ge=1, le=16)] = 4

    @field_validator("key_id", "secret_key")
    @classmethod
    def _present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("base_url", "data_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(f"{value!r} must be a bare origin such as http://127.0.0.1:8765")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _https_when_live(self) -> AlpacaConnectionConfig:
        if self.trading_mode == "live":
            for name, url in (("base_url", self.base_url), ("data_url", self.data_url)):
                if url is not None and not url.startswith("https://"):
                    raise ValueError(f"{name} {url!r}: a live connection must use https")
        return self

    @property
    def trading_url(self) -> str:
        """The Trading API base URL in use."""
        return self.base_url or TRADING_URLS[self.trading_mode]

    @property
    def market_data_url(self) -> str:
        """The Market Data API base URL in use."""
        return self.data_url or self.base_url or DATA_URL
