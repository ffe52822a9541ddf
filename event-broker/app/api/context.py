"""What the API's routes share: the runtime, the realtime state, gateway probes, caches.

``ApiContext`` lives in ``app.state.ctx``; routes get it through the ``api_context``
dependency. The realtime state is read through a callable because only the daemon
(``app.main``) knows it; tests and the demo without a subscription pass ``"disabled"``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from broker_connector_base import AccountConfig
from fastapi import Request

from app.api.models import BrokerStatus
from app.runtime import Runtime
from app.trading.connections import connection_for

__all__ = ["ApiContext", "GatewayProbe", "api_context"]

_PROBE_TTL_SECS = 5.0
_PROBE_TIMEOUT_SECS = 1.0


@dataclass
class _Probe:
    reachable: bool
    error: str | None
    checked_at: datetime
    checked_monotonic: float


class GatewayProbe:
    """Whether each broker's gateway accepts a TCP connection, asked at most every 5 s.

    Only a TCP connection is opened and closed: no API handshake, so no client id is used
    and no session of a running account is disturbed.
    """

    def __init__(self, *, ttl_secs: float = _PROBE_TTL_SECS) -> None:
        self.ttl_secs = ttl_secs
        self._last: dict[tuple[str, int], _Probe] = {}
        self._lock = asyncio.Lock()

    async def check(self, address: tuple[str, int]) -> _Probe:
        """The cached or a fresh probe of ``address``."""
        async with self._lock:
            probe = self._last.get(address)
            if probe is not None and time.monotonic() - probe.checked_monotonic < self.ttl_secs:
                return probe
            probe = await self._connect(address)
            self._last[address] = probe
            return probe

    @staticmethod
    async def _connect(address: tuple[str, int]) -> _Probe:
        error = None
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT_SECS):
                _, writer = await asyncio.open_connection(*address)
            writer.close()
            await writer.wait_closed()
        except TimeoutError:
            error = f"no answer within {_PROBE_TIMEOUT_SECS:g} s"
        except OSError as exc:
            error = exc.strerror or type(exc).__name__
        return _Probe(error is None, error, datetime.now(UTC), time.monotonic())


@dataclass
class ApiContext:
    """Shared by every route.

    Attributes:
        runtime: The daemon's object graph (journal, reader, feed, executors).
        realtime_state: The realtime link's state (``disabled``, ``connected``...).
        version: The daemon's version.
        probe: Gateway reachability checks.
    """

    runtime: Runtime
    realtime_state: Callable[[], str]
    version: str
    probe: GatewayProbe = field(default_factory=GatewayProbe)

    async def broker_statuses(self) -> list[BrokerStatus]:
        """One status per broker of the tradable accounts."""
        settings = self.runtime.config.settings
        firsts: dict[str, AccountConfig] = {}
        for account in self.runtime.config.tradable_accounts():
            firsts.setdefault(account.broker, account)
        statuses = []
        for broker, account in sorted(firsts.items()):
            address = connection_for(settings, account).gateway_address()
            last_ok = self.runtime.reader.latest_run(account.account_id, status="succeeded")
            last_ok_at = None
            if last_ok is not None and last_ok.finished_at is not None:
                last_ok_at = datetime.fromisoformat(last_ok.finished_at)
            if address is None:
                statuses.append(
                    BrokerStatus(
                        broker=broker,
                        address=None,
                        reachable=None,
                        checked_at=None,
                        last_successful_run_at=last_ok_at,
                    )
                )
                continue
            probe = await self.probe.check(address)
            statuses.append(
                BrokerStatus(
                    broker=broker,
                    address=f"{address[0]}:{address[1]}",
                    reachable=probe.reachable,
                    checked_at=probe.checked_at,
                    error=probe.error,
                    last_successful_run_at=last_ok_at,
                )
            )
        return statuses


async def api_context(request: Request) -> ApiContext:
    """FastAPI dependency: the shared ``ApiContext``."""
    ctx: ApiContext = request.app.state.ctx
    return ctx
