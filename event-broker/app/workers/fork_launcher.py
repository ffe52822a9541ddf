"""The daemon's side of the fork servers (``app.workers.fork_server``): workers forked, not exec'd.

``ForkServerLauncher`` runs one fork server per broker (each has only its broker's connector
imported, so a forked worker never holds another broker's library), hands the right one the
pipes of each new worker and learns the worker's pid and, later, its exit status from it. If
a fork server cannot be started or dies, a run is never lost: the worker is started as a new
interpreter instead (slower, same behaviour) and the fork server is started again for later
runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable, Sequence

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


class _BrokerServer:
    """The fork server of one broker: started on demand, replaced when it dies."""

    def __init__(self, broker: str, command: tuple[str, ...]) -> None:
        self.broker = broker
        self.command = (*command, "--broker", broker)
        self.server: ServerProcess | None = None
        self.starting = asyncio.Lock()
        self.retry_at = 0.0

    @property
    def pid(self) -> int | None:
        server = self.server
        return server.process.pid if server is not None and server.alive else None

    async def running(self) -> ServerProcess:
        """The live server, started (again) if needed; the caller holds ``starting``."""
        server = self.server
        if server is not None and server.alive:
            return server
        if server is not None:
            self.server = None
            await server.close()
            logger.error(
                "Fork server pid %d is gone (%s accounts, exit code %s); starting a new one",
                server.process.pid,
                self.broker,
                server.process.returncode,
            )
        loop = asyncio.get_running_loop()
        if loop.time() < self.retry_at:
            raise ForkServerError(
                f"the {self.broker} fork server failed to start less than "
                f"{_RESTART_BACKOFF_SECS:g} s ago"
            )
        try:
            self.server = await ServerProcess.start(self.command)
        except ForkServerError:
            self.retry_at = loop.time() + _RESTART_BACKOFF_SECS
            raise
        logger.info("Fork server pid %d (%s) ready", self.server.process.pid, self.broker)
        return self.server

    async def close(self) -> None:
        async with self.starting:
            server, self.server = self.server, None
            if server is not None:
                await server.close()


class ForkServerLauncher:
    """Launches workers as forks of pre-started fork servers (``app.workers.fork_server``).

    One fork server per broker: an account's worker is forked from its broker's server, which
    imported that broker's connector and no other. A fork costs milliseconds where a new
    interpreter costs about 0.6 s of CPU. When a fork server cannot serve, the run's worker
    is started by ``fallback`` instead.

    Args:
        command: The fork server's argv (``--broker NAME`` is appended per broker).
        brokers: The brokers whose servers ``prepare`` starts (those the configured accounts
            use); a server for another broker starts at its first launch.
        fallback: Launches a worker when a fork server cannot (default: new interpreters).
    """

    def __init__(
        self,
        command: Sequence[str] = FORK_SERVER_COMMAND,
        *,
        brokers: Iterable[str],
        fallback: WorkerLauncher | None = None,
    ) -> None:
        self._command = tuple(command)
        self._brokers = tuple(sorted(set(brokers)))
        self._fallback: WorkerLauncher = fallback or ExecLauncher()
        self._servers: dict[str, _BrokerServer] = {}
        self._closed = False

    @property
    def server_pids(self) -> dict[str, int]:
        """The running fork servers' process ids, by broker."""
        pids = {broker: server.pid for broker, server in self._servers.items()}
        return {broker: pid for broker, pid in sorted(pids.items()) if pid is not None}

    @property
    def idle_pids(self) -> list[int]:
        """The fork servers (and any idle helper of the fallback)."""
        return list(self.server_pids.values()) + self._fallback.idle_pids

    async def prepare(self) -> None:
        """Start the fork server of each broker; on failure its runs use new interpreters."""
        await asyncio.gather(*(self._prepare(broker) for broker in self._brokers))

    async def _prepare(self, broker: str) -> None:
        try:
            await self._running_server(broker)
        except ForkServerError as exc:
            logger.error("%s; %s workers start as new interpreters (slower) for now", exc, broker)

    async def launch(self, broker: str) -> Worker:
        """A worker forked from ``broker``'s server, or a new interpreter when it cannot serve."""
        try:
            server = await self._running_server(broker)
            return Worker(await server.fork())
        except ForkServerError as exc:
            logger.error("%s; starting this worker as a new interpreter", exc)
            return await self._fallback.launch(broker)

    def released(self) -> None:
        """Nothing to replace: a fork server serves any number of runs."""
        self._fallback.released()

    async def close(self) -> None:
        """Stop the fork servers (running workers are not touched)."""
        self._closed = True
        await asyncio.gather(*(server.close() for server in self._servers.values()))
        await self._fallback.close()

    async def _running_server(self, broker: str) -> ServerProcess:
        server = self._servers.get(broker)
        if server is None:
            server = self._servers[broker] = _BrokerServer(broker, self._command)
        async with server.starting:
            if self._closed:
                raise ForkServerError("the worker pool is shutting down")
            return await server.running()
