"""Requests by symbol that concurrent callers share instead of sending twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SharedRequests"]

_V = TypeVar("_V")


class SharedRequests(Generic[_V]):
    """Fetches values by symbol; a symbol already being fetched is waited for, not re-sent.

    A plan asks for its account's snapshot and its targets' quotes at once, and both usually
    name the same symbols: sharing saves half the requests against IB's message rate limit.
    A shared fetch that failed or was cancelled is not trusted by the callers that joined
    it: they fetch their symbols again themselves (so one caller's bad symbol or
    cancellation never fails another caller).

    Args:
        fetch: Fetches the values of a list of symbols (all of them, or raises).
    """

    def __init__(self, fetch: Callable[[list[str]], Awaitable[dict[str, _V]]]) -> None:
        self._fetch = fetch
        self._in_flight: dict[str, asyncio.Task[dict[str, _V]]] = {}

    async def get(
        self,
        symbols: list[str],
        fetch: Callable[[list[str]], Awaitable[dict[str, _V]]] | None = None,
    ) -> dict[str, _V]:
        """The values of ``symbols``, fetched now or by a fetch already under way.

        Args:
            symbols: The symbols wanted.
            fetch: Fetches the symbols no fetch under way covers, instead of the default one
                (what it returns must serve every caller that may join it).
        """
        joined = {s: self._in_flight[s] for s in symbols if s in self._in_flight}
        own = [s for s in dict.fromkeys(symbols) if s not in joined]
        task: asyncio.Task[dict[str, _V]] | None = None
        if own:
            task = asyncio.ensure_future((fetch or self._fetch)(own))
            for symbol in own:
                self._in_flight[symbol] = task
            # Forgotten as soon as it ends (before anyone awaiting it resumes), so a retry
            # never joins a fetch that already failed.
            task.add_done_callback(self._forget)
        if joined:
            await asyncio.wait(set(joined.values()))
        found: dict[str, _V] = {}
        retry: list[str] = []
        for symbol, other in joined.items():
            if other.cancelled() or other.exception() is not None:
                retry.append(symbol)
            else:
                found[symbol] = other.result()[symbol]
        if task is not None:
            found.update(await task)
        if retry:
            found.update(await self.get(retry, fetch))
        return found

    def _forget(self, task: asyncio.Task[dict[str, _V]]) -> None:
        for symbol in [s for s, t in self._in_flight.items() if t is task]:
            del self._in_flight[symbol]
