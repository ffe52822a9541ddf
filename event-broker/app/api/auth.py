"""API key check for every endpoint but health, with a limit on failed attempts per client.

The key comes in the ``X-API-Key`` header (or ``Authorization: Bearer``, for Prometheus),
never in a URL or a cookie: a browser never sends a header by itself, so another site cannot
make a logged-in dashboard's browser call the API (no CSRF), and URLs end up in logs. Keys
are compared in constant time (both hashed first, so not even the length leaks). After
``max_failures`` wrong keys from one address within ``window_secs``, that address gets 429
for the rest of the window, whatever key it sends. The key is never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from app.api.errors import ApiError

__all__ = ["API_KEY_HEADER", "AuthGuard", "client_address", "require_api_key"]

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
_MAX_TRACKED_CLIENTS = 10_000

_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="The daemon's API_KEY (the dashboard keeps it in sessionStorage).",
)
_bearer = HTTPBearer(auto_error=False, description="The daemon's API_KEY as a bearer token.")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class AuthGuard:
    """Checks presented keys and counts failures per client address.

    Args:
        api_key: The daemon's ``API_KEY``; ``None`` refuses every authenticated call.
        max_failures: Wrong keys allowed per address within ``window_secs``.
        window_secs: The window of the failure count.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        api_key: SecretStr | None,
        *,
        max_failures: int = 10,
        window_secs: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._digest = None if api_key is None else _digest(api_key.get_secret_value())
        self.max_failures = max_failures
        self.window_secs = window_secs
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.failures_total = 0

    def __repr__(self) -> str:
        configured = "set" if self._digest is not None else "not set"
        return f"AuthGuard(key {configured}, max_failures={self.max_failures})"

    @property
    def configured(self) -> bool:
        """True when the daemon has an ``API_KEY``."""
        return self._digest is not None

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when it is not blocked)."""
        times = self._recent(client)
        if len(times) < self.max_failures:
            return 0.0
        return max(0.0, times[0] + self.window_secs - self._clock())

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        cutoff = self._clock() - self.window_secs
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def _fail(self, client: str) -> int:
        times = self._failures.setdefault(client, deque())
        self._failures.move_to_end(client)
        times.append(self._clock())
        self.failures_total += 1
        while len(self._failures) > _MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)
        return len(times)

    def accepts(self, client: str, presented: str) -> bool:
        """True when ``presented`` is the key and ``client`` is not blocked; counts nothing.

        For a caller that passes every other case on to ``check``.
        """
        return (
            self._digest is not None
            and hmac.compare_digest(_digest(presented), self._digest)
            and self.retry_after(client) == 0
        )

    def check(self, client: str, presented: str | None, *, what: str) -> None:
        """Accept ``presented`` from ``client`` or raise.

        Raises:
            ApiError: 429 while the client is blocked, 401 for a missing or wrong key (or no
                ``API_KEY`` configured).
        """
        wait = self.retry_after(client)
        if wait > 0:
            raise ApiError(
                429,
                "too_many_failed_attempts",
                f"too many wrong API keys from {client}; try again in {math.ceil(wait)} s",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        if self._digest is None:
            raise ApiError(
                401,
                "api_key_not_configured",
                "the daemon has no API_KEY: only /api/v1/health answers; set API_KEY and restart",
            )
        if presented is not None and hmac.compare_digest(_digest(presented), self._digest):
            return
        count = self._fail(client)
        logger.warning(
            "API: %s key from %s for %s (%d of %d allowed failures in %g s)",
            "missing" if presented is None else "wrong",
            client,
            what,
            count,
            self.max_failures,
            self.window_secs,
        )
        raise ApiError(
            401,
            "unauthorized",
            f"a valid API key is required in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "Bearer"},
        )


def client_address(request: Request) -> str:
    """The peer's address (proxy headers are not trusted: nothing sits in front)."""
    return request.client.host if request.client is not None else "unknown"


async def require_api_key(
    request: Request,
    key: Annotated[str | None, Security(_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """FastAPI dependency: the request carries the daemon's API key."""
    guard: AuthGuard = request.app.state.guard
    presented = key if key is not None else (bearer.credentials if bearer is not None else None)
    # The path from the scope: ``request.url`` would build a URL object on every request.
    guard.check(
        client_address(request), presented, what=f"{request.method} {request.scope['path']}"
    )
