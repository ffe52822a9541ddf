"""Circuit breaker per broker gateway: stop starting runs on a gateway that keeps refusing.

After ``failures`` consecutive runs whose worker could not connect to one gateway
(``AccountExecutionResult.broker_unreachable``: an IB Gateway restarting, logged out, down),
the breaker opens: runs on that gateway are refused at once for ``cooldown_secs`` (journalled
as ``refused`` with the reason, without a notification each) and the owner is told once.
When the cool-down ends, the gateway is probed (a TCP connect to its API port, in the
background); a gateway that answers closes the breaker (told once more: runs resume), one
that does not keeps it open for another cool-down. A run whose worker reaches the gateway
closes it too, and any such run resets the count.

Seed 002's breaker (CLOSED, OPEN, HALF_OPEN) counts failures of any call; this one counts
connection failures only: a run that fails on a refused order or a bad document says nothing
about the gateway, and must not stop the other accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.models import AccountExecutionResult

__all__ = ["GatewayBreaker", "Notify", "Probe", "tcp_probe"]

logger = logging.getLogger(__name__)

Gateway = tuple[str, int]
Probe = Callable[[Gateway], Awaitable[bool]]
Notify = Callable[[str, str], Awaitable[object]]
"""``notify(title, body)``."""


async def tcp_probe(gateway: Gateway, timeout_secs: float = 5.0) -> bool:
    """Whether something accepts a TCP connection on the gateway's API port."""
    host, port = gateway
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_secs)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@dataclass
class _State:
    failures: int = 0
    open_until: float | None = None
    probing: asyncio.Task[None] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class GatewayBreaker:
    """Consecutive connection failures per gateway, and the refusals they cause.

    Args:
        failures: Consecutive unreachable runs that open the breaker.
        cooldown_secs: How long an open breaker refuses runs before the gateway is probed.
        notify: Tells the owner (``notify(title, body)``), once when the breaker opens and
            once when it closes again.
        probe: Whether the gateway answers now (default: a TCP connect).
        clock: Monotonic seconds (tests may replace it).
    """

    def __init__(
        self,
        *,
        failures: int,
        cooldown_secs: float,
        notify: Notify,
        probe: Probe = tcp_probe,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown_secs = cooldown_secs
        self._notify = notify
        self._probe = probe
        self._clock = clock
        self._states: dict[Gateway, _State] = {}

    def _state(self, gateway: Gateway) -> _State:
        state = self._states.get(gateway)
        if state is None:
            state = self._states[gateway] = _State()
            state.closed.set()
        return state

    def is_open(self, gateway: Gateway) -> bool:
        """Whether runs on ``gateway`` are refused now."""
        return self._state(gateway).open_until is not None

    def refusal(self, gateway: Gateway) -> str | None:
        """Why a run on ``gateway`` may not start now (``None``: it may)."""
        state = self._state(gateway)
        if state.open_until is None:
            return None
        host, port = gateway
        left = max(0.0, state.open_until - self._clock())
        return (
            f"the broker gateway at {host}:{port} refused {self.failures} runs in a row; no "
            f"run is started on it until it answers again (next check in {left:.0f} s)"
        )

    async def wait_closed(self, gateway: Gateway) -> None:
        """Until runs on ``gateway`` may start (at once when they may now)."""
        await self._state(gateway).closed.wait()

    async def record(self, gateway: Gateway, result: AccountExecutionResult) -> None:
        """Count ``result``'s outcome for ``gateway``: an unreachable broker adds one, any
        run that reached it resets the count (and closes an open breaker)."""
        state = self._state(gateway)
        if not result.broker_unreachable:
            if state.open_until is not None:
                await self._close(gateway, state, "a run reached it")
            state.failures = 0
            return
        state.failures += 1
        if state.failures >= self.failures and state.open_until is None:
            await self._open(gateway, state, result.error or "unreachable")

    async def _open(self, gateway: Gateway, state: _State, last_error: str) -> None:
        host, port = gateway
        state.open_until = self._clock() + self.cooldown_secs
        state.closed.clear()
        logger.critical(
            "Gateway %s:%d refused %d runs in a row; runs on it are refused for %.0f s: %s",
            host,
            port,
            state.failures,
            self.cooldown_secs,
            last_error,
        )
        await self._notify(
            f"Broker gateway {host}:{port} unreachable: runs stopped",
            f"{state.failures} runs in a row could not connect to the gateway at {host}:{port} "
            f"(last: {last_error}). No run is started on it for {self.cooldown_secs:.0f} s; "
            "then it is checked again, and runs resume when it answers. Runs refused "
            "meanwhile are journalled as refused.",
        )
        state.probing = asyncio.create_task(self._probe_until_closed(gateway, state))

    async def _probe_until_closed(self, gateway: Gateway, state: _State) -> None:
        while (until := state.open_until) is not None:
            await asyncio.sleep(max(0.0, until - self._clock()))
            if not self.is_open(gateway):
                return  # a run reached it meanwhile
            if await self._probe(gateway):
                await self._close(gateway, state, "it answers again")
                return
            state.open_until = self._clock() + self.cooldown_secs
            logger.warning(
                "Gateway %s:%d still unreachable; runs stay refused for %.0f s more",
                *gateway,
                self.cooldown_secs,
            )

    async def _close(self, gateway: Gateway, state: _State, why: str) -> None:
        host, port = gateway
        state.open_until = None
        state.failures = 0
        state.closed.set()
        probing, state.probing = state.probing, None
        if probing is not None and probing is not asyncio.current_task():
            probing.cancel()
        logger.warning("Gateway %s:%d: %s; runs on it resume", host, port, why)
        await self._notify(
            f"Broker gateway {host}:{port} reachable again: runs resume",
            f"The gateway at {host}:{port} {why}; runs on it are started again.",
        )

    async def close(self) -> None:
        """Stop the probes (at shutdown)."""
        tasks = [s.probing for s in self._states.values() if s.probing is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
