"""Daemon configuration, read once at start: environment (and ``.env``), accounts, replacement sets.

Every problem is an ``InvalidInputError`` that names the file or variable, the account and the
field (``accounts.yaml: accounts[1].cash_reserve_percent: 150 is not within 0..100``), and all
problems are reported together so one edit fixes them. Secret values never appear in a message
or a repr.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from broker_connector_base import AccountConfig, InvalidInputError
from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from app.config.alpaca_keys import AlpacaKeyPair, environment_variables, read_account_keys
from app.config.dotenv import check_env_file
from app.config.files import (
    InvalidAccount,
    describe_errors,
    load_accounts_file,
    load_replacement_sets,
)
from app.trading.connections import check_accounts

__all__ = [
    "AppConfig",
    "InvalidAccount",
    "Settings",
    "is_loopback",
    "load_app_config",
    "load_settings",
]

logger = logging.getLogger(__name__)

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Values of these are never shown in an error (a URL may carry credentials).
_SECRET_FIELDS = frozenset(
    {
        "realtime_api_key",
        "allocations_api_key",
        "allocations_api_url",
        "notification_urls",
        "api_key",
        "alpaca_api_key_id",
        "alpaca_api_secret_key",
        "alpaca_base_url",
    }
)
_API_KEY_MIN_LEN = 16
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_DAY_SECS = 86_400
_Seconds = Annotated[float, Field(gt=0, le=_DAY_SECS, allow_inf_nan=False)]

# load_settings(environ=...) hands its mapping to the settings source through this variable:
# pydantic-settings builds sources in a classmethod that takes no caller arguments.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("_ENVIRON", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """Environment source that reads a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Case-insensitive and empty-means-unset, like the default source with this config.
        return {key.lower(): value for key, value in self._environ.items() if value != ""}


