"""``GET /api/v1/health``: the one endpoint without a key (liveness for monitors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.context import ApiContext, api_context
from app.api.models import HealthResponse

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/api/v1/health", summary="The daemon answers")
async def health(ctx: Annotated[ApiContext, Depends(api_context)]) -> HealthResponse:
    """Always 200 while the daemon runs; ``accepting`` turns false at shutdown."""
    return HealthResponse(version=ctx.version, accepting=ctx.runtime.strategies.accepting)
