"""The kill switch: ``DATA_DIR/trading-halted.json``, on while the file exists.

``tools/rebalance.sh -halt "reason"`` writes it, ``-resume`` removes it (both journalled and
notified, ``app.control``). A file survives restarts and is seen at once by every process
that shares ``DATA_DIR``: the daemon (every later run is refused), the CLI, and the worker of
a run in progress, which asks before every order and polls it while its orders work
(``FileHaltSwitch``), cancelling them when it appears.

A halt file that cannot be read or parsed still halts: when in doubt, nothing trades.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "HALT_FILE",
    "POLL_SECS",
    "FileHaltSwitch",
    "HaltState",
    "clear_halt",
    "halt_banner",
    "read_halt",
    "write_halt",
]

HALT_FILE = "trading-halted.json"

POLL_SECS = 0.25
"""How often a worker with working orders looks at the file (one stat each time)."""

MAX_REASON_CHARS = 500


class HaltState(BaseModel):
    """Why and since when trading is halted, and who halted it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)
    halted_at: datetime
    halted_by: str = ""

    def describe(self) -> str:
        """``TRADING HALTED since 2026-11-20T15:00:00+00:00 by ops@host: reason``."""
        by = f" by {self.halted_by}" if self.halted_by else ""
        return f"TRADING HALTED since {self.halted_at.isoformat()}{by}: {self.reason}"


def read_halt(data_dir: Path) -> HaltState | None:
    """The halt in force, ``None`` when trading is allowed.

    An unreadable or malformed file counts as a halt (its problem is the reason).
    """
    path = data_dir / HALT_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _unreadable(path, f"cannot be read: {exc.strerror or exc}")
    try:
        return HaltState.model_validate_json(raw)
    except ValidationError as exc:
        return _unreadable(path, f"is not a halt record ({exc.error_count()} problems)")


def _unreadable(path: Path, problem: str) -> HaltState:
    modified = path.stat().st_mtime if path.exists() else 0.0
    return HaltState(
        reason=f"{path} {problem}; fix or remove it with -resume",
        halted_at=datetime.fromtimestamp(modified, UTC),
    )


def write_halt(data_dir: Path, *, reason: str, halted_by: str) -> HaltState:
    """Halt trading: write the file atomically (a reader never sees half of it).

    Raises:
        ValueError: The reason is empty (after stripping) or longer than 500 characters.
    """
    state = HaltState(reason=reason.strip(), halted_at=datetime.now(UTC), halted_by=halted_by)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / HALT_FILE
    tmp = path.with_name(f".{HALT_FILE}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(state.model_dump_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return state


def clear_halt(data_dir: Path) -> HaltState | None:
    """Resume trading: remove the file; the halt that was in force (``None``: there was none)."""
    state = read_halt(data_dir)
    try:
        (data_dir / HALT_FILE).unlink()
    except FileNotFoundError:
        return None
    return state


def halt_banner(data_dir: Path) -> str | None:
    """The line every notification starts with while trading is halted."""
    state = read_halt(data_dir)
    return state.describe() if state is not None else None


class FileHaltSwitch:
    """The engine's ``HaltSwitch`` over the halt file of ``data_dir``.

    Args:
        data_dir: The daemon's ``DATA_DIR``.
        poll_secs: How often ``wait_halted`` looks at the file.
    """

    def __init__(self, data_dir: Path, *, poll_secs: float = POLL_SECS) -> None:
        self.data_dir = data_dir
        self.poll_secs = poll_secs

    def halted(self) -> str | None:
        """The halt's reason, or ``None`` while trading is allowed."""
        state = read_halt(self.data_dir)
        return state.reason if state is not None else None

    async def wait_halted(self) -> str:
        """Return the reason once the file appears (polled: it may come from any process)."""
        while True:
            reason = self.halted()
            if reason is not None:
                return reason
            await asyncio.sleep(self.poll_secs)
