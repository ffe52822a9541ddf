"""What the daemon sends to a per-account worker process, and how it crosses the pipe.

A request is the run's common fields plus the broker's own connection settings
(``app.trading.connections``). It travels as one JSON line on the worker's stdin, never in
argv or the environment, because it carries secrets (the allocations API key, a broker's
keys). The result comes back as one JSON document on the worker's stdout; the worker's log
goes to its stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from broker_connector_base import AccountConfig, AllocationItem
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_core import to_jsonable_python

from app.models import RunMode
from app.trading.connections import BrokerConnection

__all__ = ["WorkerRequest", "decode_request", "encode_request"]


class WorkerRequest(BaseModel):
    """Everything one account run needs; the worker reads no environment or config file.

    Built from the configuration in one place: ``app.runs.requests.build_worker_request``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: AccountConfig
    mode: RunMode
    run_id: str = Field(min_length=1)
    trading_mode: Literal["paper", "live"]
    connection: BrokerConnection
    journal_path: Path
    halt_file: Path
    """The kill switch's file in ``DATA_DIR``, watched by the worker (``app.store.halt``)."""
    allocations_api_url: str
    allocations_api_key: SecretStr | None = None
    replacement_sets_file: Path | None = None
    fill_timeout_secs: Annotated[float, Field(gt=0)] = 60.0
    gateway_retry_secs: Annotated[float, Field(ge=0)] = 0.0
    """How long the run may wait, in all, for a broker it cannot reach (never past the close)."""
    log_level: str = "INFO"
    allocations: tuple[AllocationItem, ...] | None = None
    """Target allocations to use instead of the strategy's (previews through the API)."""
    quotes_file: Path | None = None
    """The quote recorder's file, for arrival quotes (``None``: the recorder is off)."""

    @model_validator(mode="after")
    def _consistent(self) -> WorkerRequest:
        # Defence in depth: the daemon already refuses such accounts, but a worker must never
        # connect for an account whose type differs from the trading mode (live said twice).
        if self.account.type != self.trading_mode:
            raise ValueError(
                f"account {self.account.account_id} is {self.account.type} but TRADING_MODE is "
                f"{self.trading_mode}; it is traded only when both say the same"
            )
        if self.allocations is not None and self.mode != "print-rebalance":
            # Orders are placed only for the strategy's own allocations.
            raise ValueError(
                f"allocations given with the request are for previews only, not {self.mode!r}"
            )
        if self.connection.broker != self.account.broker:
            raise ValueError(
                f"account {self.account.account_id} trades at {self.account.broker!r} but the "
                f"request's connection is for {self.connection.broker!r}"
            )
        return self

    def secrets(self) -> list[SecretStr]:
        """Every secret the request carries, for the worker's log redaction."""
        return list(_secrets_in(self.model_dump()))


def _secrets_in(value: Any) -> Iterator[SecretStr]:
    if isinstance(value, SecretStr):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets_in(item)


def _revealed(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _revealed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_revealed(item) for item in value]
    return value


def encode_request(request: WorkerRequest) -> bytes:
    """Serialise ``request`` for the worker's stdin, with every secret in clear text.

    ``SecretStr`` dumps as ``**********``; the pipe is private to the two processes, so the
    secrets (wherever they sit in the request) are written out here and nowhere else.
    """
    payload = to_jsonable_python(_revealed(request.model_dump()))
    return json.dumps(payload).encode()


def decode_request(raw: bytes) -> WorkerRequest:
    """Parse what ``encode_request`` wrote."""
    return WorkerRequest.model_validate_json(raw)
