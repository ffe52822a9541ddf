"""Connection settings of the Interactive Brokers connector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from broker_connector_base import BrokerConnectionConfig
from pydantic import Field

__all__ = ["DEFAULT_PORTS", "IBKRConnectionConfig"]

DEFAULT_PORTS: dict[str, int] = {"paper": 4002, "live": 4001}
"""IB Gateway's default API ports: 4002 for a paper login, 4001 for a live one."""


class IBKRConnectionConfig(BrokerConnectionConfig):
    """Where and how to reach an IB Gateway (or TWS).

    ``port`` ``None`` means the gateway default for ``trading_mode`` (4002 paper, 4001 live).
    ``request_timeout_secs`` bounds every single request to the gateway (the base's generic
    ``timeout_secs`` is not read by this connector);
    ``connect_timeout_secs`` bounds one connection attempt, of which there are
    ``connect_retries`` + 1 with exponential backoff starting at ``connect_backoff_secs``.
    ``data_dir`` holds the price and contract caches (SQLite); ``None`` keeps them in memory
    only. Cached contract details serve quotes and orders for ``contract_cache_ttl_secs``
    (0 disables that cache) and the liquid-hours check only on the exchange day they were
    fetched; lookups of details missing there take turns among the gateway's clients (any
    process with the same host, port and ``data_dir``), each waiting at most
    ``request_timeout_secs`` (``contract_cache``).
    ``commission_report_timeout_secs`` is how long ``wait_for_order`` waits, once an order is
    final, for the commission reports IB sends after each execution.
    ``pacing_file`` shares one message window among every client of the same gateway session,
    in any process (``gateway_pacing``): at most ``gateway_messages_per_sec`` messages per
    second from all of them together; ``None`` leaves each client to ib_async's own throttle.
    ``shared_quote_max_age_secs``: a fresh quote another client of the same gateway (same
    host, port and ``data_dir``, any process) took at most this long ago, and after this
    client's own previous quote of that contract, serves instead of a new snapshot request;
    concurrent fetches on the gateway take turns, so one snapshot serves them all
    (``shared_quotes``). 0 turns sharing off; so does ``data_dir`` ``None``.
    ``market_data_type`` 3 asks for live quotes where subscribed and delayed ones otherwise
    (IB sends live data whenever it can).
    """

    broker_type: Literal["ibkr"] = "ibkr"
    trading_mode: Literal["paper", "live"] = "paper"
    client_id: Annotated[int, Field(ge=0, le=2_147_483_647)]
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    connect_timeout_secs: Annotated[float, Field(gt=0)] = 10.0
    request_timeout_secs: Annotated[float, Field(gt=0)] = 30.0
    connect_retries: Annotated[int, Field(ge=0, le=20)] = 3
    connect_backoff_secs: Annotated[float, Field(ge=0)] = 1.0
    order_ack_timeout_secs: Annotated[float, Field(gt=0)] = 15.0
    commission_report_timeout_secs: Annotated[float, Field(ge=0)] = 2.0
    data_dir: Path | None = None
    price_cache_ttl_secs: Annotated[float, Field(ge=0)] = 60.0
    contract_cache_ttl_secs: Annotated[float, Field(ge=0)] = 86_400.0
    market_data_type: Literal[1, 2, 3, 4] = 3
    pacing_file: Path | None = None
    gateway_messages_per_sec: Annotated[int, Field(ge=1, le=50)] = 40
    shared_quote_max_age_secs: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 1.0

    @property
    def effective_port(self) -> int:
        """``port`` if set, else the gateway default for the trading mode."""
        return self.port if self.port is not None else DEFAULT_PORTS[self.trading_mode]
