"""The realtime link's state for ``--check``: dead, reconnecting and back, on the real SDK.

AblyService against fake_ably_server; the status file written with what the daemon writes
(``link.state``, ``link.down_since``) and read by ``python -m app.main --check`` or
``check_status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from app.intake.messages import ReceivedMessage
from app.intake.subscriber import AblyConnectionFailed, AblyService
from app.store.status import DaemonStatus, check_status, write_status
from fake_ably_server import FakeAblyServer, ensure_loopback_bypasses_proxy
from pydantic import SecretStr

API_KEY = "testapp.testkey:link-secret"
CHANNEL = "strategy-alpha"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAblyServer]:
    ensure_loopback_bypasses_proxy()
    async with FakeAblyServer(api_key=API_KEY) as server:
        yield server


async def ignore(_message: ReceivedMessage) -> None:
    return None


def make_service(fake: FakeAblyServer, **overrides: Any) -> AblyService:
    options: dict[str, Any] = {
        "api_key": SecretStr(API_KEY),
        "channels": [CHANNEL],
        "on_message": ignore,
        "endpoint": fake.endpoint,
        "tls": False,
        "watchdog_interval_secs": 0.2,
        "connect_timeout_secs": 5.0,
        "ping_timeout_secs": 1.0,
        "request_timeout_secs": 1.0,
        "retry_timeout_secs": 0.2,
        "max_watchdog_failures": 100,
    }
    options.update(overrides)
    return AblyService(**options)


@asynccontextmanager
async def running(service: AblyService) -> AsyncIterator[None]:
    await service.start()
    task = asyncio.create_task(service.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AblyConnectionFailed):
            await task
        await service.close()


def write_link_status(data_dir: Path, service: AblyService) -> None:
    """What the daemon writes every few seconds (``app.main.Daemon._write_status``)."""
    write_status(
        data_dir,
        DaemonStatus(
            pid=os.getpid(),
            updated_at=time.time(),
            started_at=time.time(),
            ably=service.link.state,
            ably_down_since=service.link.down_since,
        ),
    )


async def health_check(data_dir: Path) -> tuple[int, str]:
    """``python -m app.main --check`` on ``data_dir``: exit code and output."""
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "ALLOCATIONS_API_URL": f"file://{data_dir}",
        "PYTHONPATH": str(REPO / "event-broker"),
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app.main", "--check", "--env-file", os.devnull),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_check_fails_while_the_watchdog_finds_the_link_dead_and_passes_once_replaced(
    fake: FakeAblyServer, tmp_path: Path
) -> None:
    service = make_service(fake)
    async with running(service):
        write_link_status(tmp_path, service)
        before = await health_check(tmp_path)
        fake.stall()  # open but silent: the SDK still says "connected"
        await service.link.wait_for("dead", timeout_secs=10)
        write_link_status(tmp_path, service)
        dead = await health_check(tmp_path)
        await service.link.wait_for("connected", timeout_secs=10)
        write_link_status(tmp_path, service)
        after = await health_check(tmp_path)
    assert before == (0, f"healthy: daemon pid {os.getpid()} running, realtime connected\n")
    assert dead[0] == 1
    assert dead[1].startswith("unhealthy: realtime link dead: the liveness check failed")
    assert after[0] == 0


async def test_link_down_is_reconnecting_since_the_drop_and_unhealthy_only_past_the_limit(
    fake: FakeAblyServer, tmp_path: Path
) -> None:
    # The watchdog stays out of the way: only the SDK's own view counts here.
    service = make_service(fake, watchdog_interval_secs=60)
    async with running(service):
        dropped_at = time.time()
        await fake.stop()
        await service.link.wait_for("reconnecting")
        down_since = service.link.down_since
        write_link_status(tmp_path, service)
        within_limit = check_status(tmp_path, max_age_secs=30, max_down_secs=30)
        past_limit = check_status(tmp_path, max_age_secs=30, max_down_secs=0)
        await fake.start()
        await service.link.wait_for("connected", timeout_secs=10)
        back = service.link.down_since
    assert down_since is not None
    assert dropped_at <= down_since <= time.time()
    assert within_limit[0], within_limit[1]
    assert "realtime reconnecting for 0 s (unhealthy after 30 s)" in within_limit[1]
    assert not past_limit[0]
    assert past_limit[1].startswith("realtime link down for")
    assert back is None
