"""A message limiter shared by every process that talks to one IB gateway session.

IB's API documentation says a client may send 50 messages per second to TWS or IB Gateway;
newer IB material ties the rate to the login's market data lines (lines / 2 per second), that
is to the session, not to one API connection. The daemon runs one worker process per account
run, several at once, all logged in through the same gateway, and ib_async's own throttle
(``Client.MaxRequests``) only knows its own connection. So the limit is kept per gateway: a
sliding window of the last send times in a small file (``path``, under the daemon's
DATA_DIR), shared by every process through ``fcntl.flock``. A message goes out once fewer
than ``rate`` messages went out, from any process, in the last ``window_secs`` (a second and
a quarter: see ``WINDOW_SECS``).

Why a file and not the daemon handing out budgets: a fixed share per worker (rate / workers)
would hold a lone run to a fraction of the rate, and asking the daemon for each message would
put its event loop (API, realtime link) on every order's path. The file costs one locked
read and write of a few hundred bytes per message, needs no process to be up (the CLI and the
quote recorder share it too), and survives a daemon restart. Times are ``CLOCK_MONOTONIC``,
which Linux shares between processes (it is not per-process), so no wall-clock jump can open
the window.

When IB still answers error 100 (another application on the same login, a lower limit than
assumed), ``slow_down`` halves the rate for every process for ``cooldown_secs``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WINDOW_SECS", "GatewayRateLimiter"]

logger = logging.getLogger(__name__)

WINDOW_SECS = 1.25
"""IB counts messages per second as they arrive; they are counted here as they leave, over a
quarter second more, so that messages held up on their way (a busy process, the network) do
not land in one of IB's seconds together with later ones."""

_MAGIC = b"IBPW"
# magic, capacity, next slot, slowed-down rate, slowed until (monotonic seconds)
_HEADER = struct.Struct("<4sIIId")
_STAMP = struct.Struct("<d")


class GatewayRateLimiter:
    """At most ``rate`` messages in any ``window_secs``, across every process using ``path``.

    Args:
        path: The shared file (created with its directory; one per gateway session).
        rate: Messages per window (IB documents 50 per second; keep below).
        window_secs: The window (``WINDOW_SECS``: a second and a margin).
        cooldown_secs: How long a ``slow_down`` halves the rate.
        min_rate: ``slow_down`` never goes below it.
    """

    def __init__(
        self,
        path: Path,
        rate: int,
        *,
        window_secs: float = WINDOW_SECS,
        cooldown_secs: float = 60.0,
        min_rate: int = 5,
    ) -> None:
        if rate < 1:
            raise ValueError(f"rate must be at least 1 message per window, got {rate}")
        self.path = path
        self.rate = rate
        self.window_secs = window_secs
        self.cooldown_secs = cooldown_secs
        self.min_rate = min(min_rate, rate)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        # The descriptor lives as long as the limiter (a worker's client, the recorder's).
        self._closer = weakref.finalize(self, os.close, self._fd)
        with self._locked():
            self._prepare()

    def close(self) -> None:
        """Close the file (the window stays for the other processes)."""
        self._closer()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _prepare(self) -> None:
        """Write an empty window unless the file already holds one of this capacity."""
        head = os.pread(self._fd, _HEADER.size, 0)
        if len(head) == _HEADER.size:
            magic, capacity, *_ = _HEADER.unpack(head)
            if magic == _MAGIC and capacity == self.rate:
                return
        self._prepare_empty()

    def _prepare_empty(self) -> None:
        # New, foreign or resized (another rate configured): start an empty window.
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, _HEADER.pack(_MAGIC, self.rate, 0, self.rate, 0.0), 0)
        os.pwrite(self._fd, bytes(_STAMP.size * self.rate), _HEADER.size)

    def _read(self) -> tuple[_Header, list[float]]:
        size = _HEADER.size + _STAMP.size * self.rate
        raw = os.pread(self._fd, size, 0)
        if len(raw) != size:
            self._prepare()
            raw = os.pread(self._fd, size, 0)
        _, capacity, slot, slowed, until = _HEADER.unpack_from(raw)
        header = _Header(int(capacity), int(slot), int(slowed), float(until))
        stamps = [float(t) for (t,) in _STAMP.iter_unpack(raw[_HEADER.size :])]
        return header, stamps

    def _write_header(self, header: _Header) -> None:
        packed = _HEADER.pack(_MAGIC, header.capacity, header.slot, header.slowed, header.until)
        os.pwrite(self._fd, packed, 0)

    def reserve(self) -> float:
        """Take a slot for one message now and return 0, or return how long to wait first.

        The caller sends at once after 0; after a positive answer it waits and asks again.
        """
        with self._locked():
            header, stamps = self._read()
            now = time.monotonic()
            if max(stamps) > now or header.until - now > self.cooldown_secs:
                # Written before this boot (the monotonic clock started again): start afresh.
                self._prepare_empty()
                header, stamps = self._read()
            rate = header.rate_at(now)
            # The ``rate``-th most recent send: a new one may go once it has left the window.
            sent = stamps[(header.slot - rate) % header.capacity]
            if sent and sent + self.window_secs > now:
                return sent + self.window_secs - now
            os.pwrite(self._fd, _STAMP.pack(now), _HEADER.size + header.slot * _STAMP.size)
            self._write_header(header.advanced())
            return 0.0

    def slow_down(self) -> int:
        """Halve the rate (never below ``min_rate``) for every process for ``cooldown_secs``;
        returns the new rate."""
        with self._locked():
            header, _ = self._read()
            now = time.monotonic()
            lower = max(self.min_rate, header.rate_at(now) // 2)
            self._write_header(
                _Header(header.capacity, header.slot, lower, now + self.cooldown_secs)
            )
        logger.warning(
            "IB gateway pacing: every process now sends at most %d messages per %.1f s for %.0f s",
            lower,
            self.window_secs,
            self.cooldown_secs,
        )
        return lower


@dataclass(frozen=True)
class _Header:
    """The window's state: ring size, next slot, the slowed-down rate and until when."""

    capacity: int
    slot: int
    slowed: int
    until: float

    def rate_at(self, now: float) -> int:
        return self.slowed if now < self.until else self.capacity

    def advanced(self) -> _Header:
        return _Header(self.capacity, (self.slot + 1) % self.capacity, self.slowed, self.until)
