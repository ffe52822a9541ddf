"""The daemon's connection to one fork server process (``app.workers.fork_server``).

``ServerProcess`` starts the server, waits for its ``ready``, sends it a worker's pipes per
fork request and turns its ``forked``/``exited`` answers into ``ForkedWorker`` objects whose
exit the daemon can await. ``app.workers.fork_launcher`` decides when to use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from collections.abc import Sequence

from app.workers.fork_server import MESSAGE_SIZE
from app.workers.launch import KILL_WAIT_SECS, read_lines, worker_env

__all__ = ["ForkServerError", "ForkedWorker", "ServerProcess", "fork_server_env"]

logger = logging.getLogger("app.workers.fork_launcher")
server_logger = logging.getLogger("app.workers.fork_server")

_READY_TIMEOUT_SECS = 120.0
"""How long the fork server may take to import everything (a loaded 2-core machine)."""

_FORK_TIMEOUT_SECS = 30.0
"""How long a fork request may wait for its answer before the server is given up on."""

_ORPHAN_POLL_SECS = 0.2


_ONE_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
"""Math libraries start thread pools at import unless told not to; fork needs one thread."""


def fork_server_env() -> dict[str, str]:
    """A worker's environment (no secrets; forked workers inherit it) with one-thread math."""
    env = worker_env()
    env.update(dict.fromkeys(_ONE_THREAD_VARIABLES, "1"))
    return env


class ForkServerError(Exception):
    """The fork server could not start, answer or fork."""


class ForkedWorker:
    """A worker forked by the fork server: the daemon's pipes, and its exit as reported."""

    def __init__(
        self,
        pid: int,
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        exit_code: asyncio.Future[int | None],
    ) -> None:
        self._pid = pid
        self.stdin: asyncio.StreamWriter | None = stdin
        self.stdout: asyncio.StreamReader | None = stdout
        self.stderr: asyncio.StreamReader | None = stderr
        self._exit = exit_code

    @property
    def pid(self) -> int:
        """Process id (and process group id)."""
        return self._pid

    @property
    def returncode(self) -> int | None:
        """The reported exit code once it ended (``None`` before, or when it is unknown)."""
        return self._exit.result() if self._exit.done() else None

    async def wait(self) -> int | None:
        """Wait for its end; ``None`` when the exit status was lost with the fork server."""
        return await asyncio.shield(self._exit)


async def _orphan_exit(pid: int) -> int | None:
    """Wait for a worker whose fork server died; its exit code if it became our child."""
    while True:
        # As PID 1 of a container the daemon inherits orphans: reap it, or it stays a zombie.
        with contextlib.suppress(ChildProcessError):
            reaped, status = os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 (never blocks)
            if reaped:
                return os.waitstatus_to_exitcode(status)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        await asyncio.sleep(_ORPHAN_POLL_SECS)


