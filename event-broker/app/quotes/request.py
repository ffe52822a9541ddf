"""What the quote recorder process is told: built by the daemon, read from the process's stdin.

Like a worker, the recorder reads no environment or configuration file: one JSON line on its
stdin says which gateway to stream from, which accounts' symbols to record and where to keep
them; stdin then stays open as a lifeline (EOF: the daemon died, the recorder stops).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from broker_connector_base import AccountConfig
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from app.config.settings import AppConfig
from app.store.files import QUOTES_FILE, ib_pacing_file

__all__ = ["RECORDER_CLIENT_ID", "RecorderRequest", "build_recorder_request", "encode_recorder"]

RECORDER_CLIENT_ID = 97
"""The recorder's IB API client id (below every account's, beside ``-prices gateway``'s 98)."""


class RecorderRequest(BaseModel):
    """Everything the recorder process needs.

    Attributes:
        accounts: The tradable IB accounts whose target symbols are recorded.
        quotes_file: The SQLite file the ticks go to.
        retention_days: Ticks older than this are deleted (at start and every hour).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: tuple[AccountConfig, ...] = Field(min_length=1)
    trading_mode: Literal["paper", "live"]
    host: str = Field(min_length=1)
    port: Annotated[int, Field(ge=1, le=65535)]
    client_id: Annotated[int, Field(ge=0)] = RECORDER_CLIENT_ID
    data_dir: Path
    pacing_file: Path
    messages_per_sec: Annotated[int, Field(ge=1, le=50)]
    quotes_file: Path
    retention_days: Annotated[int, Field(ge=1)]
    allocations_api_url: str
    allocations_api_key: SecretStr | None = None
    replacement_sets_file: Path | None = None
    log_level: str = "INFO"


def build_recorder_request(config: AppConfig) -> RecorderRequest | None:
    """The recorder's request from the configuration; ``None`` when it has nothing to do
    (``QUOTE_RECORDER_ENABLED`` false, or no tradable IB account)."""
    settings = config.settings
    accounts = tuple(a for a in config.tradable_accounts() if a.broker == "ibkr")
    if not settings.quote_recorder_enabled or not accounts:
        return None
    replacements = settings.replacement_sets_file
    port = settings.gateway_port
    return RecorderRequest(
        accounts=accounts,
        trading_mode=settings.trading_mode,
        host=settings.ib_gateway_host,
        port=port,
        data_dir=settings.data_dir,
        pacing_file=ib_pacing_file(settings.data_dir, settings.ib_gateway_host, port),
        messages_per_sec=settings.ib_gateway_messages_per_sec,
        quotes_file=settings.data_dir / QUOTES_FILE,
        retention_days=settings.quote_retention_days,
        allocations_api_url=settings.allocations_api_url,
        allocations_api_key=settings.allocations_api_key,
        replacement_sets_file=replacements if replacements.exists() else None,
        log_level=settings.log_level,
    )


def encode_recorder(request: RecorderRequest) -> bytes:
    """One JSON line for the recorder's stdin, the allocations key in clear text (the pipe is
    private to the two processes)."""
    payload = request.model_dump(mode="json")
    key = request.allocations_api_key
    payload["allocations_api_key"] = None if key is None else key.get_secret_value()
    return json.dumps(payload).encode() + b"\n"
