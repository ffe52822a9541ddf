"""Helpers for tests that drive the simulator with alpaca-py (which this module never imports).

alpaca-py is synchronous (requests). When the simulator runs on the test's own event loop, an
SDK call made on that loop would block the loop that has to answer it, so tests run each call
in a worker thread with ``in_thread``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["assert_only_declared_fields", "in_thread"]

_T = TypeVar("_T")


async def in_thread(
    function: Callable[..., _T], *args: Any, timeout_secs: float = 10.0, **kwargs: Any
) -> _T:
    """Run one synchronous call in a worker thread, bounded at ``timeout_secs``."""
    return await asyncio.wait_for(asyncio.to_thread(function, *args, **kwargs), timeout_secs)


def assert_only_declared_fields(model: type[BaseModel], raw: Mapping[str, Any]) -> None:
    """Fail when ``raw`` has a key ``model`` does not declare (by alias or name).

    alpaca-py's models ignore unknown keys, so a misspelt field in an answer would silently
    read as ``None``; this catches it.
    """
    known = {info.alias or name for name, info in model.model_fields.items()}
    extra = set(raw) - known
    assert not extra, f"{model.__name__} does not declare {sorted(extra)}"
