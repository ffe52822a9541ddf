"""Shared fixtures for the daemon tests: config files, worker stand-ins, the simulator stack."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from broker_connector_base import AccountConfig

from app.worker_protocol import WorkerRequest

WorkerScript = Callable[[str], tuple[str, ...]]
RequestFactory = Callable[..., WorkerRequest]

_RESULT_TEMPLATE = """
import json, sys, datetime, os, time, subprocess
request = json.loads(sys.stdin.buffer.read())
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

    def make(account_id: str = "DU111111", *, strategy: str = "s1", **changes: object) -> WorkerRequest:
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
