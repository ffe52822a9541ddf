"""What the daemon sends to a per-account worker process, and how it crosses the pipe.

The request travels as one JSON line on the worker's stdin, never in argv or the environment,
because it carries the allocations API key. The result comes back as one JSON
document on the worker's stdout; the worker's log goes to its stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from broker_connector_base import AccountConfig
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from app.models import ExecMode

__all__ = ["WorkerRequest", "decode_request", "encode_request"]


class WorkerRequest(BaseModel):
    """Everything one account run needs; the worker reads no environment or config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: AccountConfig
    mode: ExecMode
    run_id: str = Field(min_length=1)
    client_id: Annotated[int, Field(ge=0)]
    trading_mode: Literal["paper", "live"]
    gateway_host: str
    gateway_port: Annotated[int, Field(ge=1, le=65535)]
    data_dir: Path
    journal_path: Path
    allocations_api_url: str
    allocations_api_key: SecretStr | None = None
    replacement_sets_file: Path | None = None
    fill_timeout_secs: Annotated[float, Field(gt=0)] = 60.0
    price_cache_ttl_secs: Annotated[float, Field(ge=0)] = 60.0
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _mode_said_twice(self) -> WorkerRequest:
        # Defence in depth: the daemon already refuses such accounts, but a worker must never
        # connect for an account whose type differs from the trading mode (live said twice).
        if self.account.type != self.trading_mode:
            raise ValueError(
                f"account {self.account.account_id} is {self.account.type} but TRADING_MODE is "
                f"{self.trading_mode}; it is traded only when both say the same"
            )
        return self


def encode_request(request: WorkerRequest) -> bytes:
    """Serialise ``request`` for the worker's stdin, with the API key in clear text.

    ``SecretStr`` dumps as ``**********``; the pipe is private to the two processes, so the
    key is written out here and nowhere else.
    """
    payload = request.model_dump(mode="json", exclude={"allocations_api_key"})
    key = request.allocations_api_key
    payload["allocations_api_key"] = key.get_secret_value() if key is not None else None
    return json.dumps(payload).encode()


def decode_request(raw: bytes) -> WorkerRequest:
    """Parse what ``encode_request`` wrote."""
    return WorkerRequest.model_validate_json(raw)
