"""Health status file and ``python -m app.main --check``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app.store.status import DaemonStatus, check_status, read_status, write_status

REPO = Path(__file__).resolve().parents[3]


def _status(**changes: object) -> DaemonStatus:
    fields: dict[str, object] = {
        "pid": os.getpid(),
        "updated_at": time.time(),
        "started_at": time.time() - 10,
        "ably": "connected",
    }
    fields.update(changes)
    return DaemonStatus.model_validate(fields)


def test_check_status_with_fresh_file_live_pid_and_connected_ably_is_healthy(
    tmp_path: Path,
) -> None:
    written = _status()
    write_status(tmp_path, written)

    healthy, reason = check_status(tmp_path, max_age_secs=30)

    assert healthy, reason
    assert read_status(tmp_path) == written


def test_check_status_without_ably_key_is_healthy(tmp_path: Path) -> None:
    write_status(tmp_path, _status(ably="disabled"))

    assert check_status(tmp_path, max_age_secs=30)[0]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"updated_at": time.time() - 120}, "old"),
        ({"ably": "connecting"}, "realtime connection is connecting"),
        ({"ably": "failed"}, "realtime connection is failed"),
        ({"ably": "dead", "ably_down_since": time.time() - 3}, "realtime link dead"),
        ({"ably": "reconnecting", "ably_down_since": time.time() - 300}, "realtime link down"),
        ({"accepting": False}, "shutting down"),
    ],
)
def test_check_status_unhealthy_cases_say_why(
    tmp_path: Path, changes: dict[str, object], expected: str
) -> None:
    write_status(tmp_path, _status(**changes))

    healthy, reason = check_status(tmp_path, max_age_secs=30)

    assert not healthy
    assert expected in reason


def test_check_status_while_reconnecting_within_the_limit_is_healthy(tmp_path: Path) -> None:
    write_status(tmp_path, _status(ably="reconnecting", ably_down_since=time.time() - 5))

    healthy, reason = check_status(tmp_path, max_age_secs=30, max_down_secs=30)
    impatient = check_status(tmp_path, max_age_secs=30, max_down_secs=2)

    assert healthy, reason
    assert "realtime reconnecting for 5 s (unhealthy after 30 s)" in reason
    assert impatient == (False, "realtime link down for 5 s (limit 2 s)")


def test_check_status_with_dead_pid_is_unhealthy(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    write_status(tmp_path, _status(pid=child.pid))

    healthy, reason = check_status(tmp_path, max_age_secs=30)

    assert not healthy
    assert f"pid {child.pid} is not running" in reason


def test_check_status_without_file_is_unhealthy(tmp_path: Path) -> None:
    healthy, reason = check_status(tmp_path, max_age_secs=30)

    assert not healthy
    assert "not running" in reason


def test_main_check_exit_code_follows_status_file(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "ALLOCATIONS_API_URL": f"file://{tmp_path}",
        "PYTHONPATH": str(REPO / "event-broker"),
    }
    command = [sys.executable, "-m", "app.main", "--check", "--env-file", os.devnull]

    missing = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    write_status(tmp_path, _status())
    present = subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    assert missing.returncode == 1
    assert "unhealthy" in missing.stdout
    assert present.returncode == 0, present.stdout + present.stderr
    assert present.stdout.startswith("healthy")