async def _read_stream(fd: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    await asyncio.get_running_loop().connect_read_pipe(lambda: protocol, os.fdopen(fd, "rb", 0))
    return reader


async def _write_stream(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(fd, "wb", 0)
    )
    return asyncio.StreamWriter(transport, protocol, None, loop)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ServerProcess:
    """One running fork server and the connection to it."""

    def __init__(self, process: asyncio.subprocess.Process, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock
        self.connected = True
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[None] = loop.create_future()
        self._pending: dict[str, asyncio.Future[tuple[int, asyncio.Future[int | None]]]] = {}
        self._exits: dict[int, asyncio.Future[int | None]] = {}
        self._orphans: set[asyncio.Task[None]] = set()
        self._tokens = itertools.count(1)
        self._reader = asyncio.create_task(self._read())
        self._relay = asyncio.create_task(self._relay_log())

    @classmethod
    async def start(cls, command: Sequence[str]) -> ServerProcess:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=theirs.fileno(),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=fork_server_env(),
            )
        except OSError as exc:
            ours.close()
            raise ForkServerError(f"cannot start the fork server: {exc}") from exc
        finally:
            theirs.close()
        ours.setblocking(False)
        server = cls(process, ours)
        try:
            await asyncio.wait_for(asyncio.shield(server._ready), _READY_TIMEOUT_SECS)
        except (TimeoutError, ForkServerError) as exc:
            await server.close()
            reason = (
                "was not ready in time"
                if isinstance(exc, TimeoutError)
                else f"exited before it was ready (exit code {process.returncode})"
            )
            raise ForkServerError(f"fork server pid {process.pid} {reason}") from exc
        return server

    @property
    def alive(self) -> bool:
        """Connected, and the process has not exited."""
        return self.connected and self.process.returncode is None

    async def fork(self) -> ForkedWorker:
        """A new worker with fresh pipes to this process."""
        if not self.alive:
            raise ForkServerError(f"fork server pid {self.process.pid} is gone")
        token = str(next(self._tokens))
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        answer = self._pending[token] = asyncio.get_running_loop().create_future()
        try:
            try:
                await self._send(f"fork {token}", [stdin_r, stdout_w, stderr_w])
            finally:
                for fd in (stdin_r, stdout_w, stderr_w):
                    os.close(fd)  # the worker's ends: only the worker may hold them now
            pid, exit_code = await asyncio.wait_for(answer, _FORK_TIMEOUT_SECS)
        except BaseException as exc:
            self._pending.pop(token, None)
            for fd in (stdin_w, stdout_r, stderr_r):
                os.close(fd)  # a worker forked anyway sees EOF and exits
            if isinstance(exc, TimeoutError | OSError):
                self.connected = False  # unresponsive or broken: the next launch replaces it
                raise ForkServerError(f"fork request failed: {exc!r}") from exc
            raise
        return ForkedWorker(
            pid,
            await _write_stream(stdin_w),
            await _read_stream(stdout_r),
            await _read_stream(stderr_r),
            exit_code,
        )

    async def _send(self, text: str, fds: list[int]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                socket.send_fds(self.sock, [text.encode()], fds)
                return
            except BlockingIOError:
                writable: asyncio.Future[None] = loop.create_future()
                loop.add_writer(self.sock, _resolve, writable)
                try:
                    await writable
                finally:
                    loop.remove_writer(self.sock)

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while message := await loop.sock_recv(self.sock, MESSAGE_SIZE):
                text = message.decode(errors="replace")
                try:
                    self._dispatch(text)
                except ValueError:
                    logger.error("Fork server pid %d said %r", self.process.pid, text)
        except OSError as exc:
            logger.error("Connection to fork server pid %d failed: %s", self.process.pid, exc)
        finally:
            self._lost()

    def _dispatch(self, message: str) -> None:
        verb, _, rest = message.partition(" ")
        if verb == "ready":
            if not self._ready.done():
                self._ready.set_result(None)
        elif verb == "forked":
            token, _, pid_text = rest.partition(" ")
            pid = int(pid_text)
            exit_code = self._exits[pid] = asyncio.get_running_loop().create_future()
            answer = self._pending.pop(token, None)
            if answer is not None and not answer.done():
                answer.set_result((pid, exit_code))
        elif verb == "exited":
            pid_text, _, code_text = rest.partition(" ")
            done = self._exits.pop(int(pid_text), None)
            if done is not None and not done.done():
                done.set_result(int(code_text))
        elif verb == "error":
            token, _, text = rest.partition(" ")
            answer = self._pending.pop(token, None)
            if answer is not None and not answer.done():
                answer.set_exception(ForkServerError(text))
        else:
            raise ValueError(message)

    def _lost(self) -> None:
        """The connection ended: fail what waits for an answer; watch running workers."""
        self.connected = False
        gone = ForkServerError(f"fork server pid {self.process.pid} went away")
        if not self._ready.done():
            self._ready.set_exception(gone)
            self._ready.exception()  # retrieved here: start() may have stopped waiting
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(gone)
        self._pending.clear()
        for pid, exit_code in self._exits.items():
            logger.error("Worker pid %d lost its fork server; its exit status may be unknown", pid)
            task = asyncio.create_task(self._watch_orphan(pid, exit_code))
            self._orphans.add(task)
            task.add_done_callback(self._orphans.discard)
        self._exits.clear()

    @staticmethod
    async def _watch_orphan(pid: int, exit_code: asyncio.Future[int | None]) -> None:
        code = await _orphan_exit(pid)
        if not exit_code.done():
            exit_code.set_result(code)

    async def _relay_log(self) -> None:
        assert self.process.stderr is not None
        async for line in read_lines(self.process.stderr):
            if line:
                server_logger.warning("Fork server pid %d: %s", self.process.pid, line)

    async def close(self) -> None:
        """Close the connection (the server exits on EOF); SIGKILL it if it lingers."""
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self.sock.close()
        try:
            await asyncio.wait_for(self.process.wait(), KILL_WAIT_SECS)
        except TimeoutError:
            logger.error("Fork server pid %d did not exit; killing it", self.process.pid)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        for tasks in ({self._relay}, self._orphans):
            if tasks:
                await asyncio.wait(tasks, timeout=KILL_WAIT_SECS)
            for task in tasks:
                task.cancel()
