"""The daemon as a child process of a bench, and waiting on other processes (bench helper).

``bench/crash_recovery.py`` kills and restarts it, ``bench/signal_latency.py`` times it; the
bench scripts run as files, so this module is found beside them on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["DaemonProcess", "alive", "poll"]

POLL_SECS = 0.02


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][:1] != "Z"


async def poll(done: Callable[[], bool], timeout_secs: float = 120) -> bool:
    """Wait until ``done()`` (a state of other processes), looking every ``POLL_SECS``;
    ``False`` when ``timeout_secs`` passed first."""
    deadline = time.monotonic() + timeout_secs
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_SECS)
    return True


class DaemonProcess:
    """The daemon as a child process; lines of its log are waited on."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.lines: list[str] = []
        self.changed = asyncio.Condition()
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None

    async def start(self, *, fork_server: bool = True) -> None:
        """Start it; ``fork_server=False``: its workers are new interpreters."""
        command = ["-m", "app.main"]
        if not fork_server:
            command = [
                "-c",
                "import sys; from app.main import main; sys.exit(main(fork_server=False))",
            ]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            async with self.changed:
                self.lines.append(raw.decode(errors="replace"))
                self.changed.notify_all()

    def found(self, text: str, start: int = 0) -> str | None:
        return next((line for line in self.lines[start:] if text in line), None)

    async def wait_for(self, text: str, *, start: int = 0, timeout_secs: float = 180) -> str:
        try:
            async with asyncio.timeout(timeout_secs), self.changed:
                await self.changed.wait_for(lambda: self.found(text, start) is not None)
        except TimeoutError:
            tail = "".join(self.lines[-40:])
            raise SystemExit(f"no log line with {text!r} in {timeout_secs} s:\n{tail}") from None
        line = self.found(text, start)
        assert line is not None
        return line

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        if self.reader is not None:
            await self.reader

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        if self.reader is not None:
            await self.reader
