"""Reconciliation with the broker, run in a worker (the only processes that talk to brokers).

``reconcile_orders``: every unresolved order of the account's earlier runs is looked up at the
broker by its run id (``BrokerClient.get_orders_by_ref``) and its journal row updated to what
really happened (``rebalance_engine.resolve_orders``). ``check_positions``: the broker's
positions against the last ones seen plus the fills journalled since; a difference means the
account changed outside the daemon. Both only read the broker and write the journal; the
lines they return are what the owner is told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from broker_connector_base import BrokerClient, PositionDifference
from rebalance_engine import PositionReconciler, resolve_orders

import app.store.reconciliation as records
from app.store.journal import Journal

__all__ = ["Reconciled", "check_positions", "reconcile_orders", "settle_earlier_orders"]

logger = logging.getLogger(__name__)


@dataclass
class Reconciled:
    """What one reconciliation found.

    Attributes:
        lines: One line per order resolved (and per order the broker has that the journal
            does not), for the owner.
        still_working: Some order is still working at the broker (it can still fill).
        expected: Shares per symbol that newly found fills should leave (the shares held
            when the order was planned plus what it filled): what the positions must show
            before anything is planned from them (brokers report fills before positions).
    """

    lines: list[str] = field(default_factory=list)
    still_working: bool = False
    expected: dict[str, Decimal] = field(default_factory=dict)

    def add(self, other: Reconciled) -> None:
        self.lines.extend(other.lines)
        self.still_working = other.still_working
        self.expected.update(other.expected)


async def reconcile_orders(
    client: BrokerClient,
    journal: Journal,
    account_id: str,
    *,
    exclude_run: str | None = None,
    only_run: str | None = None,
) -> Reconciled:
    """Resolve the account's unresolved journalled orders against the broker.

    Args:
        client: A connected client.
        journal: The journal.
        account_id: The account.
        exclude_run: The run in progress (its orders are its own business).
        only_run: Only this run's orders (a run that lost its connection, before it sends
            anything again).

    Raises:
        BrokerError: The broker could not be asked; the journal is left as it was.
    """
    found = Reconciled()
    pending = records.unresolved_orders(
        journal, account_id, exclude_run=exclude_run, only_run=only_run
    )
    for run in pending:
        listed = await client.get_orders_by_ref(account_id, run.run_id, since=run.started_at)
        resolutions, unknown = resolve_orders([trade for _, trade in run.orders], listed)
        for (seq, _), resolution in zip(run.orders, resolutions, strict=True):
            line = resolution.describe()
            records.resolve_order(journal, seq, resolution.after, note=line, final=resolution.final)
            found.lines.append(f"run {run.run_id}: {line}")
            found.still_working |= not resolution.final
            after = resolution.after
            if (after.filled_quantity or 0) != (resolution.before.filled_quantity or 0):
                found.expected[after.symbol] = after.current_shares + (after.filled_quantity or 0)
        # Orders of the run already final in the journal are not asked about again, so the
        # broker's records of them are not news.
        journalled = records.perm_ids(journal, run.run_id)
        for record in (r for r in unknown if r.perm_id not in journalled):
            found.lines.append(
                f"run {run.run_id}: the broker has order {record.order_id} (perm id "
                f"{record.perm_id}) {record.quantity} {record.symbol}, {record.status}, "
                f"{record.filled_quantity} filled, which the journal does not know"
            )
    for line in found.lines:
        logger.warning("Reconciled with the broker: %s", line)
    return found


async def settle_earlier_orders(
    client: BrokerClient,
    journal: Journal,
    account_id: str,
    *,
    timeout_secs: float,
    exclude_run: str | None = None,
    only_run: str | None = None,
) -> list[str]:
    """Reconcile, and leave no earlier order able to fill under the run about to plan.

    An order an earlier run (or this run before its connection dropped) left working may fill
    at any moment: between the snapshot a run plans from and the run's own cancels, its
    shares would be sold or bought a second time. Such orders are cancelled (all open
    orders of the account, as the run itself would: their ids may belong to other orders
    after a gateway restart, so none is cancelled by id) and reconciled again; then the run
    waits until the positions show every fill found.

    Returns:
        The lines for the owner.
    """
    found = await reconcile_orders(
        client, journal, account_id, exclude_run=exclude_run, only_run=only_run
    )
    if found.still_working:
        cancelled = await client.cancel_all_orders(account_id, timeout_secs=timeout_secs)
        found.lines.append(f"cancelled orders still working at the broker: {cancelled}")
        found.add(
            await reconcile_orders(
                client, journal, account_id, exclude_run=exclude_run, only_run=only_run
            )
        )
    if found.expected:
        seen = await client.wait_for_positions(
            account_id, found.expected, timeout_secs=timeout_secs
        )
        if seen != found.expected:
            found.lines.append(
                "positions do not show those fills after "
                f"{timeout_secs:g} s: {', '.join(f'{s} {q}' for s, q in sorted(seen.items()))}"
            )
    return found.lines


async def check_positions(
    client: BrokerClient, journal: Journal, account_id: str
) -> tuple[dict[str, Decimal], list[PositionDifference]]:
    """Compare the broker's positions with the last check's plus the fills journalled since.

    The positions seen are recorded as the next check's starting point, so a change made
    outside the daemon is reported once, not at every check.

    Returns:
        The positions seen and the differences (empty at the first check).
    """
    snapshot = await client.get_account_snapshot(account_id, use_cached_prices=True)
    held = {p.symbol: p.quantity for p in snapshot.positions}
    baseline = records.position_baseline(journal, account_id)
    differences: list[PositionDifference] = []
    if baseline is not None:
        reconciler = PositionReconciler()
        expected = dict(baseline.positions)
        for symbol, filled in records.fills_since(journal, account_id, baseline.checked_at).items():
            expected[symbol] = expected.get(symbol, Decimal(0)) + filled
        differences = reconciler.differences(expected, held)
    records.record_position_check(
        journal,
        account_id,
        kind="periodic",
        positions=held,
        differences=differences,
        notified=bool(differences),
    )
    if differences:
        logger.warning(
            "Positions of %s changed outside the daemon: %s",
            account_id,
            "; ".join(d.describe() for d in differences),
        )
    return held, differences
