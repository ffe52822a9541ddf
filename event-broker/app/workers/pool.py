"""Runs per-account worker processes (``app.worker``) from the daemon or the CLI.

Each worker runs in its own session (process group) so that killing it also kills anything it
started; on timeout the group is killed and the run is recorded as ``timed_out``. Worker log
lines are re-logged here at their level; the worker tags each with account and run id. How
the processes are started (a new interpreter each, or forks of a fork server) is up to the
launcher (``app.workers.launch``, ``app.workers.fork_launcher``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import ValidationError

from app.models import AccountExecutionResult
from app.workers.launch import (
    KILL_WAIT_SECS,
    WORKER_COMMAND,
    ExecLauncher,
    Worker,
    WorkerHandle,
    WorkerLauncher,
    signal_group,
)
from app.workers.protocol import WorkerRequest, encode_request

__all__ = [
    "WORKER_COMMAND",
    "WorkerOutcome",
    "WorkerPool",
    "WorkerProcesses",
    "failed_result",
]

logger = logging.getLogger(__name__)


class WorkerPool(Protocol):
    """What the executors need from a way of running accounts in processes of their own."""

    @property
    def running_count(self) -> int:
        """How many account processes are running now."""
        ...

    async def start_spares(self) -> None:
        """Prepare ahead of the first run (pre-started processes, a fork server)."""

    async def run(self, request: WorkerRequest, *, timeout_secs: float) -> AccountExecutionResult:
        """Run ``request``; never raises for a failed run."""
        ...

    async def run_reporting(self, request: WorkerRequest, *, timeout_secs: float) -> WorkerOutcome:
        """Run ``request``; say whether the process reported the result itself."""
        ...

    async def terminate_all(self) -> None:
        """Stop every running account process (SIGTERM, then SIGKILL)."""


@dataclass(frozen=True)
class WorkerOutcome:
    """A run's result, and whether the worker reported it (else the daemon made it up)."""

    result: AccountExecutionResult
    reported_by_worker: bool


def failed_result(
    request: WorkerRequest,
    *,
    status: str,
    error: str,
    started_at: datetime,
) -> AccountExecutionResult:
    """A result for a run that produced none of its own (refused, timed out, crashed)."""
    return AccountExecutionResult.model_validate(
        {
            "account_id": request.account.account_id,
            "run_id": request.run_id,
            "mode": request.mode,
            "status": status,
            "success": False,
            "error": error,
            "trades": [],
            "started_at": started_at,
            "finished_at": datetime.now(UTC),
        }
    )


