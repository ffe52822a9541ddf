"""Accounts: list, detail (positions, targets, drift), preview, rebalance, performance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from app.api.account_views import AccountViews
from app.api.auth import client_address, require_api_key
from app.api.context import ApiContext, api_context
from app.api.errors import ApiError
from app.api.models import (
    AccountDetail,
    AccountsResponse,
    CalculateRequest,
    ErrorResponse,
    PerformancePoint,
    PerformanceResponse,
    RebalanceRequest,
    RunDetail,
)
from app.api.runner import check_allocations, run_for_api

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 409, 413, 415, 422, 429, 503)
}

router = APIRouter(
    prefix="/api/v1/accounts",
    tags=["accounts"],
    dependencies=[Depends(require_api_key)],
    responses=_ERRORS,
)

AccountId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Context = Annotated[ApiContext, Depends(api_context)]


def _views(request: Request) -> AccountViews:
    views: AccountViews = request.app.state.account_views
    return views


Views = Annotated[AccountViews, Depends(_views)]


@router.get("", summary="Every configured account")
async def list_accounts(ctx: Context, views: Views) -> AccountsResponse:
    """Value, cash and drift from each account's newest successful preview, and its last run."""
    return AccountsResponse(
        trading_mode=ctx.runtime.config.settings.trading_mode,
        accounts=[views.summary(account) for account in views.accounts()],
    )


@router.get(
    "/{account_id}",
    summary="One account: positions, targets and drift",
    response_model=AccountDetail,
)
async def get_account(account_id: AccountId, views: Views) -> Response:
    """From the newest successful preview in the journal (``preview`` says which, how old,
    and whether a rebalance ran since); ``POST .../calculate`` takes a fresh one."""
    account = views.find(account_id)
    if account is None:
        raise ApiError(404, "account_not_found", f"account {account_id!r} is not configured")
    # Serialised straight from the (validated, cached) model: a dashboard polls this, and
    # FastAPI's re-validation of the answer would cost more than building it.
    return Response(views.detail(account).model_dump_json(), media_type="application/json")


@router.post("/{account_id}/calculate", summary="Preview a rebalance (places nothing)")
async def calculate(
    account_id: AccountId,
    request: Request,
    ctx: Context,
    body: Annotated[CalculateRequest, Body()],
) -> RunDetail:
    """A dry run through the daemon's run path (journalled with source ``api``). With
    ``allocations``, those targets are used instead of the strategy's for this preview."""
    allocations = None if body.allocations is None else check_allocations(body.allocations)
    return await run_for_api(
        ctx, account_id, "print-rebalance", allocations=allocations, client=client_address(request)
    )


@router.post("/{account_id}/rebalance", summary="Execute a rebalance (places orders)")
async def rebalance(
    account_id: AccountId,
    request: Request,
    ctx: Context,
    body: Annotated[RebalanceRequest, Body()],
) -> RunDetail:
    """Sells, waits for fills, buys with the cash freed, with the strategy's allocations;
    answered when the run ends. 409 when the account is busy or PDT protection refuses."""
    del body  # an empty object: a JSON body is what makes the request CSRF-proof
    return await run_for_api(ctx, account_id, "rebalance", client=client_address(request))


@router.get("/{account_id}/performance", summary="Equity curve and performance metrics")
async def performance(account_id: AccountId, ctx: Context, views: Views) -> PerformanceResponse:
    """The account's values from the journal's ``portfolio_snapshots`` table (empty until
    snapshots are taken)."""
    if views.find(account_id) is None:
        raise ApiError(404, "account_not_found", f"account {account_id!r} is not configured")
    reader = ctx.runtime.reader
    rows = reader.snapshots(account_id)
    points = [
        PerformancePoint(
            at=datetime.fromisoformat(row.taken_at),
            total_value=Decimal(row.total_value),
            cash_balance=None if row.cash_balance is None else Decimal(row.cash_balance),
        )
        for row in rows
    ]
    return PerformanceResponse(
        account_id=account_id,
        source="portfolio_snapshots" if reader.has_snapshots() else None,
        points=points,
        metrics=None,
    )
