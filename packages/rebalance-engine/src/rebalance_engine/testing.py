"""Helpers for tests of the engine and of code built on it (nothing broker-specific here).

Not used by the engine itself: an allocations document builder, the state of a local
allocations API served by a test fixture, and a test account configuration.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from broker_connector_base import AccountConfig

__all__ = [
    "ACCOUNT",
    "API_KEY",
    "ENDLESS_CAP_BYTES",
    "AllocationsAPI",
    "account_config",
    "allocation_document",
    "dumps_document",
]

ACCOUNT = "DUM959247"
"""The account id ``account_config`` uses (the IB simulator's example account)."""
API_KEY = "sk-test-0123456789abcdef"
ENDLESS_CAP_BYTES = 64 * 1_048_576
"""Where an ``endless`` answer stops after all (a client that reads it whole is broken)."""


@dataclass
class AllocationsAPI:
    """A local allocations API: ``documents[strategy]`` is served as JSON (text and bytes as
    they are)."""

    base_url: str = ""
    documents: dict[str, Any] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)  # served first, one per request
    requests: list[dict[str, str]] = field(default_factory=list)
    hang: bool = False  # answer nothing until ``release`` is set (a server that stalls)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    content_type: str = "application/json"
    """What the answers say they are (``Content-Type``, charset included when given)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra headers on every answer (a redirect's ``Location``)."""
    endless: bool = False
    """Answer 200 with a chunked body (no ``Content-Length``) that never ends: spaces until the
    client hangs up (at most ``ENDLESS_CAP_BYTES``)."""

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
    """The test account's configuration: strategy ``etf-blend`` unless ``strategies`` is given."""
    values: dict[str, Any] = {
        "account_id": ACCOUNT,
        "type": "paper",
        "cash_reserve_percent": Decimal(1),
    }
    if "strategies" not in overrides:
        values["strategy_name"] = "etf-blend"
    values.update(overrides)
    return AccountConfig(**values)