class Settings(BaseSettings):
    """Daemon settings from environment variables (case-insensitive) and an optional ``.env``.

    Unknown variables in ``.env`` are ignored: the same file usually feeds docker compose.
    An empty variable (``REALTIME_API_KEY=``) counts as unset.
    """

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
        env_file_encoding="utf-8",
        hide_input_in_errors=True,
    )

    trading_mode: Literal["paper", "live"] = "paper"
    realtime_api_key: SecretStr | None = None
    ably_endpoint: str | None = None
    ably_tls: bool = True
    allocations_api_url: str
    allocations_api_key: SecretStr | None = None
    ib_gateway_host: str = Field(default="127.0.0.1", min_length=1)
    ib_gateway_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    data_dir: Path = Path("data")
    accounts_file: Path = Path("accounts.yaml")
    replacement_sets_file: Path = Path("replacement-sets.yaml")
    notification_urls: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    log_level: str = "INFO"
    max_parallel_accounts: Annotated[int, Field(ge=1, le=64)] = 4
    # Durations are finite and at most a day (an hour for the shutdown grace): ``inf`` or
    # ``1e308`` is a typo, and would overflow the timers that use them.
    account_run_timeout_secs: _Seconds = 900
    shutdown_grace_secs: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 30
    event_max_age_secs: _Seconds = 300
    fill_timeout_secs: _Seconds = 120
    price_cache_ttl_secs: Annotated[float, Field(ge=0, le=_DAY_SECS, allow_inf_nan=False)] = 60
    ib_gateway_messages_per_sec: Annotated[int, Field(ge=1, le=50)] = 40
    # A fresh quote another worker on the gateway took this recently serves an execution
    # round instead of a new snapshot request (ibkr_connector.shared_quotes); 0 is off.
    ib_shared_quote_max_age_secs: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 1.0
    gateway_breaker_failures: Annotated[int, Field(ge=1, le=100)] = 3
    gateway_breaker_cooldown_secs: _Seconds = 300
    alpaca_api_key_id: SecretStr | None = None
    alpaca_api_secret_key: Annotated[SecretStr | None, Field(validate_default=True)] = None
    alpaca_base_url: str | None = None
    # Not one variable but one pair per account, whose names embed the account id:
    # ``load_settings`` collects them (``app.config.alpaca_keys``).
    _alpaca_account_keys: dict[str, AlpacaKeyPair] = PrivateAttr(default_factory=dict)
    quote_recorder_enabled: bool = False
    quote_retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # How long a run that cannot reach the broker waits for it (never past the regular
    # close), then runs once; 0 gives up at the first failed connect.
    gateway_retry_secs: Annotated[float, Field(ge=0, le=_DAY_SECS, allow_inf_nan=False)] = 600
    # The position check (reads and places nothing): every so often in regular trading hours
    # (Mon-Fri 09:30-16:00 New York), or at any time with POSITION_CHECK_ANY_TIME; 0 is off.
    position_check_interval_secs: Annotated[
        float, Field(ge=0, le=_DAY_SECS, allow_inf_nan=False)
    ] = 1800
    position_check_any_time: bool = False
    api_enabled: bool = True
    api_host: str = Field(default="127.0.0.1", min_length=1)
    api_port: Annotated[int, Field(ge=0, le=65535)] = 8000
    api_cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    api_auth_max_failures: Annotated[int, Field(ge=1, le=1000)] = 10
    snapshots_enabled: bool = True
    snapshot_time: time = time(16, 10)
    # Validated last (it needs the host above) and even when unset (the bind check).
    api_key: SecretStr | None = Field(default=None, validate_default=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment before ``.env``; ``load_settings(environ=...)`` replaces the environment."""
        environ = _ENVIRON.get()
        if environ is not None:
            env_settings = _MappingEnvSource(settings_cls, environ)
        return init_settings, env_settings, dotenv_settings

    @field_validator("notification_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        # Apprise itself accepts whitespace- or comma-separated lists; do the same.
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("api_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("api_cors_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path:
                raise ValueError(f"{origin!r} is not an origin such as https://host:8443")
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < _API_KEY_MIN_LEN:
            raise ValueError(
                f"must be at least {_API_KEY_MIN_LEN} characters (for example the output of "
                "`openssl rand -hex 24`)"
            )
        host = info.data.get("api_host")
        if value is None and info.data.get("api_enabled", True) and not is_loopback(host):
            # Anyone who reaches the port could preview and rebalance every account.
            raise ValueError(
                f"is not set but API_HOST={host} is not a loopback address: anyone who can "
                "reach the port could trade; set API_KEY, bind API_HOST=127.0.0.1, or set "
                "API_ENABLED=false"
            )
        return value

    @field_validator("ably_endpoint", mode="before")
    @classmethod
    def _check_endpoint(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip() or None
        if isinstance(value, str):
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{value!r} is not host:port (for example 127.0.0.1:8765)")
            # The SDK takes an endpoint without ".", "::" or "localhost" for an Ably routing
            # policy name and connects to <endpoint>.realtime.ably.net instead: a single-label
            # host such as a compose service name would silently go to Ably itself.
            if "." not in value and "::" not in value and "localhost" not in value:
                raise ValueError(
                    f"{value!r}: the Ably SDK would read a host without a dot as a routing "
                    f"policy and connect to {value}.realtime.ably.net; use an IP address or a "
                    "fully qualified name (for example 127.0.0.1:8765)"
                )
        return value

    @field_validator("allocations_api_url")
    @classmethod
    def _check_allocations_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme == "file" and parts.path:
            return value
        if parts.scheme == "https" and parts.hostname:
            return value
        # The API key travels with every request: plain http only to this machine.
        if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
            return value
        raise ValueError(
            "must be https://host/..., file:///directory, or http:// to localhost only "
            f"(got scheme {parts.scheme!r})"
        )

    @field_validator("snapshot_time")
    @classmethod
    def _naive_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError(f"{value.isoformat()} has a UTC offset; it is New York time, HH:MM")
        return value

    @field_validator("alpaca_api_secret_key")
    @classmethod
    def _whole_alpaca_pair(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        key_id = info.data.get("alpaca_api_key_id")
        if (value is None) != (key_id is None) and "alpaca_api_key_id" in info.data:
            present, missing = "ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY"
            if key_id is None:
                present, missing = missing, present
            raise ValueError(
                f"{missing} is required when {present} is set (an Alpaca key pair is a key "
                "id and its secret)"
            )
        return value

    @field_validator("alpaca_base_url")
    @classmethod
    def _check_alpaca_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"must be an http(s) URL such as http://127.0.0.1:8765 (got scheme "
                f"{parts.scheme!r})"
            )
        if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
            raise ValueError(
                "must be a bare origin such as http://127.0.0.1:8765 (no path, "
                "query or credentials)"
            )
        # The key pair travels in the headers of every request.
        if info.data.get("trading_mode") == "live" and parts.scheme != "https":
            raise ValueError(
                "must be https:// when TRADING_MODE is live (live keys never travel in clear text)"
            )
        return value.strip().rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"{value!r} is not one of {', '.join(_LOG_LEVELS)}")
        return level

    @property
    def alpaca_account_keys(self) -> Mapping[str, AlpacaKeyPair]:
        """Per-account Alpaca key pairs (``ALPACA_<ACCOUNT>_API_KEY_ID`` and
        ``..._API_SECRET_KEY``), by the account part of the names (``load_settings`` reads
        them)."""
        return MappingProxyType(self._alpaca_account_keys)

    @property
    def gateway_port(self) -> int:
        """``IB_GATEWAY_PORT``, or IB Gateway's default: 4002 for paper, 4001 for live."""
        if self.ib_gateway_port is not None:
            return self.ib_gateway_port
        return 4002 if self.trading_mode == "paper" else 4001

    @property
    def allocations_is_file(self) -> bool:
        """True when allocations come from a local directory (``file://``)."""
        return self.allocations_api_url.startswith("file:")


@dataclass(frozen=True)
class AppConfig:
    """Everything the daemon needs, validated: settings, accounts, replacement set names.

    ``invalid_accounts`` are the ``accounts.yaml`` entries that are not served (never traded)
    until fixed (``app.config.files`` explains the policy); they are reported, never used.
    """

    settings: Settings
    accounts: tuple[AccountConfig, ...]
    replacement_set_names: frozenset[str]
    invalid_accounts: tuple[InvalidAccount, ...] = ()

    def invalid_for_strategy(self, strategy: str) -> tuple[InvalidAccount, ...]:
        """Entries not served that were meant to follow ``strategy``."""
        return tuple(e for e in self.invalid_accounts if strategy in e.strategy_names)

    def channel_names(self) -> list[str]:
        """Strategies to listen to: those of tradable accounts, and those of entries not
        served (so their signals are refused loudly, not missed)."""
        names = set(self.strategies())
        names.update(n for e in self.invalid_accounts for n in e.strategy_names)
        return sorted(names)

    def tradable_accounts(self) -> tuple[AccountConfig, ...]:
        """Enabled accounts whose ``type`` equals ``TRADING_MODE``, in file order."""
        mode = self.settings.trading_mode
        return tuple(a for a in self.accounts if a.enabled and a.type == mode)

    def strategies(self) -> dict[str, tuple[AccountConfig, ...]]:
        """Tradable accounts by strategy (channel) name, file order kept in each group.

        An account following several strategies is in the group of each of them, so a signal
        on any of its strategies' channels rebalances it (to the blend of all of them). Never
        grouped under its ``strategy_name`` label (``A+B``): no channel carries that name.
        """
        groups: dict[str, list[AccountConfig]] = {}
        for account in self.tradable_accounts():
            for name in account.strategy_names:
                groups.setdefault(name, []).append(account)
        return {name: tuple(accounts) for name, accounts in groups.items()}

    def account(self, account_id: str) -> AccountConfig:
        """The tradable account ``account_id``.

        Raises:
            InvalidInputError: The account is not configured, is disabled, or its ``type``
                differs from ``TRADING_MODE``; the message says which.
        """
        source = str(self.settings.accounts_file)
        found = next((a for a in self.accounts if a.account_id == account_id), None)
        broken = next((e for e in self.invalid_accounts if e.account_id == account_id), None)
        if found is None and broken is not None:
            raise broken.error()
        if found is None:
            similar = [
                a.account_id for a in self.accounts if a.account_id.upper() == account_id.upper()
            ]
            hint = f"; did you mean {similar[0]}?" if similar else ""
            known = ", ".join(a.account_id for a in self.accounts) or "none"
            raise InvalidInputError(
                f"account {account_id!r} is not configured (configured: {known}){hint}", source
            )
        if not found.enabled:
            raise InvalidInputError(
                f"account {account_id} is disabled (enabled: false); enable it to trade it",
                source,
            )
        if found.type != self.settings.trading_mode:
            raise InvalidInputError(
                f"account {account_id} is a {found.type} account but TRADING_MODE is "
                f"{self.settings.trading_mode}; it is traded only when both say the same",
                source,
            )
        return found


def is_loopback(host: object) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if not isinstance(host, str):
        return False
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(
    *,
    env_file: Path | None = Path(".env"),
    environ: Mapping[str, str] | None = None,
    env_file_required: bool = False,
) -> Settings:
    """Read the settings from the environment and ``env_file``.

    Args:
        env_file: A dotenv file read below the environment; ``None`` skips it. Every line
            must parse (``app.config.dotenv``).
        environ: Variables to use instead of ``os.environ`` (tests, tools).
        env_file_required: The file was named explicitly (``--env-file``): missing is an
            error. Otherwise a missing file is fine (a directory never is).

    Raises:
        InvalidInputError: The env file is unusable (naming it and the line), or one line per
            invalid or missing variable, naming it.
    """
    known = [name.upper() for name in Settings.model_fields]
    if env_file is not None and not check_env_file(
        env_file, required=env_file_required, known=known
    ):
        env_file = None
    variables = environment_variables(os.environ if environ is None else environ, env_file)
    account_keys = read_account_keys(variables)
    token = _ENVIRON.set(environ)
    try:
        settings = Settings(_env_file=env_file)
        settings._alpaca_account_keys = account_keys
        return settings
    except ValidationError as exc:
        lines = describe_errors(
            exc, field_label=str.upper, model=Settings, secret_fields=_SECRET_FIELDS
        )
        raise InvalidInputError("invalid settings:\n" + "\n".join(lines)) from None
    finally:
        _ENVIRON.reset(token)


def load_app_config(
    *,
    env_file: Path | None = Path(".env"),
    environ: Mapping[str, str] | None = None,
    env_file_required: bool = False,
) -> AppConfig:
    """Settings, replacement sets and accounts, all validated before anything trades.

    A missing replacement sets file means no sets are defined (accounts naming one are not
    served). Broker-specific checks (IB client ids that would collide, an Alpaca account
    without its key pair) and the notification URLs (each must be one Apprise knows) are
    checked here too, so a mistake in them stops
    the start instead of surfacing after a trade.

    Raises:
        InvalidInputError: Any problem in the settings or the files that makes them unusable
            as a whole (a bad accounts entry is reported in ``invalid_accounts`` instead).
    """
    # Imported here: of this module's users only loading the whole configuration needs the
    # notifier (which loads Apprise and its plugins, ~18 MB, only when URLs are set).
    from app.notify.notifier import check_notification_urls

    settings = load_settings(
        env_file=env_file, environ=environ, env_file_required=env_file_required
    )
    check_notification_urls(settings.notification_urls)
    sets_file = settings.replacement_sets_file
    sets = load_replacement_sets(sets_file) if os.path.exists(sets_file) else None
    loaded = load_accounts_file(settings.accounts_file, replacement_sets=sets)
    check_accounts(loaded.accounts, settings)
    set_names = sets.set_names() if sets is not None else frozenset()
    config = AppConfig(
        settings=settings,
        accounts=loaded.accounts,
        replacement_set_names=set_names,
        invalid_accounts=loaded.invalid,
    )
    logger.info(
        "Configuration loaded: TRADING_MODE=%s, %d accounts (%d tradable), %d replacement sets",
        settings.trading_mode,
        len(loaded.accounts),
        len(config.tradable_accounts()),
        len(set_names),
    )
    for entry in loaded.invalid:
        logger.critical("%s", entry.error())
    return config
