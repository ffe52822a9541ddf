"""Runs and events from the journal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.auth import require_api_key
from app.api.context import ApiContext, api_context
from app.api.errors import ApiError
from app.api.models import ErrorResponse, EventsResponse, RunDetail, RunsResponse
from app.api.views import event_view, parse_result, run_detail, run_summary

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["runs"],
    dependencies=[Depends(require_api_key)],
    responses={code: {"model": ErrorResponse} for code in (401, 404, 422, 429)},
)

Context = Annotated[ApiContext, Depends(api_context)]
Limit = Annotated[int, Query(ge=1, le=500, description="How many, newest first")]


@router.get("/runs", summary="Runs, newest first")
async def list_runs(
    ctx: Context,
    limit: Limit = 50,
    account_id: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    before: Annotated[datetime | None, Query(description="Runs started before this")] = None,
) -> RunsResponse:
    """Every run the journal holds (signals, CLI, API), with its source and outcome."""
    rows = ctx.runtime.reader.runs(
        account_id=account_id,
        limit=limit + 1,
        before=None if before is None else before.isoformat(),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_before = datetime.fromisoformat(rows[-1].started_at) if more and rows else None
    return RunsResponse(runs=[run_summary(row) for row in rows], next_before=next_before)


@router.get("/runs/{run_id}", summary="One run with its orders")
async def get_run(run_id: str, ctx: Context) -> RunDetail:
    """Orders as journalled (placed, with their fills) or the trades a preview proposed."""
    reader = ctx.runtime.reader
    row = reader.run(run_id)
    if row is None:
        raise ApiError(404, "run_not_found", f"no run {run_id!r} in the journal")
    return run_detail(row, reader.orders(run_id), parse_result(reader.result_json(run_id)))


@router.get("/events", summary="Received events, newest first", tags=["events"])
async def list_events(
    ctx: Context,
    limit: Limit = 50,
    before_id: Annotated[int | None, Query(ge=1, description="Events before this id")] = None,
) -> EventsResponse:
    """Signals from the strategies' channels, CLI and API triggers, with their outcomes."""
    rows = ctx.runtime.reader.events(limit=limit + 1, before_id=before_id)
    more = len(rows) > limit
    rows = rows[:limit]
    return EventsResponse(
        events=[event_view(row) for row in rows], next_before_id=rows[-1].id if more else None
    )
