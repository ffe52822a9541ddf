"""The API inside the real daemon process (``python -m app.main``): bind rules, lifecycle."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(120)

Stack = Any  # conftest.Stack
DaemonFactory = Callable[..., Awaitable[Any]]
KEY = "daemon-test-key-0123456789abcdef"


async def _run_to_exit(stack: Stack, **env: str) -> tuple[int, str]:
    environ = {**stack.env, **{key.upper(): value for key, value in env.items()}}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.main",
        env=environ,
        cwd=stack.workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_daemon_refuses_to_start_on_public_address_without_key(stack: Stack) -> None:
    code, log = await _run_to_exit(stack, api_host="0.0.0.0")

    assert code == 2
    assert "API_KEY: is not set but API_HOST=0.0.0.0 is not a loopback address" in log
    assert "Traceback" not in log


async def test_daemon_refuses_to_start_when_api_port_is_taken(stack: Stack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, log = await _run_to_exit(stack, api_port=str(port), api_key=KEY)

    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port} (API_HOST/API_PORT)" in log
    assert "Traceback" not in log


async def test_daemon_serves_api_on_loopback_runs_preview_and_stops_on_sigterm(
    stack: Stack, daemon: DaemonFactory
) -> None:
    running = await daemon(ably=False, api_port="0", api_key=KEY)
    line = await running.wait_for_log("API and dashboard on")
    match = re.search(r"on (http://127\.0\.0\.1:\d+) ", line)
    assert match is not None, line
    async with httpx.AsyncClient(base_url=match[1], timeout=60) as client:
        health = await client.get("/api/v1/health")
        preview = await client.post(
            "/api/v1/accounts/DUM959247/calculate", json={}, headers={"X-API-Key": KEY}
        )
        code = await running.stop(signal.SIGTERM)

    assert health.status_code == 200
    assert preview.status_code == 200, preview.text
    assert preview.json()["status"] == "succeeded"
    assert code == 0
    assert stack.journal_rows("SELECT channel, outcome FROM events") == [
        ("api", "ran 1 accounts: succeeded")
    ]
    assert KEY not in "\n".join(running.log)


async def test_daemon_with_api_disabled_says_so(daemon: DaemonFactory) -> None:
    running = await daemon(ably=False, api_enabled="false", api_host="0.0.0.0")

    await running.wait_for_log("HTTP API disabled (API_ENABLED=false)")
    assert await running.stop() == 0
    assert not any("API and dashboard on" in line for line in running.log)
