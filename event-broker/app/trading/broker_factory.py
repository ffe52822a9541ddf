"""Chooses the broker connector for an account (``AccountConfig.broker``).

This is the only module of the daemon that names a concrete connector. Connectors are imported
inside the functions so the daemon process itself never loads them (``ib_async`` costs memory
and start-up time); only the per-account worker process does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from broker_connector_base import (
    AccountConfig,
    BaseRebalancer,
    BrokerClient,
    InvalidInputError,
    Trade,
)

from app.workers.protocol import WorkerRequest

__all__ = [
    "SUPPORTED_BROKERS",
    "check_broker_supported",
    "create_broker_client",
    "create_rebalancer",
    "preload_connectors",
]

SUPPORTED_BROKERS: frozenset[str] = frozenset({"ibkr"})


def preload_connectors() -> None:
    """Import every connector now (a worker does this before its request arrives)."""
    import ibkr_connector  # noqa: F401


def check_broker_supported(account_config: AccountConfig) -> None:
    """Refuse an account whose ``broker`` has no connector.

    Raises:
        InvalidInputError: The broker is not one of ``SUPPORTED_BROKERS``.
    """
    if account_config.broker not in SUPPORTED_BROKERS:
        raise InvalidInputError(
            f"account {account_config.account_id}: unsupported broker "
            f"{account_config.broker!r}; supported: {', '.join(sorted(SUPPORTED_BROKERS))}. "
            f"Adding one means writing a {account_config.broker}-connector package.",
            source="accounts file",
        )


def create_broker_client(request: WorkerRequest) -> BrokerClient:
    """A disconnected client for ``request.account`` with ``request.client_id``.

    Raises:
        InvalidInputError: The account's broker is not supported.
    """
    check_broker_supported(request.account)
    from ibkr_connector import IBKRClient, IBKRConnectionConfig

    config = IBKRConnectionConfig(
        trading_mode=request.trading_mode,
        client_id=request.client_id,
        host=request.gateway_host,
        port=request.gateway_port,
        data_dir=request.data_dir,
        price_cache_ttl_secs=request.price_cache_ttl_secs,
    )
    return IBKRClient(config)


def create_rebalancer(
    request: WorkerRequest,
    broker_client: BrokerClient,
    *,
    on_order: Callable[[Trade], None],
    logger: logging.Logger | None = None,
) -> BaseRebalancer:
    """The rebalancer for ``request.account`` on ``broker_client``.

    Args:
        request: The run: account, run id (tagged on every order), allocation source.
        broker_client: A client from ``create_broker_client``.
        on_order: Called with each order as it is placed and as its status changes.
        logger: Logger for the rebalancer's messages.

    Raises:
        InvalidInputError: The account's broker is not supported, or the replacement sets
            file is invalid.
    """
    check_broker_supported(request.account)
    from ibkr_connector import AllocationService, IBKRRebalancer, ReplacementService

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
    return IBKRRebalancer(
        broker_client,
        logger,
        allocation_service=AllocationService(
            request.allocations_api_url, request.allocations_api_key
        ),
        replacement_service=replacements,
        run_id=request.run_id,
        on_order=on_order,
        fill_timeout_secs=request.fill_timeout_secs,
    )
