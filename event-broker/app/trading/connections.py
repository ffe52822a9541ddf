"""Per-broker connection settings carried by a worker request, and how the daemon fills them in.

A worker request (``app.workers.protocol.WorkerRequest``) is the run's common fields plus one
of these models, told apart by ``broker`` (a pydantic discriminated union): IB client ids, and
any broker secrets, live here with the broker's factory code instead of in the generic request.

Adding a broker takes one connection model here (its secrets as ``SecretStr`` fields:
``encode_request`` writes every ``SecretStr`` of a request into the worker's stdin pipe only,
and the worker redacts them all from its log), joined to ``BrokerConnection``, one builder in
``_BUILDERS`` that reads the settings, and one branch in ``broker_factory``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from broker_connector_base import AccountConfig, InvalidInputError
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from app.config.alpaca_keys import (
    ALPACA_KEY_VARIABLES,
    AlpacaKeyPair,
    account_key_variables,
    account_variable_part,
)
from app.store.files import ib_pacing_file
from app.trading.client_ids import assign_client_ids, client_id_for

if TYPE_CHECKING:
    from app.config.settings import Settings

__all__ = [
    "SUPPORTED_BROKERS",
    "AlpacaWorkerConnection",
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
        shared_quote_max_age_secs: How old another worker's fresh quote may be to serve this
            run's rounds (``IB_SHARED_QUOTE_MAX_AGE_SECS``; 0: every run requests its own).
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
    shared_quote_max_age_secs: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 1.0

    def api_client_id(self) -> int:
        """The client id the journal records for the run."""
        return self.client_id

    def describe(self) -> str:
        """How log lines name this connection."""
        return f"IB client id {self.client_id} at {self.host}:{self.port}"

    def gateway_address(self) -> tuple[str, int] | None:
        """Where the daemon checks that the broker is reachable (the API's status page)."""
        return self.host, self.port


class AlpacaWorkerConnection(BaseModel):
    """How a worker reaches Alpaca for one account: the account's key pair.

    Paper or live Alpaca follows the request's ``trading_mode`` (live only when the account's
    ``type`` says live too); ``base_url`` replaces Alpaca's Trading and Market Data URLs (a
    stand-in such as ``alpaca_api_sim``), https only for live.

    Attributes:
        key_id: The account's API key id.
        secret_key: Its secret.
        base_url: ``ALPACA_BASE_URL``; ``None`` is Alpaca itself.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    broker: Literal["alpaca"] = "alpaca"
    key_id: SecretStr
    secret_key: SecretStr
    base_url: str | None = None

    def api_client_id(self) -> int:
        """The journal's client id column: Alpaca has no API client ids, so 0."""
        return 0

    def describe(self) -> str:
        """How log lines name this connection (never the keys)."""
        return f"Alpaca API at {self.base_url}" if self.base_url else "Alpaca API"

    def gateway_address(self) -> tuple[str, int] | None:
        """Where the daemon checks that the broker is reachable (the API's status page).

        The stand-in's address when ``ALPACA_BASE_URL`` is set; ``None`` for Alpaca itself,
        whose API is reached over https, possibly through a proxy the environment names, so a
        plain TCP connection from the daemon would say little about it.
        """
        if self.base_url is None:
            return None
        parts = urlsplit(self.base_url)
        if parts.hostname is None:
            return None
        return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


BrokerConnection = Annotated[
    IBKRWorkerConnection | AlpacaWorkerConnection, Field(discriminator="broker")
]
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
        shared_quote_max_age_secs=settings.ib_shared_quote_max_age_secs,
    )


def alpaca_keys_for(settings: Settings, account_id: str) -> AlpacaKeyPair | None:
    """``account_id``'s own key pair, else the daemon's (``ALPACA_API_KEY_ID``), else None."""
    own = settings.alpaca_account_keys.get(account_variable_part(account_id))
    if own is not None:
        return own
    if settings.alpaca_api_key_id is None or settings.alpaca_api_secret_key is None:
        return None
    return AlpacaKeyPair(
        key_id=settings.alpaca_api_key_id, secret_key=settings.alpaca_api_secret_key
    )


def _alpaca(settings: Settings, account: AccountConfig) -> AlpacaWorkerConnection:
    keys = alpaca_keys_for(settings, account.account_id)
    if keys is None:
        raise InvalidInputError(_missing_keys(account.account_id))
    return AlpacaWorkerConnection(
        key_id=keys.key_id, secret_key=keys.secret_key, base_url=settings.alpaca_base_url
    )


_BUILDERS: dict[str, Callable[[Settings, AccountConfig], BrokerConnection]] = {
    "ibkr": _ibkr,
    "alpaca": _alpaca,
}

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


def check_accounts(accounts: Iterable[AccountConfig], settings: Settings) -> None:
    """Broker-specific checks of the configured accounts, run once when the config loads.

    Raises:
        InvalidInputError: Two IB accounts of the same type would share a client id; a
            tradable Alpaca account has no key pair, or shares one with another.
    """
    accounts = tuple(accounts)
    assign_client_ids(a for a in accounts if a.broker == "ibkr")
    tradable = [
        a
        for a in accounts
        if a.broker == "alpaca" and a.enabled and a.type == settings.trading_mode
    ]
    problems = [
        _missing_keys(a.account_id)
        for a in tradable
        if alpaca_keys_for(settings, a.account_id) is None
    ]
    problems.extend(_shared_keys(settings, tradable))
    if problems:
        raise InvalidInputError("invalid settings:\n" + "\n".join(problems))


def _missing_keys(account_id: str) -> str:
    own_id, own_secret = account_key_variables(account_id)
    key_id, secret = ALPACA_KEY_VARIABLES
    return (
        f"Alpaca account {account_id} has no API keys: set {own_id} and {own_secret} (this "
        f"account's own pair) or {key_id} and {secret} (the daemon's one Alpaca account)"
    )


def _shared_keys(settings: Settings, tradable: list[AccountConfig]) -> list[str]:
    """One key pair is one Alpaca account: two accounts on one pair is a configuration error."""
    problems = []
    on_default = [
        a.account_id
        for a in tradable
        if account_variable_part(a.account_id) not in settings.alpaca_account_keys
        and settings.alpaca_api_key_id is not None
    ]
    if len(on_default) > 1:
        problems.append(
            f"Alpaca accounts {', '.join(on_default)} would all use {ALPACA_KEY_VARIABLES[0]}, "
            "but a key pair belongs to one account: give each its own pair "
            f"({account_key_variables(on_default[0])[0]}, ...)"
        )
    parts: dict[str, str] = {}
    for account in tradable:
        earlier = parts.setdefault(account_variable_part(account.account_id), account.account_id)
        if earlier != account.account_id:
            problems.append(
                f"Alpaca accounts {earlier} and {account.account_id} both read "
                f"{account_key_variables(earlier)[0]}; rename one in the accounts file"
            )
    return problems
