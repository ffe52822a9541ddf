"""Helpers for tests of this package and of code built on it (no stand-in imports here).

Not used by the connector itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from alpaca_connector.config import AlpacaConnectionConfig

if TYPE_CHECKING:
    from alpaca_connector.client import AlpacaClient

__all__ = ["MakeClient", "stand_in_config"]

MakeClient = Callable[..., Awaitable["AlpacaClient"]]
"""A fixture's factory of clients: ``await make_client(account, connect=True, **settings)``."""


def stand_in_config(
    base_url: str, credentials: tuple[str, str], **overrides: Any
) -> AlpacaConnectionConfig:
    """Settings of a paper client on a stand-in at ``base_url`` with short test timeouts.

    Args:
        base_url: The stand-in's URL (``AlpacaApiSimulator.base_url``).
        credentials: Key id and secret (``AlpacaApiSimulator.credentials(account)``).
        overrides: Any other ``AlpacaConnectionConfig`` field.
    """
    key, secret = credentials
    settings: dict[str, Any] = {
        "key_id": key,
        "secret_key": secret,
        "base_url": base_url,
        "request_timeout_secs": 5.0,
        "order_poll_max_secs": 0.05,
    }
    settings.update(overrides)
    return AlpacaConnectionConfig(**settings)
