"""Helpers for tests of this package and of code built on it (no simulator imports here).

The broker-agnostic helpers (allocations documents, the local allocations API's state, the
test account configuration) live in ``rebalance_engine.testing`` and are re-exported here;
what is IB-specific (the example scenario's second account, the client factory type) is
defined here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rebalance_engine.testing import (
    ACCOUNT,
    API_KEY,
    AllocationsAPI,
    account_config,
    allocation_document,
    dumps_document,
)

if TYPE_CHECKING:
    from ibkr_connector.client import IBKRClient

__all__ = [
    "ACCOUNT",
    "API_KEY",
    "OTHER_ACCOUNT",
    "AllocationsAPI",
    "MakeClient",
    "account_config",
    "allocation_document",
    "dumps_document",
]

OTHER_ACCOUNT = "DU789012"
"""The example scenario's second account: 50,000 cash, no positions (``ACCOUNT`` is the one
with positions: SPY, TLT, GLD and 100,000 cash)."""

MakeClient = Callable[..., Awaitable["IBKRClient"]]
"""A fixture's factory of connected clients: ``await make_client(client_id=..., **config)``."""
