"""Runs per-account worker processes (``python -m app.worker``) from the daemon or the CLI.

Each worker runs in its own session (process group) so that killing it also kills anything it
started; on timeout the group is killed and the run is recorded as ``timed_out``. Worker log
lines are re-logged here at their level; the worker tags each with account and run id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

import app
from app.logging_setup import parse_worker_line
from app.models import AccountExecutionResult
from app.worker_protocol import WorkerRequest, encode_request

__all__ = [
    "WORKER_COMMAND",
    "WorkerOutcome",
    "WorkerPool",
    "WorkerProcesses",
    "failed_result",
]

logger = logging.getLogger(__name__)
worker_logger = logging.getLogger("app.worker")

_KILL_WAIT_SECS = 5.0
"""How long a worker gets to exit after SIGTERM before SIGKILL."""


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


_SECRET_VARIABLES = frozenset({"REALTIME_API_KEY", "ALLOCATIONS_API_KEY", "NOTIFICATION_URLS"})
"""Never passed to a worker: it gets the allocations key in its request, and nothing else."""


def _worker_env() -> dict[str, str]:
    """The daemon's environment without secrets, with the ``app`` package importable."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SECRET_VARIABLES}
    app_root = str(Path(app.__file__).resolve().parent.parent)
    current = env.get("PYTHONPATH")
    env["PYTHONPATH"] = app_root if not current else f"{app_root}{os.pathsep}{current}"
    return env


def _signal_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    # Already gone, or a zombie whose group refuses signals: nothing left to stop.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "app.worker")


class WorkerProcesses:
    """Starts worker processes and keeps track of them until they exit.

    Each run gets its own process, used once. With ``spares`` > 0, that many processes are
    started ahead of time and wait, libraries imported, for a request: a signal then does not
    pay the interpreter start and the broker library import (about 0.6 s) before trading.
    A spare is replaced when a run that used one ends.

    Args:
        command: The worker's argv; the default is this interpreter running ``app.worker``.
        spares: How many idle, pre-started workers to keep.
    """

    def __init__(self, command: Sequence[str] = WORKER_COMMAND, *, spares: int = 0) -> None:
        self._command = tuple(command)
        self._running: dict[str, asyncio.subprocess.Process] = {}
        self._relays: dict[int, asyncio.Task[None]] = {}
        self._spares: list[asyncio.subprocess.Process] = []
        self._spare_target = max(0, spares)
        self._refills: set[asyncio.Task[None]] = set()
        self._spawning = asyncio.Lock()
        self._terminating = False

    @property
    def running_count(self) -> int:
        """How many worker processes are running an account now (spares not counted)."""
        return len(self._running)

    @property
    def spare_pids(self) -> list[int]:
        """Process ids of the idle, pre-started workers."""
        return [p.pid for p in self._spares if p.returncode is None]

    async def start_spares(self) -> None:
        """Start idle workers up to the ``spares`` count (returns once there are enough)."""
        async with self._spawning:
            while not self._terminating and len(self.spare_pids) < self._spare_target:
                self._spares.append(await self._spawn())

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=_worker_env(),
        )
        self._relays[process.pid] = asyncio.create_task(self._relay_log(process))
        return process

    async def _take(self) -> asyncio.subprocess.Process:
        while self._spares:
            spare = self._spares.pop(0)
            if spare.returncode is None:
                return spare
            await self._reap(spare)
        return await self._spawn()

    async def _reap(self, process: asyncio.subprocess.Process) -> None:
        if process.stdin is not None:
            process.stdin.close()
        relay = self._relays.pop(process.pid, None)
        if relay is not None:
            await asyncio.wait({relay}, timeout=_KILL_WAIT_SECS)
            if not relay.done():
                relay.cancel()

    def _refill(self) -> None:
        if self._terminating or len(self.spare_pids) >= self._spare_target:
            return
        task = asyncio.create_task(self.start_spares())
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

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
        process = await self._take()
        self._running[request.run_id] = process
        logger.info(
            "Worker pid %d runs account %s run %s (%s, client id %d)",
            process.pid,
            request.account.account_id,
            request.run_id,
            request.mode,
            request.client_id,
        )
        try:
            output = await asyncio.wait_for(self._exchange(process, request), timeout_secs)
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
            await self._reap(process)
            self._refill()
        return self._parse(request, process, output, started_at)

    async def terminate_all(self) -> None:
        """SIGTERM every running worker's group, SIGKILL what is left after a short wait.

        Idle spares are told to exit (their stdin closes) and reaped too.
        """
        self._terminating = True
        for task in list(self._refills):
            task.cancel()
        await asyncio.gather(*self._refills, return_exceptions=True)
        spares, self._spares = self._spares, []
        for spare in spares:
            if spare.stdin is not None:
                spare.stdin.close()  # EOF before a request: an idle worker exits at once
        running = list(self._running.values())
        for process in running:
            logger.warning("Terminating worker pid %d", process.pid)
            _signal_group(process, signal.SIGTERM)
        everything = running + spares
        if everything:
            await asyncio.wait(
                [asyncio.create_task(p.wait()) for p in everything], timeout=_KILL_WAIT_SECS
            )
        for process in everything:
            _signal_group(process, signal.SIGKILL)
        for spare in spares:
            await spare.wait()
            await self._reap(spare)

    @staticmethod
    async def _exchange(process: asyncio.subprocess.Process, request: WorkerRequest) -> bytes:
        assert process.stdin is not None
        assert process.stdout is not None
        # stdin stays open after the request line: it is the worker's lifeline. If the daemon
        # dies (even by SIGKILL) the worker sees EOF and stops, so no orphan keeps trading an
        # account whose lock died with the daemon.
        process.stdin.write(encode_request(request) + b"\n")
        await process.stdin.drain()
        output = await process.stdout.read()
        await process.wait()
        return output

    @staticmethod
    async def _kill(process: asyncio.subprocess.Process) -> None:
        _signal_group(process, signal.SIGKILL)
        try:
            await asyncio.wait_for(process.wait(), _KILL_WAIT_SECS)
        except TimeoutError:
            logger.error("Worker pid %d did not exit after SIGKILL", process.pid)

    @staticmethod
    async def _relay_log(process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        level = logging.INFO
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                level, text = parse_worker_line(line, level)
                worker_logger.log(level, "%s", text)

    def _parse(
        self,
        request: WorkerRequest,
        process: asyncio.subprocess.Process,
        output: bytes,
        started_at: datetime,
    ) -> WorkerOutcome:
        code = process.returncode
        if code == 0 and output:
            try:
                result = AccountExecutionResult.model_validate_json(output)
                return WorkerOutcome(result, reported_by_worker=True)
            except ValidationError as exc:
                error = f"worker returned an unreadable result: {exc.error_count()} errors"
        elif self._terminating:
            error = "run terminated at shutdown (SIGTERM/SIGINT)"
        elif code is not None and code < 0:
            error = f"worker was killed by signal {signal.Signals(-code).name}"
        else:
            error = f"worker exited with code {code} without a result"
        logger.error("Account %s run %s: %s", request.account.account_id, request.run_id, error)
        failed = failed_result(request, status="failed", error=error, started_at=started_at)
        return WorkerOutcome(failed, reported_by_worker=False)
