"""Shared fixtures for the daemon tests: config files, worker stand-ins, the simulator stack."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType

import pytest
from app.client_ids import assign_client_ids
from app.config import AppConfig, load_settings
from app.journal import Journal
from app.services.notification_service import NotificationService
from app.services.pdt_protection_service import PDTProtectionService
from app.services.trading_executor import JOURNAL_FILE, PDT_STATE_FILE, TradingExecutor
from app.worker_process import WorkerProcesses
from app.worker_protocol import WorkerRequest
from broker_connector_base import AccountConfig

WorkerScript = Callable[[str], tuple[str, ...]]
RequestFactory = Callable[..., WorkerRequest]

_RESULT_TEMPLATE = """
import json, sys, datetime, os, time, subprocess
request = json.loads(sys.stdin.buffer.readline())
now = datetime.datetime.now(datetime.UTC).isoformat()
def result(status="succeeded", error=None):
    return json.dumps({
        "account_id": request["account"]["account_id"], "run_id": request["run_id"],
        "mode": request["mode"], "status": status, "success": status == "succeeded",
        "error": error, "trades": [], "started_at": now, "finished_at": now,
    })
"""


@pytest.fixture
def worker_script(tmp_path: Path) -> WorkerScript:
    """Write a stand-in worker (Python body after the request is read); return its argv.

    The body sees ``request`` (the decoded JSON) and ``result(status, error)``.
    """
    counter = iter(range(1000))

    def make(body: str) -> tuple[str, ...]:
        path = tmp_path / f"worker_{next(counter)}.py"
        path.write_text(_RESULT_TEMPLATE + textwrap.dedent(body), encoding="utf-8")
        return (sys.executable, str(path))

    return make


@pytest.fixture
def make_request(tmp_path: Path) -> RequestFactory:
    """Build a ``WorkerRequest`` for an account (defaults suit the stand-in workers)."""

    def make(
        account_id: str = "DU111111", *, strategy: str = "s1", **changes: object
    ) -> WorkerRequest:
        account = AccountConfig(account_id=account_id, type="paper", strategy_name=strategy)
        fields: dict[str, object] = {
            "account": account,
            "mode": "print-rebalance",
            "run_id": f"run-{account_id}",
            "client_id": 111111,
            "trading_mode": "paper",
            "gateway_host": "127.0.0.1",
            "gateway_port": 4002,
            "data_dir": tmp_path,
            "journal_path": tmp_path / "journal.sqlite3",
            "allocations_api_url": f"file://{tmp_path}",
        }
        fields.update(changes)
        return WorkerRequest.model_validate(fields)

    return make


ConfigFactory = Callable[..., AppConfig]


@pytest.fixture
def make_config(tmp_path: Path) -> ConfigFactory:
    """An ``AppConfig`` for the given accounts (paper), with state under ``tmp_path/data``."""

    def make(*accounts: AccountConfig, **environ: str) -> AppConfig:
        env = {
            "TRADING_MODE": "paper",
            "ALLOCATIONS_API_URL": f"file://{tmp_path / 'allocations'}",
            "DATA_DIR": str(tmp_path / "data"),
            "ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
            "REPLACEMENT_SETS_FILE": str(tmp_path / "no-sets.yaml"),
            "ACCOUNT_RUN_TIMEOUT_SECS": "30",
            **{key.upper(): value for key, value in environ.items()},
        }
        settings = load_settings(env_file=None, environ=env)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return AppConfig(
            settings=settings,
            accounts=tuple(accounts),
            client_ids=MappingProxyType(assign_client_ids(accounts)),
            replacement_set_names=frozenset(),
        )

    return make


def paper_account(account_id: str, strategy: str = "s1", **fields: object) -> AccountConfig:
    """A paper ``AccountConfig`` (plain function: fixtures return it through ``account``)."""
    return AccountConfig.model_validate(
        {"account_id": account_id, "type": "paper", "strategy_name": strategy, **fields}
    )


@pytest.fixture
def account() -> Callable[..., AccountConfig]:
    """Factory for paper accounts: ``account("DU1", "strategy", pdt_protection_enabled=True)``."""
    return paper_account


ExecutorFactory = Callable[..., TradingExecutor]


@pytest.fixture
def make_executor() -> Iterator[ExecutorFactory]:
    """A ``TradingExecutor`` on real journal/PDT/lock files, with a stand-in worker command."""
    journals: list[Journal] = []

    def make(
        config: AppConfig,
        command: tuple[str, ...],
        *,
        notifier: NotificationService | None = None,
        lock_wait_secs: float | None = None,
    ) -> TradingExecutor:
        data_dir = config.settings.data_dir
        journal = Journal(data_dir / JOURNAL_FILE)
        journals.append(journal)
        return TradingExecutor(
            config,
            journal=journal,
            pdt=PDTProtectionService(data_dir / PDT_STATE_FILE),
            notifier=notifier or NotificationService(()),
            workers=WorkerProcesses(command),
            lock_wait_secs=lock_wait_secs,
        )

    yield make
    for journal in journals:
        journal.close()
