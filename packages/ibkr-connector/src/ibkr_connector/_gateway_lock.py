"""Files of one IB gateway shared by its clients' processes, and the lock that serialises them.

Shared quotes (``shared_quotes``) and shared contract lookups (``contract_cache``) each keep
a lock file under the data directory, keyed by the gateway's host and port: a process that
fetches for the gateway holds it, so a sibling arriving meanwhile waits and then finds the
answer stored instead of asking the gateway again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["LockUnavailable", "gateway_file", "holding"]

# Polling the lock: the holder is waiting for a network answer (tens to hundreds of ms).
_FIRST_POLL_SECS = 0.002
_MAX_POLL_SECS = 0.02


class LockUnavailable(Exception):
    """The lock could not be taken (in time): the caller goes on without sharing."""


def gateway_file(data_dir: Path, kind: str, host: str, port: int, suffix: str) -> Path:
    """``data_dir/ib-<kind>-<host>-<port><suffix>``, the host made safe for a file name."""
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return data_dir / f"ib-{kind}-{safe}-{port}{suffix}"


@contextlib.asynccontextmanager
async def holding(lock_path: Path, timeout_secs: float) -> AsyncIterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (polled: ``flock`` would block the loop).

    Raises:
        LockUnavailable: Not obtained within ``timeout_secs``, or the lock file cannot be
            opened or locked.
    """
    try:
        # A descriptor of its own per holder: flock locks belong to the open file, so two
        # holders of one process (two clients) exclude each other as two processes do.
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockUnavailable(f"lock file not opened: {exc}") from exc
    try:
        await _acquire(fd, timeout_secs)
        yield
    finally:
        os.close(fd)  # releases the lock too


async def _acquire(fd: int, timeout_secs: float) -> None:
    deadline = time.monotonic() + timeout_secs
    delay = _FIRST_POLL_SECS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockUnavailable(
                    f"another fetch held the lock for over {timeout_secs:g} s"
                ) from None
        except OSError as exc:
            raise LockUnavailable(f"lock not taken: {exc}") from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_POLL_SECS)
