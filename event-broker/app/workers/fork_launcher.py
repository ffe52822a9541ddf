"""The daemon's side of the fork server (``app.workers.fork_server``): workers forked, not exec'd.

``ForkServerLauncher`` starts one fork server, hands it the pipes of each new worker and
learns the worker's pid and, later, its exit status from it. If the fork server cannot be
started or dies, a run is never lost: the worker is started as a new interpreter instead
(slower, same behaviour) and the fork server is started again for later runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from app.workers.fork_connection import (
    ForkedWorker,
    ForkServerError,
    ServerProcess,
    fork_server_env,
)
from app.workers.launch import ExecLauncher, Worker, WorkerLauncher

__all__ = [
    "FORK_SERVER_COMMAND",
    "ForkServerError",
    "ForkServerLauncher",
    "ForkedWorker",
    "fork_server_env",
]

logger = logging.getLogger(__name__)

FORK_SERVER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "app.workers.fork_server")

_RESTART_BACKOFF_SECS = 60.0
"""After a failed start, runs use new interpreters for this long before the next attempt."""


class ForkServerLauncher:
    """Launches workers as forks of a pre-started fork server (``app.workers.fork_server``).

    A fork costs milliseconds where a new interpreter costs about 0.6 s of CPU. When the
    fork server cannot serve, the run's worker is started by ``fallback`` instead.

    Args:
        command: The fork server's argv.
        fallback: Launches a worker when the fork server cannot (default: new interpreters).
    """

    def __init__(
        self,
        command: Sequence[str] = FORK_SERVER_COMMAND,
        *,
        fallback: WorkerLauncher | None = None,
    ) -> None:
        self._command = tuple(command)
        self._fallback: WorkerLauncher = fallback or ExecLauncher()
        self._server: ServerProcess | None = None
        self._starting = asyncio.Lock()
        self._retry_at = 0.0
        self._closed = False

    @property
    def server_pid(self) -> int | None:
        """The running fork server's process id."""
        server = self._server
        return server.process.pid if server is not None and server.alive else None

    @property
    def idle_pids(self) -> list[int]:
        """The fork server (and any idle helper of the fallback)."""
        pid = self.server_pid
        return ([pid] if pid is not None else []) + self._fallback.idle_pids

    async def prepare(self) -> None:
        """Start the fork server; on failure runs use new interpreters (logged)."""
        try:
            await self._running_server()
        except ForkServerError as exc:
            logger.error("%s; workers start as new interpreters (slower) for now", exc)

    async def launch(self) -> Worker:
        """A forked worker, or a new interpreter when the fork server cannot serve."""
        try:
            server = await self._running_server()
            return Worker(await server.fork())
        except ForkServerError as exc:
            logger.error("%s; starting this worker as a new interpreter", exc)
            return await self._fallback.launch()

    def released(self) -> None:
        """Nothing to replace: a fork server serves any number of runs."""
        self._fallback.released()

    async def close(self) -> None:
        """Stop the fork server (running workers are not touched)."""
        self._closed = True
        async with self._starting:
            server, self._server = self._server, None
            if server is not None:
                await server.close()
        await self._fallback.close()

    async def _running_server(self) -> ServerProcess:
        async with self._starting:
            if self._closed:
                raise ForkServerError("the worker pool is shutting down")
            server = self._server
            if server is not None and server.alive:
                return server
            if server is not None:
                self._server = None
                await server.close()
                logger.error(
                    "Fork server pid %d is gone (exit code %s); starting a new one",
                    server.process.pid,
                    server.process.returncode,
                )
            loop = asyncio.get_running_loop()
            if loop.time() < self._retry_at:
                raise ForkServerError(
                    f"the fork server failed to start less than {_RESTART_BACKOFF_SECS:g} s ago"
                )
            try:
                self._server = await ServerProcess.start(self._command)
            except ForkServerError:
                self._retry_at = loop.time() + _RESTART_BACKOFF_SECS
                raise
            logger.info("Fork server pid %d ready", self._server.process.pid)
            return self._server
