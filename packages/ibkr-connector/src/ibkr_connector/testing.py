"""Helpers for tests of this package and of code built on it (no simulator imports here).

Not used by the connector itself: accounts of the simulator's example scenario, an allocations
document builder, and the state of a local allocations API served by a test fixture.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from broker_connector_base import AccountConfig

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

ACCOUNT = "DUM959247"
"""The example scenario's account with positions (SPY, TLT, GLD) and 100,000 cash."""
OTHER_ACCOUNT = "DU789012"
"""The example scenario's second account: 50,000 cash, no positions."""
API_KEY = "sk-test-0123456789abcdef"

MakeClient = Callable[..., Awaitable["IBKRClient"]]
"""A fixture's factory of connected clients: ``await make_client(client_id=..., **config)``."""


@dataclass
class AllocationsAPI:
    """A local allocations API: ``documents[strategy]`` is served as JSON (or raw text)."""

    base_url: str = ""
    documents: dict[str, Any] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)  # served first, one per request
    requests: list[dict[str, str]] = field(default_factory=list)
    hang: bool = False  # answer nothing until ``release`` is set (a server that stalls)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def set_allocations(self, strategy: str, weights: dict[str, str]) -> None:
        self.documents[strategy] = allocation_document(strategy, weights)


def allocation_document(strategy: str, weights: dict[str, str]) -> dict[str, Any]:
    """An allocations API answer; weights are decimal strings written as JSON numbers."""
    return {
        "status": "success",
        "data": {
            "name": strategy,
            "strategy_long_name": f"{strategy} long name",
            "last_rebalance_on": "2026-11-20",
            "allocations": [{"symbol": s, "allocation": Decimal(w)} for s, w in weights.items()],
        },
    }


def dumps_document(document: Any) -> str:
    """JSON text of a document whose Decimal weights become JSON numbers."""
    return json.dumps(document, default=lambda d: float(d) if isinstance(d, Decimal) else d)


def account_config(**overrides: Any) -> AccountConfig:
    """The test account's configuration."""
    values: dict[str, Any] = {
        "account_id": ACCOUNT,
        "type": "paper",
        "strategy_name": "etf-blend",
        "cash_reserve_percent": Decimal(1),
    }
    values.update(overrides)
    return AccountConfig(**values)
