"""Previews, rebalances and snapshots asked for through the API: the same path as a
signal's run.

Each request is journalled as an event on channel ``api`` (so the run's source is known),
then runs through ``StrategyExecutor.start_account`` -> ``TradingExecutor.execute_account``:
the parallel-run bound, the account lock, PDT protection, the journal, a worker process and
the owner's notification, exactly as for a signal. The run is a task of its own: a client
that disconnects does not cancel it (a rebalance is never stopped between its sells and
its buys by a closed browser tab).

A second request for an account that has a run in progress is answered **409 at once**
(a signal would wait for the first run instead; an HTTP client should not hang for up to a
run timeout). A run refused by a guard (PDT protection, the account locked by another
process such as the CLI) is journalled like any refused run and answered 409 with the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal

from broker_connector_base import AccountConfig, AllocationItem, InvalidInputError

from app.api.context import ApiContext
from app.api.errors import ApiError
from app.api.models import AllocationInput, FieldError, RunDetail
from app.api.views import run_detail
from app.models import AccountExecutionResult, RunMode
from app.runs.account import RunOptions
from app.runs.strategy import ShuttingDownError

__all__ = ["SUM_TOLERANCE", "check_allocations", "run_for_api"]

logger = logging.getLogger(__name__)

SUM_TOLERANCE = Decimal("0.01")
"""How far given allocations may sum from 1, as for the allocations API's documents."""


def check_allocations(given: Sequence[AllocationInput]) -> tuple[AllocationItem, ...]:
    """Validate allocations given in a request as an allocations document is validated.

    Raises:
        ApiError: 422 naming each bad field and its value (symbol syntax, duplicates, sum).
    """
    problems: list[FieldError] = []
    items: list[AllocationItem] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(given):
        try:
            item = entry.item()
        except ValueError as exc:
            message = str(exc).splitlines()[-1].strip() if str(exc) else "invalid symbol"
            problems.append(
                FieldError(
                    field=f"allocations[{index}].symbol", value=entry.symbol, message=message
                )
            )
            continue
        if item.symbol in seen:
            problems.append(
                FieldError(
                    field=f"allocations[{index}].symbol",
                    value=entry.symbol,
                    message=f"{item.symbol} appears more than once "
                    f"(first at allocations[{seen[item.symbol]}])",
                )
            )
        seen.setdefault(item.symbol, index)
        items.append(item)
    if not given:
        problems.append(FieldError(field="allocations", value=[], message="must not be empty"))
    total = sum((entry.allocation for entry in given), Decimal(0))
    if given and abs(total - 1) > SUM_TOLERANCE:
        problems.append(
            FieldError(
                field="allocations",
                value=str(total),
                message=f"allocations sum to {total}, more than {SUM_TOLERANCE} away from 1",
            )
        )
    if problems:
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems)
        raise ApiError(422, "validation_error", f"invalid allocations: {summary}", fields=problems)
    return tuple(items)


def _tradable(ctx: ApiContext, account_id: str) -> AccountConfig:
    config = ctx.runtime.config
    if not any(a.account_id == account_id for a in config.accounts):
        known = ", ".join(a.account_id for a in config.accounts) or "none"
        raise ApiError(
            404, "account_not_found", f"account {account_id!r} is not configured (known: {known})"
        )
    try:
        return config.account(account_id)
    except InvalidInputError as exc:  # disabled, or another trading mode
        raise ApiError(409, "account_not_tradable", exc.message) from None


def _outcome(result: AccountExecutionResult) -> str:
    # Worded as the daemon words a signal's outcome (StrategyExecutor, the CLI).
    return "ran 1 accounts: " + ("succeeded" if result.success else "1 of 1 failed")


async def run_for_api(
    ctx: ApiContext,
    account_id: str,
    mode: RunMode,
    *,
    allocations: tuple[AllocationItem, ...] | None = None,
    client: str,
) -> RunDetail:
    """Run ``account_id`` once through the daemon's run path; the run as journalled.

    Raises:
        ApiError: 404 unknown account, 409 not tradable, busy or refused by a guard, 503
            shutting down.
    """
    account = _tradable(ctx, account_id)
    runtime = ctx.runtime
    busy_run = runtime.executor.running_accounts.get(account_id)
    if busy_run is not None:
        raise ApiError(
            409,
            "account_busy",
            f"account {account_id} has a run in progress (run {busy_run}); try again when it ends",
        )
    payload: dict[str, object] = {"exec": mode, "account_id": account_id, "client": client}
    if allocations is not None:
        payload["allocations"] = [
            {"symbol": a.symbol, "allocation": str(a.allocation)} for a in allocations
        ]
    event_row = runtime.journal.record_event(
        event_id=f"api-{uuid.uuid4().hex[:12]}", channel="api", payload=json.dumps(payload)
    )
    options = RunOptions(lock_wait_secs=0, allocations=allocations)
    try:
        task = runtime.strategies.start_account(account, mode, event_row=event_row, options=options)
    except ShuttingDownError as exc:
        runtime.journal.set_event_outcome(event_row, f"not run: {exc}")
        raise ApiError(503, "shutting_down", str(exc)) from None
    logger.info("API: %s of account %s requested by %s", mode, account_id, client)
    result = await asyncio.shield(task)
    runtime.journal.set_event_outcome(event_row, _outcome(result))
    detail = _detail(ctx, result)
    if result.status == "refused":
        raise ApiError(409, "run_refused", result.error or "the run was refused", run=detail)
    return detail


def _detail(ctx: ApiContext, result: AccountExecutionResult) -> RunDetail:
    reader = ctx.runtime.reader
    row = reader.run(result.run_id)
    if row is None:  # the journal has every run it started; a bug if not
        raise ApiError(500, "internal", f"run {result.run_id} is not in the journal")
    return run_detail(row, reader.orders(result.run_id), result)
