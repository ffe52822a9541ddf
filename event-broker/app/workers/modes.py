"""What a worker does with its broker, per mode: rebalance, preview, reconcile, snapshot.

``rebalance``: connect (waiting for a broker that cannot be reached, ``GATEWAY_RETRY_SECS``),
reconcile the account's earlier unresolved orders, run the engine, and when the connection was
lost during the run wait for the broker again, reconcile this run's own orders (nothing is
sent again before the journal knows what the broker did) and run once more from the broker's
positions; then record the post-trade position check and take the portfolio snapshot.
``reconcile``: the same reconciliation, and the position check against the journal; reads and
places nothing. ``print-rebalance``: the preview. ``snapshot``: the portfolio snapshot alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from broker_connector_base import (
    BrokerClient,
    BrokerConnectionError,
    BrokerError,
    RebalanceResult,
    Trade,
)
from broker_connector_base.types import NEW_YORK

import app.store.reconciliation as records
from app.models import AccountExecutionResult
from app.snapshots.take import snapshot_after_run, take_snapshot
from app.store.journal import Journal
from app.trading.broker_factory import create_allocation_source, create_rebalancer
from app.trading.gateway_wait import RetryBudget, connect_within
from app.trading.reconcile import check_positions, reconcile_orders, settle_earlier_orders
from app.workers.protocol import WorkerRequest
from app.workers.results import result_of

__all__ = ["BrokerUnreachable", "preview", "rebalance", "reconcile", "snapshot"]

logger = logging.getLogger("app.worker.run")

_SETTLE_SECS = 30.0
"""How long cancelling earlier orders, and positions catching up with their fills, may take."""


class BrokerUnreachable(Exception):
    """The run could not connect to its broker at all (after waiting for it where the mode
    waits): the daemon's gateway breaker counts these, apart from a connection lost mid-run."""


async def _connect_first(client: BrokerClient, budget: RetryBudget | None, what: str) -> None:
    """Connect, waiting within ``budget`` (``None``: one try, for a preview or snapshot)."""
    try:
        if budget is None:
            await client.connect()
        else:
            await connect_within(client, budget, what)
    except BrokerConnectionError as exc:
        raise BrokerUnreachable(str(exc)) from exc


def _what(request: WorkerRequest) -> str:
    return f"account {request.account.account_id} run {request.run_id}"


def _orders_today(journal: Journal, request: WorkerRequest) -> int:
    """Orders the account placed since New York midnight, from the journal (every run of
    this daemon and its CLI; orders placed by hand elsewhere are not in it)."""
    now = datetime.now(NEW_YORK)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return journal.orders_since(request.account.account_id, midnight)


async def rebalance(
    request: WorkerRequest,
    client: BrokerClient,
    journal: Journal,
    on_order: Callable[[Trade], None],
    started_at: datetime,
) -> AccountExecutionResult:
    """Rebalance once, through broker restarts (see the module docstring)."""
    account_id = request.account.account_id
    budget = RetryBudget(request.gateway_retry_secs)
    await _connect_first(client, budget, _what(request))
    settle_secs = _SETTLE_SECS
    notes = await settle_earlier_orders(
        client, journal, account_id, timeout_secs=settle_secs, exclude_run=request.run_id
    )
    rebalancer = create_rebalancer(
        request,
        client,
        on_order=on_order,
        logger=logger,
        orders_today=_orders_today(journal, request),
    )
    done = await rebalancer.rebalance_account(request.account)
    earlier: list[Trade] = []
    while not done.success and not client.is_connected():
        logger.warning("%s: connection to the broker lost (%s)", _what(request), done.error)
        try:
            await client.disconnect()
            await connect_within(client, budget, _what(request))
        except BrokerError as exc:
            notes.append(f"the broker stayed unreachable: {exc}")
            break
        own = await settle_earlier_orders(
            client, journal, account_id, timeout_secs=settle_secs, only_run=request.run_id
        )
        notes.append(f"connection lost during the run ({done.error}); it went on once back")
        notes.extend(own)
        earlier.extend(_after_reconciliation(done.orders, journal, request.run_id))
        done = await rebalancer.rebalance_account(request.account)
    if client.is_connected():
        # Anything of earlier runs still unresolved (the broker could not say at the start).
        later = await reconcile_orders(client, journal, account_id, exclude_run=request.run_id)
        notes.extend(later.lines)
    _record_after_run(journal, request, done)
    snapshot, snapshot_notes = await snapshot_after_run(client, done)
    return result_of(
        request,
        started_at,
        done,
        trades=[*earlier, *done.orders],
        notes=notes,
        warnings=snapshot_notes,
        snapshot=snapshot,
    )


