"""Per-broker connection settings carried by a worker request, and how the daemon fills them in.

A worker request (``app.workers.protocol.WorkerRequest``) is the run's common fields plus one
of these models, told apart by ``broker`` (a pydantic discriminated union): IB client ids, and
any broker secrets, live here with the broker's factory code instead of in the generic request.

Adding a broker (Alpaca, say) takes one connection model here (its secrets as ``SecretStr``
fields: ``encode_request`` writes every ``SecretStr`` of a request into the worker's stdin pipe
only, and the worker redacts them all from its log), joined to ``BrokerConnection``, one
builder in ``_BUILDERS`` that reads the settings, and one branch in ``broker_factory``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from broker_connector_base import AccountConfig, InvalidInputError
from pydantic import BaseModel, ConfigDict, Field

from app.store.files import ib_pacing_file
from app.trading.client_ids import assign_client_ids, client_id_for

if TYPE_CHECKING:
    from app.config.settings import Settings

__all__ = [
    "SUPPORTED_BROKERS",
    "BrokerConnection",
    "IBKRWorkerConnection",
    "check_accounts",
    "check_broker_supported",
    "connection_for",
]


class IBKRWorkerConnection(BaseModel):
    """How a worker reaches the IB Gateway for one account.

    Attributes:
        client_id: The account's IB API client id (``app.trading.client_ids``): stable across
            processes and restarts, unique among the accounts of one trading mode.
        host: Gateway host.
        port: Gateway API port.
        data_dir: Where the connector keeps its price and contract caches.
        price_cache_ttl_secs: How long a cached preview price is used.
        pacing_file: The message window shared by every process on this gateway.
        messages_per_sec: The gateway-wide rate (``IB_GATEWAY_MESSAGES_PER_SEC``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    broker: Literal["ibkr"] = "ibkr"
    client_id: Annotated[int, Field(ge=0)]
    host: str = Field(min_length=1)
    port: Annotated[int, Field(ge=1, le=65535)]
    data_dir: Path
    price_cache_ttl_secs: Annotated[float, Field(ge=0)] = 60.0
    pacing_file: Path | None = None
    messages_per_sec: Annotated[int, Field(ge=1, le=50)] = 40

    def api_client_id(self) -> int:
        """The client id the journal records for the run."""
        return self.client_id

    def describe(self) -> str:
        """How log lines name this connection."""
        return f"IB client id {self.client_id} at {self.host}:{self.port}"

    def gateway_address(self) -> tuple[str, int] | None:
        """Where the daemon checks that the broker is reachable (the API's status page)."""
        return self.host, self.port


# One member today; with a second broker this becomes
# ``Annotated[IBKRWorkerConnection | AlpacaWorkerConnection, Field(discriminator="broker")]``.
BrokerConnection = Annotated[IBKRWorkerConnection, Field(discriminator="broker")]
"""The connection part of a worker request, chosen by its ``broker`` field."""


def _ibkr(settings: Settings, account: AccountConfig) -> IBKRWorkerConnection:
    return IBKRWorkerConnection(
        client_id=client_id_for(account.account_id),
        host=settings.ib_gateway_host,
        port=settings.gateway_port,
        data_dir=settings.data_dir,
        price_cache_ttl_secs=settings.price_cache_ttl_secs,
        pacing_file=ib_pacing_file(
            settings.data_dir, settings.ib_gateway_host, settings.gateway_port
        ),
        messages_per_sec=settings.ib_gateway_messages_per_sec,
    )


_BUILDERS: dict[str, Callable[[Settings, AccountConfig], BrokerConnection]] = {"ibkr": _ibkr}

SUPPORTED_BROKERS: frozenset[str] = frozenset(_BUILDERS)
"""Brokers an account may name in ``accounts.yaml`` (``AccountConfig.broker``)."""


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


def connection_for(settings: Settings, account: AccountConfig) -> BrokerConnection:
    """The connection a worker uses for ``account``, from the daemon's settings.

    Raises:
        InvalidInputError: The account's broker is not supported.
    """
    check_broker_supported(account)
    return _BUILDERS[account.broker](settings, account)


def check_accounts(accounts: Iterable[AccountConfig]) -> None:
    """Broker-specific checks of the configured accounts, run once when the config loads.

    Raises:
        InvalidInputError: Two IB accounts of the same type would share a client id.
    """
    assign_client_ids(a for a in accounts if a.broker == "ibkr")
