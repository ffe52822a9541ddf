"""How worker processes come to exist: a new interpreter each (``ExecLauncher``), or forks.

A launcher hands ``WorkerProcesses`` a fresh worker waiting for its request line; see
``app.workers.fork_launcher`` for the fork server. Either way a worker runs in a session (process
group) of its own, with stdin, stdout and stderr piped to the daemon, and without the
daemon's secrets in its environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Protocol

import app
from app.config.alpaca_keys import is_alpaca_key_variable
from app.config.logs import parse_worker_line

__all__ = [
    "KILL_WAIT_SECS",
    "MAX_LOG_LINE_BYTES",
    "WORKER_COMMAND",
    "ExecLauncher",
    "Worker",
    "WorkerHandle",
    "WorkerLauncher",
    "read_lines",
    "signal_group",
    "worker_env",
]

worker_logger = logging.getLogger("app.worker")

KILL_WAIT_SECS = 5.0
"""How long a worker gets to exit after SIGTERM (or SIGKILL) before the daemon gives up."""

_SECRET_VARIABLES = frozenset({"REALTIME_API_KEY", "ALLOCATIONS_API_KEY", "NOTIFICATION_URLS"})
"""Never passed to a worker: it gets the allocations key and its account's broker keys in its
request, and nothing else. Alpaca key pairs (``ALPACA_API_KEY_ID``, ``ALPACA_<ACCOUNT>_...``)
are kept out too (``is_alpaca_key_variable``)."""


def _secret(name: str) -> bool:
    return name.upper() in _SECRET_VARIABLES or is_alpaca_key_variable(name)


def worker_env() -> dict[str, str]:
    """The daemon's environment without secrets, with the ``app`` package importable."""
    env = {k: v for k, v in os.environ.items() if not _secret(k)}
    app_root = str(Path(app.__file__).resolve().parent.parent)
    current = env.get("PYTHONPATH")
    env["PYTHONPATH"] = app_root if not current else f"{app_root}{os.pathsep}{current}"
    return env


def signal_group(process: WorkerHandle, sig: signal.Signals) -> None:
    """Send ``sig`` to the worker's process group (itself and whatever it started)."""
    # Already gone, or a zombie whose group refuses signals: nothing left to stop.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "app.worker")


class WorkerHandle(Protocol):
    """A started worker process as the pool drives it (``asyncio.subprocess.Process`` is one).

    ``pid`` is also its process group id: every worker runs in a session of its own.
    """

    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None

    @property
    def pid(self) -> int:
        """Process id (and process group id)."""
        ...

    @property
    def returncode(self) -> int | None:
        """Exit code once it ended (negative: killed by that signal), else ``None``."""
        ...

    async def wait(self) -> int | None:
        """Wait for the end; the exit code, or ``None`` when it cannot be known."""
        ...


class Worker:
    """A started worker process, and the task relaying its log lines (stderr) to the daemon's."""

    def __init__(self, handle: WorkerHandle) -> None:
        self.handle = handle
        self._relay = asyncio.create_task(_relay_log(handle))

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.handle.pid

    async def reap(self) -> None:
        """Close its stdin and wait (briefly) for the last of its log lines."""
        if self.handle.stdin is not None:
            self.handle.stdin.close()
        await asyncio.wait({self._relay}, timeout=KILL_WAIT_SECS)
        if not self._relay.done():
            self._relay.cancel()


MAX_LOG_LINE_BYTES = 16_384
"""A worker's log line longer than this is relayed cut, saying how much was cut."""

_READ_BYTES = 65_536


async def read_lines(
    reader: asyncio.StreamReader, *, max_bytes: int = MAX_LOG_LINE_BYTES
) -> AsyncIterator[str]:
    """The lines of ``reader`` until EOF, however long: a longer one is cut, never an error.

    ``StreamReader``'s own line iteration raises past its 64 KiB buffer limit; that ended the
    relay, nobody read the worker's stderr any more, and the worker blocked on a full pipe
    until its run timeout. Here the stream is read in chunks and always drained.
    """
    head = bytearray()
    cut = 0
    while chunk := await reader.read(_READ_BYTES):
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start : end if end >= 0 else len(chunk)]
            room = max(0, max_bytes - len(head))
            head += piece[:room]
            cut += len(piece) - len(piece[:room])
            if end < 0:
                break
            yield _text(head, cut)
            head, cut = bytearray(), 0
            start = end + 1
    if head or cut:
        yield _text(head, cut)


