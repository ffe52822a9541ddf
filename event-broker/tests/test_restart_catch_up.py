"""Signals published while the daemon is stopped: run once at the next start, stale ones never.

Real processes: ``python -m app.main`` (twice) on the IB Gateway simulator, with the real ably
SDK against the in-process fake realtime server, its history persisted for two hours (as an app
with persisted history keeps it); the journal read back from its SQLite file.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

Stack = Any  # conftest.Stack (test modules cannot import conftest under importlib mode)
DaemonFactory = Callable[..., Awaitable[Any]]
CHANNEL = "etf-blend-301-20"
PREVIEW = {"exec": "print-rebalance"}
RAN = "ran 1 accounts: succeeded"


async def _health_check(env: dict[str, str], cwd: Any) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app.main", "--check"),
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_signal_published_while_stopped_runs_once_at_restart_and_old_ones_never(
    stack: Stack, daemon: DaemonFactory
) -> None:
    stack.ably.channel_history.retention_secs = 7200
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    first = await daemon()
    # The last signal this daemon sees is an hour old: journalled as stale, and where the next
    # start's catch-up begins (a daemon stopped for a while).
    await stack.ably.publish(CHANNEL, PREVIEW, id="hour-old:0", timestamp_ms=an_hour_ago)
    await first.wait_for_log("Event hour-old:0 stale")
    assert await first.stop() == 0

    ten_minutes_ago = int(time.time() * 1000) - 600_000
    stale = {"exec": "rebalance"}
    await stack.ably.publish(CHANNEL, stale, id="stale:0", timestamp_ms=ten_minutes_ago)
    await stack.ably.publish(CHANNEL, PREVIEW, id="hour-old:0")  # a replay of a seen id
    await stack.ably.publish(CHANNEL, PREVIEW, id="while-stopped:0")
    second = await daemon()
    recovered = await second.wait_for_log(f"Recovered 2 message(s) on {CHANNEL}")
    await second.wait_for_log(f"Event while-stopped:0 on {CHANNEL} done")
    health = await _health_check(second.env, stack.workdir)
    assert await second.stop() == 0

    assert "first attach since the daemon started" in recovered
    assert "4 read from history, 2 already seen, 1 stale" in recovered
    rows = stack.journal_rows("SELECT event_id, outcome FROM events ORDER BY id")
    assert [event_id for event_id, _ in rows] == ["hour-old:0", "stale:0", "while-stopped:0"]
    outcomes = {str(event_id): str(outcome) for event_id, outcome in rows}
    stale_outcome = r"stale: published {} s ago \(limit 300 s\); not run"
    assert re.fullmatch(stale_outcome.format(r"360\d"), outcomes["hour-old:0"])
    assert re.fullmatch(stale_outcome.format(r"60\d"), outcomes["stale:0"])
    assert outcomes["while-stopped:0"] == RAN
    assert stack.journal_rows("SELECT count(*) FROM runs") == [(1,)]
    assert stack.sim.orders() == []  # the stale "rebalance" never ran
    assert health[0] == 0, health[1]
    assert "realtime connected" in health[1]
