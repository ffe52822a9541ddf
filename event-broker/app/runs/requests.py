"""A worker request from the configuration: the one place settings are copied into a run.

The daemon, the CLI (and through it the demo) and the tests all build their requests here, so
a new setting reaches every worker by one edit.
"""

from __future__ import annotations

from broker_connector_base import AccountConfig, AllocationItem

from app.config.settings import AppConfig
from app.models import RunMode
from app.store.files import JOURNAL_FILE, QUOTES_FILE
from app.store.halt import HALT_FILE
from app.trading.connections import connection_for
from app.workers.protocol import WorkerRequest

__all__ = ["build_worker_request"]


def build_worker_request(
    config: AppConfig,
    account: AccountConfig,
    mode: RunMode,
    run_id: str,
    *,
    allocations: tuple[AllocationItem, ...] | None = None,
) -> WorkerRequest:
    """The worker's input for one run of ``account``.

    ``allocations`` replace the strategy's target allocations for this run (a preview with
    allocations given through the API).

    Raises:
        InvalidInputError: The account's broker is not supported.
    """
    settings = config.settings
    replacements = settings.replacement_sets_file
    # The recorder streams from the IB gateway only.
    recording = settings.quote_recorder_enabled and account.broker == "ibkr"
    return WorkerRequest(
        account=account,
        mode=mode,
        run_id=run_id,
        trading_mode=settings.trading_mode,
        connection=connection_for(settings, account),
        journal_path=settings.data_dir / JOURNAL_FILE,
        halt_file=settings.data_dir / HALT_FILE,
        allocations_api_url=settings.allocations_api_url,
        allocations_api_key=settings.allocations_api_key,
        replacement_sets_file=replacements if replacements.exists() else None,
        fill_timeout_secs=settings.fill_timeout_secs,
        gateway_retry_secs=settings.gateway_retry_secs,
        log_level=settings.log_level,
        allocations=allocations,
        quotes_file=settings.data_dir / QUOTES_FILE if recording else None,
    )