def _text(head: bytes | bytearray, cut: int) -> str:
    text = head.decode(errors="replace").rstrip()
    return f"{text} ... [{cut} more bytes of this line cut]" if cut else text


async def _relay_log(process: WorkerHandle) -> None:
    assert process.stderr is not None
    level = logging.INFO
    async for line in read_lines(process.stderr):
        if line:
            level, text = parse_worker_line(line, level)
            worker_logger.log(level, "%s", text)


class WorkerLauncher(Protocol):
    """How worker processes come to exist: a new interpreter each, or forks of a ready one."""

    @property
    def idle_pids(self) -> list[int]:
        """Pre-started helper processes (idle spare workers, a fork server)."""
        ...

    async def prepare(self) -> None:
        """Start the helper processes ahead of the first run; never raises."""

    async def launch(self, broker: str) -> Worker:
        """A fresh worker for an account at ``broker``, waiting for its request line on stdin.

        The worker has that broker's connector loaded, or none yet (it then imports the
        request's), never another broker's.
        """
        ...

    def released(self) -> None:
        """A run ended (a launcher may replace what it used)."""

    async def close(self) -> None:
        """Stop the helper processes (not the workers running accounts)."""


class ExecLauncher:
    """Starts each worker as a new interpreter: ``python -m app.worker --broker NAME``.

    With ``spares`` > 0, that many are started ahead of time and wait for a request, the
    interpreter started and the daemon's code imported; they serve any broker, so they import
    the request's connector only once it arrives. A spare is replaced when a run that used one
    ends.

    Args:
        command: The worker's argv; the default is this interpreter running ``app.worker``.
        spares: How many idle, pre-started workers to keep.
    """

    def __init__(self, command: Sequence[str] = WORKER_COMMAND, *, spares: int = 0) -> None:
        self._command = tuple(command)
        self._spares: list[Worker] = []
        self._spare_target = max(0, spares)
        self._refills: set[asyncio.Task[None]] = set()
        self._spawning = asyncio.Lock()
        self._closed = False

    @property
    def idle_pids(self) -> list[int]:
        """Process ids of the idle, pre-started workers."""
        return [w.pid for w in self._spares if w.handle.returncode is None]

    async def prepare(self) -> None:
        """Start idle workers up to the ``spares`` count (returns once there are enough)."""
        async with self._spawning:
            while not self._closed and len(self.idle_pids) < self._spare_target:
                self._spares.append(await self._spawn())

    async def _spawn(self, *arguments: str) -> Worker:
        process = await asyncio.create_subprocess_exec(
            *self._command,
            *arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=worker_env(),
        )
        return Worker(process)

    async def launch(self, broker: str) -> Worker:
        """An idle spare if there is one, else a new process for ``broker``'s accounts."""
        while self._spares:
            spare = self._spares.pop(0)
            if spare.handle.returncode is None:
                return spare
            await spare.reap()
        return await self._spawn("--broker", broker)

    def released(self) -> None:
        """Start a replacement spare (in the background) if one is missing."""
        if self._closed or len(self.idle_pids) >= self._spare_target:
            return
        task = asyncio.create_task(self.prepare())
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def close(self) -> None:
        """Tell idle spares to exit (their stdin closes) and reap them."""
        self._closed = True
        for task in list(self._refills):
            task.cancel()
        await asyncio.gather(*self._refills, return_exceptions=True)
        spares, self._spares = self._spares, []
        for spare in spares:
            await spare.reap()  # EOF before a request: an idle worker exits at once
        if spares:
            await asyncio.wait(
                [asyncio.create_task(s.handle.wait()) for s in spares], timeout=KILL_WAIT_SECS
            )
        for spare in spares:
            signal_group(spare.handle, signal.SIGKILL)
            await spare.handle.wait()
