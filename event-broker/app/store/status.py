"""The daemon's status file, for ``python -m app.main --check`` (the container HEALTHCHECK).

The daemon rewrites ``DATA_DIR/daemon-status.json`` every few seconds with its pid, the time
and the realtime link's state; the check passes only when the file is fresh, the pid is alive
and the link is usable (or deliberately absent: manual triggers only).

The realtime rule: a link that drops and comes back within moments (the SDK resumes by itself,
usually in milliseconds) must not fail the check, a link known to be dead must. So the check
fails while the link is

- ``dead``: the liveness watchdog's last check failed (a ping unanswered, or a channel that
  would not re-attach) and no connection has proven itself since: an open but silent connection
  is found this way, and the watchdog then replaces it;
- ``reconnecting`` (not connected with every channel attached) for more than
  :data:`REALTIME_MAX_DOWN_SECS` in a row;
- ``failed`` (the key was refused; the daemon is exiting) or still ``connecting`` at start.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "REALTIME_MAX_DOWN_SECS",
    "STATUS_FILE",
    "AblyState",
    "DaemonStatus",
    "check_status",
    "read_status",
    "write_status",
]

STATUS_FILE = "daemon-status.json"

REALTIME_MAX_DOWN_SECS = 30.0
"""How long the realtime link may stay ``reconnecting`` before the check fails: longer than a
resume takes, shorter than the SDK's default retry cycle after a refused connection (25 s) plus
one retry."""

AblyState = Literal["disabled", "connecting", "connected", "reconnecting", "dead", "failed"]
"""``disabled``: no ``REALTIME_API_KEY``, manual triggers only (healthy). The others: see the
module docstring."""

_HEALTHY_ABLY_STATES = frozenset({"disabled", "connected"})


class DaemonStatus(BaseModel):
    """What the daemon writes; ``updated_at`` is a Unix time in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    updated_at: float
    started_at: float
    ably: AblyState
    ably_down_since: float | None = None
    """Unix time since when the link has not been usable (``None`` while it is)."""
    active_runs: int = 0
    accepting: bool = True
    accounts_not_served: list[str] = []
    """``accounts.yaml`` entries the daemon does not trade until fixed (``accounts[2] (account
    DU3)``); the check says so, still healthy (a restart would not fix them)."""


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


def check_status(
    data_dir: Path, *, max_age_secs: float, max_down_secs: float = REALTIME_MAX_DOWN_SECS
) -> tuple[bool, str]:
    """Whether the daemon is healthy, and why (one line for the operator).

    Args:
        data_dir: Where the daemon writes its status file.
        max_age_secs: The file must have been written this recently.
        max_down_secs: How long the realtime link may stay ``reconnecting``.
    """
    status = read_status(data_dir)
    if status is None:
        return False, f"no readable {data_dir / STATUS_FILE}: the daemon is not running"
    now = time.time()
    age = now - status.updated_at
    if age > max_age_secs:
        return False, f"status is {age:.0f} s old (limit {max_age_secs:g} s): daemon stalled"
    if not _pid_alive(status.pid):
        return False, f"daemon pid {status.pid} is not running"
    if not status.accepting:
        return False, "daemon is shutting down"
    healthy, reason = _realtime_verdict(status, now=now, max_down_secs=max_down_secs)
    if status.accounts_not_served:
        reason += f"; NOT SERVED (fix accounts.yaml): {', '.join(status.accounts_not_served)}"
    return healthy, reason


def _realtime_verdict(
    status: DaemonStatus, *, now: float, max_down_secs: float
) -> tuple[bool, str]:
    running = f"daemon pid {status.pid} running"
    down_secs = now - status.ably_down_since if status.ably_down_since is not None else 0.0
    if status.ably in _HEALTHY_ABLY_STATES:
        return True, f"{running}, realtime {status.ably}"
    if status.ably == "reconnecting" and down_secs <= max_down_secs:
        return True, (
            f"{running}, realtime reconnecting for {down_secs:.0f} s "
            f"(unhealthy after {max_down_secs:g} s)"
        )
    if status.ably == "reconnecting":
        return False, f"realtime link down for {down_secs:.0f} s (limit {max_down_secs:g} s)"
    if status.ably == "dead":
        return False, (
            f"realtime link dead: the liveness check failed (down for {down_secs:.0f} s)"
        )
    return False, f"realtime connection is {status.ably}"
