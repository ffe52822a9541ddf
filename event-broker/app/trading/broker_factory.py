"""Chooses the broker connector for an account (``AccountConfig.broker``).

This is the only module of the daemon that names a concrete connector; what a worker needs to
reach each broker is in ``app.trading.connections``. Connectors are imported inside the
functions, one broker's at a time, so the daemon process itself never loads them (``ib_async``
and alpaca-py cost memory and start-up time), and a worker loads only its own broker's: an
Alpaca worker never imports ``ib_async``, an IB worker never imports alpaca-py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

from broker_connector_base import (
    AllocationItem,
    BaseRebalancer,
    BrokerClient,
    DailyBarSource,
    InvalidInputError,
    Trade,
)

from app.store.halt import FileHaltSwitch
from app.trading.connections import (
    SUPPORTED_BROKERS,
    AlpacaWorkerConnection,
    IBKRWorkerConnection,
    check_broker_supported,
)
from app.workers.protocol import WorkerRequest

if TYPE_CHECKING:
    from rebalance_engine import AllocationSource, ReplacementService, StrategyAllocations

__all__ = [
    "SUPPORTED_BROKERS",
    "check_broker_supported",
    "create_allocation_source",
    "create_broker_client",
    "create_daily_bar_source",
    "create_rebalancer",
    "preload_connector",
]


def preload_connector(broker: str | None) -> None:
    """Import the engine and ``broker``'s connector now (before a worker's request arrives).

    Only that broker's library is loaded, never another's; ``None`` loads the engine only
    (a worker that learns its broker from its request).

    Raises:
        InvalidInputError: ``broker`` has no connector.
    """
    import rebalance_engine.allocation_service  # noqa: F401  (the engine, with aiohttp)

    if broker == "ibkr":
        import ibkr_connector  # noqa: F401
    elif broker == "alpaca":
        import alpaca_connector  # noqa: F401
    elif broker is not None:
        raise InvalidInputError(
            f"no connector for broker {broker!r}; supported: {', '.join(sorted(SUPPORTED_BROKERS))}"
        )


def create_broker_client(request: WorkerRequest) -> BrokerClient:
    """A disconnected client for ``request.account`` over ``request.connection``.

    Raises:
        InvalidInputError: The account's broker is not supported.
    """
    check_broker_supported(request.account)
    connection = request.connection
    if isinstance(connection, IBKRWorkerConnection):
        from ibkr_connector import IBKRClient, IBKRConnectionConfig

        return IBKRClient(
            IBKRConnectionConfig(
                trading_mode=request.trading_mode,
                client_id=connection.client_id,
                host=connection.host,
                port=connection.port,
                data_dir=connection.data_dir,
                price_cache_ttl_secs=connection.price_cache_ttl_secs,
                pacing_file=connection.pacing_file,
                gateway_messages_per_sec=connection.messages_per_sec,
                shared_quote_max_age_secs=connection.shared_quote_max_age_secs,
            )
        )
    if isinstance(connection, AlpacaWorkerConnection):
        from alpaca_connector import AlpacaClient, AlpacaConnectionConfig

        return AlpacaClient(
            AlpacaConnectionConfig(
                trading_mode=request.trading_mode,
                key_id=connection.key_id,
                secret_key=connection.secret_key,
                base_url=connection.base_url,
            )
        )
    assert_never(connection)  # mypy: every member of BrokerConnection needs a branch here


def create_rebalancer(
    request: WorkerRequest,
    broker_client: BrokerClient,
    *,
    on_order: Callable[[Trade], None],
    logger: logging.Logger | None = None,
    orders_today: int = 0,
) -> BaseRebalancer:
    """The rebalancer for ``request.account`` on ``broker_client``.

    Args:
        request: The run: account, run id (tagged on every order), allocation source.
        broker_client: A client from ``create_broker_client``.
        on_order: Called with each order as it is placed and as its status changes.
        logger: Logger for the rebalancer's messages.
        orders_today: Orders the account placed earlier this trading day (the journal's
            count), for the ``max_orders_per_day`` risk limit.

    Raises:
        InvalidInputError: The account's broker is not supported, or the replacement sets
            file is invalid.
    """
    check_broker_supported(request.account)
    # The engine is broker-agnostic: every connector's client gets the same rebalancer.
    from rebalance_engine import Rebalancer

    allocations, replacements = create_allocation_source(request)
    arrival = None
    if request.quotes_file is not None:
        from app.quotes.arrival import RecordedArrivalQuotes
        from app.quotes.store import QuoteReader

        arrival = RecordedArrivalQuotes(broker_client, QuoteReader(request.quotes_file))
    return Rebalancer(
        broker_client,
        logger,
        allocation_source=allocations,
        replacement_service=replacements,
        run_id=request.run_id,
        on_order=on_order,
        fill_timeout_secs=request.fill_timeout_secs,
        orders_today=orders_today,
        halt=FileHaltSwitch(request.halt_file.parent),
        arrival_quotes=arrival,
    )


def create_allocation_source(
    request: WorkerRequest,
) -> tuple[AllocationSource, ReplacementService | None]:
    """Where ``request.account``'s targets come from: the allocations API (or the allocations
    given with the request) and the account's replacement set.

    Raises:
        InvalidInputError: The account names a replacement set but no sets file exists, or
            the file is invalid.
    """
    from rebalance_engine import AllocationService, ReplacementService

    allocations: AllocationSource = AllocationService(
        request.allocations_api_url, request.allocations_api_key
    )
    if request.allocations is not None:
        allocations = _GivenAllocations(request.allocations)
    replacements = None
    set_name = request.account.replacement_set
    if set_name is not None:
        if request.replacement_sets_file is None:
            raise InvalidInputError(
                f"account {request.account.account_id} uses replacement set {set_name!r} but "
                "no replacement sets file exists (REPLACEMENT_SETS_FILE)",
                source="accounts file",
            )
        replacements = ReplacementService.from_yaml(request.replacement_sets_file)
    return allocations, replacements


class _GivenAllocations:
    """Answers every strategy of the account with the allocations given with the request
    (an API preview of other targets); replacement sets still apply to them."""

    def __init__(self, items: tuple[AllocationItem, ...]) -> None:
        self.items = items

    async def get_allocations(self, strategy_name: str) -> StrategyAllocations:
        from rebalance_engine import StrategyAllocations

        return StrategyAllocations(
            name=strategy_name,
            strategy_long_name="allocations given with the request",
            last_rebalance_on="",
            allocations=list(self.items),
        )


def create_daily_bar_source(
    *, trading_mode: str, host: str, port: int | None, client_id: int, data_dir: Path
) -> DailyBarSource:
    """A disconnected IB client that serves daily bars (backtests with ``-prices gateway``),
    caching them under ``data_dir``.

    Raises:
        InvalidInputError: A setting the connector refuses (the message names it).
    """
    from ibkr_connector import IBKRClient, IBKRConnectionConfig
    from pydantic import ValidationError

    try:
        config = IBKRConnectionConfig.model_validate(
            {
                "trading_mode": trading_mode,
                "host": host,
                "port": port,
                "client_id": client_id,
                "data_dir": data_dir,
                "connect_retries": 1,  # a command line: say soon that the gateway is not there
            }
        )
    except ValidationError as exc:
        raise InvalidInputError(f"IB gateway settings: {exc}", source="environment") from None
    return IBKRClient(config)
