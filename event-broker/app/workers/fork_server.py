"""Fork server: ``python -m app.workers.fork_server --broker NAME`` forks a ready-made worker
per account run of that broker.

Starting a worker as a new interpreter costs about 0.6 s of CPU (interpreter, pydantic, the
broker library, numpy); ten accounts on two cores pay it ten times before the first order.
This process pays it once: it imports everything a worker of its broker needs (that broker's
connector only: a worker forked from the IB server has no alpaca-py in memory and the other
way round), then waits on a Unix socket (its stdin, given by the daemon) and forks a fresh
worker for each request. A forked worker then behaves as ``python -m app.worker --broker
NAME`` would (``app.worker.main``), with the same protocol. The daemon runs one fork server
per broker its accounts use (``app.workers.fork_launcher``).

Protocol (one ``SOCK_SEQPACKET`` message each, ASCII):

- daemon -> server: ``fork TOKEN`` with three descriptors attached (``SCM_RIGHTS``): the
  worker's stdin (read end), stdout and stderr (write ends). The daemon keeps the other ends,
  so stdin stays the worker's lifeline: it sees EOF when the daemon dies.
- server -> daemon: ``ready PID`` once, after the imports; ``forked TOKEN PID`` or
  ``error TOKEN TEXT`` per request; ``exited PID CODE`` when a worker ends (``CODE`` as
  ``Popen.returncode``: negative for a signal). The server is the workers' parent, so it
  reaps them and the daemon learns their exit status from it.

Each worker gets a session (process group) of its own, so the daemon kills its group as
it does for an exec'd worker. The server exits when the daemon's end of the socket closes
(the daemon stopped or died); running workers stop by their own lifeline.

Forking is safe only from a single-threaded process: the server starts with the math
libraries limited to one thread (see ``fork_server_env`` in ``app.workers.fork_connection``), checks
that it has no thread but its own before it says ``ready``, and refuses to start otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import logging
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

__all__ = ["EXIT_THREADED", "MESSAGE_SIZE", "main", "thread_count"]

MESSAGE_SIZE = 512
"""Longest protocol message; every message is far shorter."""

EXIT_THREADED = 3
"""The server's exit code when threads exist after the imports (forking would be unsafe)."""


def thread_count() -> int:
    """Threads of this process as the kernel sees them (native library threads included)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run_worker(entry: Callable[[], int]) -> int:
    """Run ``entry`` as an interpreter would run a script: exit code, traceback, flush."""
    try:
        return entry()
    except SystemExit as exc:
        return _exit_code(exc)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        # What interpreter exit would do before os._exit skips it.
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()


class ForkServer:
    """The server loop: fork on request, reap and report exits.

    Args:
        sock: The daemon's connection (``SOCK_SEQPACKET``).
        entry: What a forked worker runs; returns its exit code.
    """

    def __init__(self, sock: socket.socket, entry: Callable[[], int]) -> None:
        self.sock = sock
        self.entry = entry
        self.selector = selectors.DefaultSelector()
        # SIGCHLD wakes the selector through this pipe (signal.set_wakeup_fd).
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)

    def serve(self) -> int:
        """Serve until the daemon closes its end; returns the exit code."""
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        signal.set_wakeup_fd(self.wake_write)
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.selector.register(self.wake_read, selectors.EVENT_READ)
        try:
            self._send(f"ready {os.getpid()}")
            return self._loop()
        except (BrokenPipeError, ConnectionResetError):
            return 0  # the daemon is gone

    def _loop(self) -> int:
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.sock:
                    message, fds, _flags, _address = socket.recv_fds(self.sock, MESSAGE_SIZE, 3)
                    if not message:
                        for fd in fds:
                            os.close(fd)
                        return 0  # the daemon is gone: its workers stop by their lifeline
                    self._handle(message.decode(errors="replace"), fds)
                else:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wake_read, 512):
                            pass  # drained: the reap below does the work
            self._reap()

    def _send(self, text: str) -> None:
        self.sock.send(text.encode())

    def _handle(self, message: str, fds: list[int]) -> None:
        verb, _, token = message.partition(" ")
        if verb != "fork" or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            self._send(f"error {token or '-'} bad request {message!r} with {len(fds)} fds")
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or the child would write the server's buffered text again
        try:
            pid = os.fork()
        except OSError as exc:
            self._send(f"error {token} fork failed: {exc}")
            pid = -1
        if pid == 0:
            self._become_worker(fds)
        for fd in fds:
            os.close(fd)
        if pid > 0:
            self._send(f"forked {token} {pid}")

    def _become_worker(self, stdio: list[int]) -> NoReturn:
        code = 1
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            # Close what the server held, by its owners: a descriptor closed behind its
            # Python object would be closed again, later, when its number is reused.
            self.selector.close()
            self.sock.close()
            os.close(self.wake_read)
            os.close(self.wake_write)
            with contextlib.suppress(OSError):  # what ps/top show, instead of the server's
                Path("/proc/self/comm").write_text("app.worker")
            for target, fd in enumerate(stdio):
                os.dup2(fd, target)
            for fd in stdio:
                os.close(fd)
            code = _run_worker(self.entry)
        except BaseException:
            traceback.print_exc()  # the set-up failed; the daemon sees exit code 1
        finally:
            os._exit(code)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._send(f"exited {pid} {os.waitstatus_to_exitcode(status)}")


def _real_worker(broker: str) -> Callable[[], int]:
    from app import worker
    from app.trading.broker_factory import preload_connector

    preload_connector(broker)
    return functools.partial(worker.main, ["--broker", broker])


def _script(path: Path, broker: str) -> Callable[[], int]:
    """A stand-in worker (tests), run as ``python PATH --broker BROKER`` would run it."""

    def run_script() -> int:
        sys.argv = [str(path), "--broker", broker]
        runpy.run_path(str(path), run_name="__main__")
        return 0

    return run_script


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m app.workers.fork_server`` (stdin is the daemon's socket)."""
    parser = argparse.ArgumentParser(prog="python -m app.workers.fork_server")
    parser.add_argument(
        "--broker", required=True, help="the broker whose accounts the forked workers run"
    )
    parser.add_argument("--worker-script", type=Path, help="run this file instead of app.worker")
    args = parser.parse_args(argv)
    # The real worker's imports are done in every case, so a stand-in pays what the real
    # one does and the thread check sees the same libraries.
    entry = _real_worker(args.broker)
    if args.worker_script is not None:
        entry = _script(args.worker_script, args.broker)
    threads = thread_count()
    if threads != 1:
        print(
            f"fork server: {threads} threads after the imports; forking is unsafe, exiting "
            "(is OPENBLAS_NUM_THREADS=1 set?)",
            file=sys.stderr,
        )
        return EXIT_THREADED
    sock = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # fd 0 stays taken, so no worker descriptor lands on it
    os.close(devnull)
    # Objects that exist now are shared by every worker; keeping the collector away from
    # them keeps those pages shared instead of copied into each worker.
    gc.freeze()
    return ForkServer(sock, entry).serve()


if __name__ == "__main__":
    sys.exit(main())
