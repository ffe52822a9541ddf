"""Accounts: list, detail (positions, targets, drift), preview, rebalance, snapshot,
performance."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from broker_connector_base import InvalidInputError
from broker_connector_base.types import NEW_YORK
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from app.api.account_views import AccountViews
from app.api.auth import client_address, require_api_key
from app.api.context import ApiContext, api_context
from app.api.errors import ApiError
from app.api.models import (
    AccountDetail,
    AccountsResponse,
    CalculateRequest,
    ErrorResponse,
    FieldError,
    RebalanceRequest,
    RunDetail,
    SnapshotRequest,
)
from app.api.reports import AccountReports
from app.api.runner import check_allocations, run_for_api
from app.reporting import AccountReport

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 409, 413, 415, 422, 429, 500, 503)
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

router = APIRouter(
    prefix="/api/v1/accounts",
    tags=["accounts"],
    dependencies=[Depends(require_api_key)],
    responses=_ERRORS,
)

AccountId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Context = Annotated[ApiContext, Depends(api_context)]


# Dependencies are ``async``: FastAPI runs a plain ``def`` one in a worker thread, a thread
# hop per request that cost more than the rest of the request (bench/api.py).
async def _views(request: Request) -> AccountViews:
    views: AccountViews = request.app.state.account_views
    return views


async def _reports(request: Request) -> AccountReports:
    reports: AccountReports = request.app.state.account_reports
    return reports


Views = Annotated[AccountViews, Depends(_views)]
Reports = Annotated[AccountReports, Depends(_reports)]


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
    """From the newer of the newest successful preview in the journal and the latest
    portfolio snapshot (``holdings_source`` says which; ``preview`` and ``snapshot`` say
    which run, how old); ``POST .../calculate`` takes a fresh preview, ``POST .../snapshot``
    a fresh snapshot."""
    account = views.find(account_id)
    if account is None:
        raise ApiError(404, "account_not_found", f"account {account_id!r} is not configured")
    # JSON cached with the view (until the journal or an age changes): a dashboard polls
    # this, and FastAPI's re-validation of the answer would cost more than building it.
    return Response(views.detail_json(account), media_type="application/json")


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


@router.post("/{account_id}/snapshot", summary="Take a portfolio snapshot now (places nothing)")
async def snapshot(
    account_id: AccountId,
    request: Request,
    ctx: Context,
    body: Annotated[SnapshotRequest, Body()],
) -> RunDetail:
    """A ``snapshot`` run through the daemon's run path, as the daily schedule takes one:
    the account's value, cash, positions, the strategy's targets and the benchmark quote,
    stored in the journal (then shown by ``GET .../performance``)."""
    del body  # an empty object: a JSON body is what makes the request CSRF-proof
    return await run_for_api(ctx, account_id, "snapshot", client=client_address(request))


def _since(text: str | None) -> date | None:
    """``since`` as a New York day; anything but ``YYYY-MM-DD`` up to today is a 422."""
    if text is None:
        return None
    problem = None
    day = None
    if not _DAY.fullmatch(text):
        problem = "must be a date written YYYY-MM-DD"
    else:
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            problem = f"is not a date: {exc}"
    today = datetime.now(NEW_YORK).date()
    if day is not None and day > today:
        problem = f"is after today ({today.isoformat()}, New York)"
    if problem is not None or day is None:
        raise ApiError(
            422,
            "validation_error",
            f"invalid request: since {problem} (got {text!r})",
            fields=[FieldError(field="since", value=text, message=str(problem))],
        )
    return day


@router.get(
    "/{account_id}/performance",
    summary="Performance report: metrics, equity curve, drift, cash flows",
    response_model=AccountReport,
)
async def performance(
    account_id: AccountId,
    views: Views,
    reports: Reports,
    since: Annotated[
        str | None,
        Query(
            description="First New York day of the period, YYYY-MM-DD (default: the first "
            "snapshot); not after today",
            examples=["2026-01-02"],
            max_length=10,
        ),
    ] = None,
) -> Response:
    """The account's performance report from its journalled snapshots, the document
    ``python -m app.cli -report -format json`` writes (``format_version`` 1): time-weighted
    metrics (deposits and withdrawals found between snapshots are not returns), the equity
    curve (one point per trading day: value, cash flow, growth, drawdown), the latest
    snapshot's drift from its targets, the cash flows, the last runs, and ``notes`` on what
    was left out. Money is decimal strings, ratios are numbers (``null`` where undefined).
    An account without snapshots gets an empty report with a note."""
    day = _since(since)
    if views.find(account_id) is None:
        raise ApiError(404, "account_not_found", f"account {account_id!r} is not configured")
    try:
        body = await reports.report_json(account_id, day)
    except InvalidInputError as exc:
        raise ApiError(500, "report_failed", exc.message) from None
    return Response(body, media_type="application/json")