class WorkerProcesses:
    """Runs each account in a worker process of its own and keeps track of it until it exits.

    Each run gets its own process, used once. How processes are started is the
    ``launcher``'s business: by default a new interpreter each (``ExecLauncher``), or forks
    of a pre-started fork server (``app.workers.fork_launcher.ForkServerLauncher``).

    Args:
        command: The worker's argv for the default launcher.
        spares: Idle, pre-started workers the default launcher keeps.
        launcher: How worker processes are started; ``command`` and ``spares`` are then unused.
    """

    def __init__(
        self,
        command: Sequence[str] = WORKER_COMMAND,
        *,
        spares: int = 0,
        launcher: WorkerLauncher | None = None,
    ) -> None:
        self._launcher = launcher or ExecLauncher(command, spares=spares)
        self._running: dict[str, Worker] = {}
        self._terminating = False

    @property
    def running_count(self) -> int:
        """How many worker processes are running an account now (spares not counted)."""
        return len(self._running)

    @property
    def spare_pids(self) -> list[int]:
        """Process ids of the pre-started helper processes (spare workers, fork server)."""
        return self._launcher.idle_pids

    async def start_spares(self) -> None:
        """Start the launcher's helper processes ahead of the first run."""
        await self._launcher.prepare()

    async def run(self, request: WorkerRequest, *, timeout_secs: float) -> AccountExecutionResult:
        """Run ``request`` in a worker process of its own and return its result.

        Never raises for a failure of the run: a timeout gives ``status="timed_out"``, a
        crash or termination gives ``status="failed"`` with the reason in ``error``.
        """
        return (await self.run_reporting(request, timeout_secs=timeout_secs)).result

    async def run_reporting(self, request: WorkerRequest, *, timeout_secs: float) -> WorkerOutcome:
        """Like ``run``, and say whether the worker itself reported the result.

        When it did not (timeout, crash, termination), what it did at the broker before it
        stopped is unknown: orders may have been placed (the journal has them).
        """
        started_at = datetime.now(UTC)
        worker = await self._launcher.launch(request.account.broker)
        process = worker.handle
        self._running[request.run_id] = worker
        logger.info(
            "Worker pid %d runs account %s run %s (%s, %s)",
            process.pid,
            request.account.account_id,
            request.run_id,
            request.mode,
            request.connection.describe(),
        )
        try:
            output, code = await asyncio.wait_for(self._exchange(process, request), timeout_secs)
        except TimeoutError:
            logger.error(
                "Account %s run %s timed out after %.0f s; killing worker pid %d",
                request.account.account_id,
                request.run_id,
                timeout_secs,
                process.pid,
            )
            await self._kill(process)
            timed_out = failed_result(
                request,
                status="timed_out",
                error=f"run timed out after {timeout_secs:g} s; the worker was killed",
                started_at=started_at,
            )
            return WorkerOutcome(timed_out, reported_by_worker=False)
        except BaseException:
            await self._kill(process)  # cancelled (shutdown): never leave an orphan
            raise
        finally:
            self._running.pop(request.run_id, None)
            await worker.reap()
            self._launcher.released()
        return self._parse(request, process.pid, output, code, started_at)

    async def terminate_all(self) -> None:
        """SIGTERM every running worker's group, SIGKILL what is left after a short wait.

        Then the launcher's helpers (idle spares, fork server) are stopped too.
        """
        self._terminating = True
        running = [w.handle for w in self._running.values()]
        for process in running:
            logger.warning("Terminating worker pid %d", process.pid)
            signal_group(process, signal.SIGTERM)
        ended = [asyncio.create_task(p.wait()) for p in running]
        if ended:
            await asyncio.wait(ended, timeout=KILL_WAIT_SECS)
        for process, end in zip(running, ended, strict=True):
            if not end.done():
                signal_group(process, signal.SIGKILL)
        if ended:
            # Their exit is reported by their parent (a fork server): let it say so first.
            await asyncio.wait(ended, timeout=KILL_WAIT_SECS)
        await self._launcher.close()

    @staticmethod
    async def _exchange(process: WorkerHandle, request: WorkerRequest) -> tuple[bytes, int | None]:
        assert process.stdin is not None
        assert process.stdout is not None
        # stdin stays open after the request line: it is the worker's lifeline. If the daemon
        # dies (even by SIGKILL) the worker sees EOF and stops, so no orphan keeps trading an
        # account whose lock died with the daemon.
        process.stdin.write(encode_request(request) + b"\n")
        with contextlib.suppress(ConnectionError):  # it died already: its exit code says why
            await process.stdin.drain()
        output = await process.stdout.read()
        return output, await process.wait()

    @staticmethod
    async def _kill(process: WorkerHandle) -> None:
        signal_group(process, signal.SIGKILL)
        try:
            await asyncio.wait_for(process.wait(), KILL_WAIT_SECS)
        except TimeoutError:
            logger.error("Worker pid %d did not exit after SIGKILL", process.pid)

    def _parse(
        self,
        request: WorkerRequest,
        pid: int,
        output: bytes,
        code: int | None,
        started_at: datetime,
    ) -> WorkerOutcome:
        # ``code`` None: the worker ended but its exit status is lost (its fork server died
        # first). A complete result on stdout is still its own: it is written last.
        if code in (0, None) and output:
            try:
                result = AccountExecutionResult.model_validate_json(output)
                return WorkerOutcome(result, reported_by_worker=True)
            except ValidationError as exc:
                error = f"worker returned an unreadable result: {exc.error_count()} errors"
        elif self._terminating:
            error = "run terminated at shutdown (SIGTERM/SIGINT)"
        elif code is None:
            error = f"worker pid {pid} ended without a result; its exit status is unknown"
        elif code < 0:
            error = f"worker was killed by signal {signal.Signals(-code).name}"
        else:
            error = f"worker exited with code {code} without a result"
        logger.error("Account %s run %s: %s", request.account.account_id, request.run_id, error)
        failed = failed_result(request, status="failed", error=error, started_at=started_at)
        return WorkerOutcome(failed, reported_by_worker=False)
