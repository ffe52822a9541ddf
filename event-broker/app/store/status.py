"""The daemon's status file, for ``python -m app.main --check`` (the container HEALTHCHECK).

The daemon rewrites ``DATA_DIR/daemon-status.json`` every few seconds with its pid, the time
and the realtime connection state; the check passes only when the file is fresh, the pid is
alive and the connection is up (or deliberately absent: manual triggers only).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "STATUS_FILE",
    "AblyState",
    "DaemonStatus",
    "check_status",
    "read_status",
    "write_status",
]

STATUS_FILE = "daemon-status.json"

AblyState = Literal["disabled", "connecting", "connected", "disconnected", "failed"]
"""``disabled``: no ``REALTIME_API_KEY``, manual triggers only (healthy)."""

_HEALTHY_ABLY_STATES = frozenset({"disabled", "connected"})


class DaemonStatus(BaseModel):
    """What the daemon writes; ``updated_at`` is a Unix time in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    updated_at: float
    started_at: float
    ably: AblyState
    active_runs: int = 0
    accepting: bool = True


def write_status(data_dir: Path, status: DaemonStatus) -> None:
    """Replace the status file atomically (a reader never sees half a file)."""
    path = data_dir / STATUS_FILE
    tmp = path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
    tmp.write_text(status.model_dump_json(), encoding="utf-8")
    os.replace(tmp, path)


def read_status(data_dir: Path) -> DaemonStatus | None:
    """The status file's content, or ``None`` when it is missing or unreadable."""
    try:
        return DaemonStatus.model_validate_json((data_dir / STATUS_FILE).read_bytes())
    except (OSError, ValidationError, json.JSONDecodeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def check_status(data_dir: Path, *, max_age_secs: float) -> tuple[bool, str]:
    """Whether the daemon is healthy, and why (one line for the operator)."""
    status = read_status(data_dir)
    if status is None:
        return False, f"no readable {data_dir / STATUS_FILE}: the daemon is not running"
    age = time.time() - status.updated_at
    if age > max_age_secs:
        return False, f"status is {age:.0f} s old (limit {max_age_secs:g} s): daemon stalled"
    if not _pid_alive(status.pid):
        return False, f"daemon pid {status.pid} is not running"
    if not status.accepting:
        return False, "daemon is shutting down"
    if status.ably not in _HEALTHY_ABLY_STATES:
        return False, f"realtime connection is {status.ably}"
    return True, f"daemon pid {status.pid} running, realtime {status.ably}"