def _after_reconciliation(orders: list[Trade], journal: Journal, run_id: str) -> list[Trade]:
    """The orders of an interrupted attempt as the journal now has them (reconciled)."""
    latest: dict[str, Trade] = {}
    for row in journal.query("SELECT trade_json FROM orders WHERE run_id = ?", (run_id,)):
        trade = Trade.model_validate_json(row["trade_json"])
        if trade.perm_id is not None:
            latest[trade.perm_id] = trade
    return [latest.get(t.perm_id, t) if t.perm_id is not None else t for t in orders]


def _record_after_run(journal: Journal, request: WorkerRequest, done: RebalanceResult) -> None:
    """The post-trade position check: the positions the run left, and what did not add up."""
    if done.final_snapshot is None:
        return
    records.record_position_check(
        journal,
        request.account.account_id,
        kind="after-run",
        run_id=request.run_id,
        positions={p.symbol: p.quantity for p in done.final_snapshot.positions},
        differences=done.position_differences,
        notified=bool(done.position_differences),
    )


async def preview(
    request: WorkerRequest,
    client: BrokerClient,
    journal: Journal,
    on_order: Callable[[Trade], None],
    started_at: datetime,
) -> AccountExecutionResult:
    """The preview: what a rebalance would place now (the broker is not waited for)."""
    await _connect_first(client, None, _what(request))
    rebalancer = create_rebalancer(
        request,
        client,
        on_order=on_order,
        logger=logger,
        orders_today=_orders_today(journal, request),
    )
    done = await rebalancer.calculate_rebalance(request.account)
    return result_of(request, started_at, done, trades=done.proposed_trades)


async def reconcile(
    request: WorkerRequest, client: BrokerClient, journal: Journal, started_at: datetime
) -> AccountExecutionResult:
    """Resolve the account's unresolved orders, then check its positions; places nothing."""
    account_id = request.account.account_id
    await _connect_first(client, RetryBudget(request.gateway_retry_secs), _what(request))
    notes = (await reconcile_orders(client, journal, account_id)).lines
    held, differences = await check_positions(client, journal, account_id)
    logger.info(
        "Reconciled %s: %d orders resolved, %d positions, %d differences",
        account_id,
        len(notes),
        len(held),
        len(differences),
    )
    return result_of(request, started_at, None, notes=notes, differences=differences)


async def snapshot(
    request: WorkerRequest, client: BrokerClient, started_at: datetime
) -> AccountExecutionResult:
    """The portfolio snapshot alone (value, cash, positions, targets, benchmark)."""
    await _connect_first(client, None, _what(request))
    source, replacements = create_allocation_source(request)
    taken, warnings = await take_snapshot(
        client, request.account, source=source, replacements=replacements
    )
    logger.info(
        "Snapshot: value %s, cash %s, %d positions%s",
        taken.total_value,
        taken.cash,
        len(taken.positions),
        "".join(f"; {w}" for w in warnings),
    )
    return result_of(
        request,
        started_at,
        None,
        total_value=taken.total_value,
        cash_balance=taken.cash,
        warnings=warnings,
        snapshot=taken,
    )
