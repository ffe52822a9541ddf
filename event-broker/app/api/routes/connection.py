"""``GET /api/v1/connection/status``: gateways, the realtime link, the last signal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.auth import require_api_key
from app.api.context import ApiContext, api_context
from app.api.models import ConnectionStatus, ErrorResponse, RealtimeStatus, SignalView

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["connection"],
    dependencies=[Depends(require_api_key)],
    responses={code: {"model": ErrorResponse} for code in (401, 429)},
)


@router.get("/connection/status", summary="Gateways, realtime link and last signal")
async def connection_status(
    ctx: Annotated[ApiContext, Depends(api_context)],
) -> ConnectionStatus:
    """Each broker's gateway is probed with a TCP connection (cached 5 s; workers connect
    per run, so the daemon holds no session of its own)."""
    runtime = ctx.runtime
    signal = runtime.reader.last_signal()
    return ConnectionStatus(
        brokers=await ctx.broker_statuses(),
        realtime=RealtimeStatus(
            state=ctx.realtime_state(), channels=sorted(runtime.config.strategies())
        ),
        last_signal=None
        if signal is None
        else SignalView(
            channel=signal.channel,
            event_id=signal.event_id,
            received_at=datetime.fromisoformat(signal.received_at),
            outcome=signal.outcome,
        ),
        active_runs=runtime.strategies.active_runs,
    )
