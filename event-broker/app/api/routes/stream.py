"""``GET /api/v1/stream``: run progress as Server-Sent Events.

Events: ``run_started``, ``order`` (placed, and each change of status or fill) and
``run_finished``, each ``data`` a JSON object with ``run_id``, ``account_id`` and ``at``. A
comment line every ``keepalive`` seconds keeps proxies from closing an idle stream. The key
goes in the ``X-API-Key`` header like every call: the dashboard reads the stream with
``fetch`` (``EventSource`` cannot send headers, and a key in the URL would end up in logs).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from app.api.auth import require_api_key
from app.api.context import ApiContext, api_context
from app.api.models import ErrorResponse
from app.runs.feed import RunEvent

__all__ = ["router"]

KEEPALIVE_SECS = 15.0

router = APIRouter(
    prefix="/api/v1",
    tags=["stream"],
    dependencies=[Depends(require_api_key)],
    responses={code: {"model": ErrorResponse} for code in (401, 422, 429)},
)


def _frame(event: RunEvent) -> bytes:
    data = {"run_id": event.run_id, "account_id": event.account_id, "at": event.at, **event.data}
    return f"event: {event.kind}\ndata: {json.dumps(data)}\n\n".encode()


@router.get(
    "/stream",
    summary="Run progress (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    ctx: Annotated[ApiContext, Depends(api_context)],
    account_id: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    keepalive: Annotated[float, Query(gt=0, le=300)] = KEEPALIVE_SECS,
) -> StreamingResponse:
    """Events of every account, or of ``account_id`` only, from now on."""

    async def frames() -> AsyncIterator[bytes]:
        async with ctx.runtime.feed.subscribe(account_id) as subscription:
            yield b": connected\n\n"
            while True:
                try:
                    event = await subscription.next(keepalive)
                except StopAsyncIteration:
                    return
                yield b": keepalive\n\n" if event is None else _frame(event)

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
