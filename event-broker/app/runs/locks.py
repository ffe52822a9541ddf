"""Cross-process lock per account, so two runs never trade the same account at once.

The lock is ``fcntl.flock`` on ``DATA_DIR/locks/<account>.lock``. The kernel releases it when
the holder's file descriptor closes, including when the process dies (even by SIGKILL), so a
crash never leaves a stale lock to clean up. Lock files are never deleted: deleting one while
another process waits on it would let two processes hold "the" lock on different inodes.

Note: a child created with ``fork`` while the lock is held inherits the descriptor and keeps
the lock held until it exits too; the daemon starts its account processes with ``spawn`` or
``subprocess``, which do not inherit it (Python opens files non-inheritable).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from broker_connector_base import InvalidInputError

__all__ = ["AccountBusyError", "account_lock", "lock_path"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# flock has no timeout, and a thread blocked in flock cannot be cancelled (it would take the
# lock later and hold it forever), so waiting polls with a short, growing interval.
_POLL_START_SECS = 0.01
_POLL_MAX_SECS = 0.2


class AccountBusyError(RuntimeError):
    """Another run holds the account's lock.

    Args:
        account_id: The account.
        holder_pid: The process id written by the holder, when readable.
        waited_secs: How long this caller waited.
    """

    def __init__(
        self, account_id: str, holder_pid: int | None = None, waited_secs: float = 0.0
    ) -> None:
        holder = f" by process {holder_pid}" if holder_pid is not None else ""
        waited = f" after waiting {waited_secs:g}s" if waited_secs > 0 else ""
        message = (
            f"account {account_id} is busy: another run holds its lock{holder}{waited}; "
            "not starting a second run on the same account"
        )
        super().__init__(message)
        self.message = message
        self.account_id = account_id
        self.holder_pid = holder_pid
        self.waited_secs = waited_secs

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.account_id, self.holder_pid, self.waited_secs))

    def __str__(self) -> str:
        return self.message


def lock_path(data_dir: Path, account_id: str) -> Path:
    """The lock file of ``account_id``.

    Raises:
        InvalidInputError: The account id could escape the lock directory.
    """
    if not _SAFE_ID.match(account_id):
        raise InvalidInputError(
            f"account id {account_id!r} may only contain letters, digits, '_' and '-'"
        )
    return data_dir / "locks" / f"{account_id}.lock"


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def _holder_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


async def _acquire(fd: int, account_id: str, wait_secs: float) -> None:
    start = time.monotonic()
    interval = _POLL_START_SECS
    while not _try_lock(fd):
        waited = time.monotonic() - start
        if waited >= wait_secs:
            raise AccountBusyError(account_id, _holder_pid(fd), round(waited, 3))
        await asyncio.sleep(min(interval, wait_secs - waited))
        interval = min(interval * 2, _POLL_MAX_SECS)


@asynccontextmanager
async def account_lock(
    data_dir: Path, account_id: str, *, wait_secs: float = 0.0
) -> AsyncIterator[Path]:
    """Hold the account's lock for the duration of the block.

    The lock is exclusive across processes and also between two holders in one process.

    Args:
        data_dir: ``DATA_DIR``; ``locks/`` is created inside it when missing.
        account_id: The account to lock.
        wait_secs: How long to wait for a busy lock; 0 tries once.

    Yields:
        The lock file's path.

    Raises:
        AccountBusyError: The lock was not acquired within ``wait_secs``.
        InvalidInputError: The account id is not usable as a file name.
    """
    path = lock_path(data_dir, account_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        await _acquire(fd, account_id, wait_secs)
        # The holder's pid, for the busy message of the next caller (diagnostics only).
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
