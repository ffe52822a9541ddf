"""One connection attempt to the gateway, and what to tell the operator when it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ib_async import IB, StartupFetch

from ibkr_connector.config import IBKRConnectionConfig

__all__ = ["attempt", "describe_failure"]


async def attempt(ib: IB, cfg: IBKRConnectionConfig, refused: asyncio.Event) -> None:
    """One bounded connection attempt, cut short when the gateway answers error 326.

    After 326 (``refused`` is set by the client's error handler) the gateway never completes
    the handshake, so waiting for the timeout would only delay the retry.

    Raises:
        ConnectionError: The client id is in use (326), or the socket failed.
        TimeoutError: No handshake in time.
    """
    connecting = asyncio.ensure_future(
        ib.connectAsync(
            cfg.host,
            cfg.effective_port,
            clientId=cfg.client_id,
            timeout=cfg.connect_timeout_secs,
            raiseSyncErrors=True,
            # Every run asks for what it needs when it needs it (open orders of all clients,
            # positions, one-off summaries); ib_async's default start-up fetch adds ~15
            # requests (one per managed account) against the 50/s limit.
            fetchFields=StartupFetch(0),
        )
    )
    waiting = asyncio.ensure_future(refused.wait())
    try:
        done, _ = await asyncio.wait(
            {connecting, waiting},
            timeout=cfg.connect_timeout_secs * 3,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        waiting.cancel()
    if connecting in done:
        connecting.result()
        return
    connecting.cancel()
    await asyncio.wait({connecting})  # let ib_async clean up; its CancelledError stays inside
    if waiting in done:
        raise ConnectionError("client id already in use (IB error 326)")
    raise TimeoutError("connection attempt timed out")


def describe_failure(exc: BaseException, errors: Sequence[tuple[int, str]], client_id: int) -> str:
    """Why an attempt failed, for the operator (``errors``: IB errors seen meanwhile)."""
    if any(code == 326 for code, _ in errors):
        return f"client id {client_id} is already in use by another API connection (IB error 326)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: the gateway is not running or its API port is closed"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no API handshake in time: the gateway is starting, restarting or not logged in"
    return f"{type(exc).__name__}: {exc}"
