"""Reconciliation, pure: journalled orders against the broker's records, positions against fills.

``resolve_orders`` tells what became of orders a crashed or failed run left in a non-final
state, from ``BrokerClient.get_orders_by_ref`` records (matched by permanent id, else by order
id with symbol and quantity, else by symbol and quantity for an order that was about to be
sent: never by order id alone, which a gateway restart may give to another order).
``PositionReconciler`` (seed 001's post-trade position validation) says which symbols the
broker holds in other amounts than the shares before plus the fills explain. Neither trades:
the daemon journals and reports what they find.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from broker_connector_base import OrderRecord, OrderStatus, PositionDifference, Trade

__all__ = ["OrderResolution", "Outcome", "PositionReconciler", "resolve_orders"]

Outcome = Literal[
    "filled",
    "partially filled",
    "cancelled",
    "rejected",
    "expired",
    "working",
    "never placed",
    "not listed",
]
"""What an order turned out to be: ``never placed`` when it was about to be sent and the broker
has no such order; ``not listed`` when it had an order id but the broker no longer lists it
(IB lists the current day only)."""


@dataclass(frozen=True)
class OrderResolution:
    """What one journalled order turned out to be.

    Attributes:
        before: The order as journalled.
        after: The order as the broker's record says it is (``before`` itself when nothing
            was found).
        outcome: The verdict, in words the owner reads.
        record: The broker's record it was matched with, if any.
    """

    before: Trade
    after: Trade
    outcome: Outcome
    record: OrderRecord | None

    @property
    def final(self) -> bool:
        """Whether the order can no longer change (everything but ``working``)."""
        return self.outcome != "working"

    def describe(self) -> str:
        """One line for the owner."""
        trade = self.after
        what = f"{trade.action} {abs(trade.quantity)} {trade.symbol}"
        ids = f"order {trade.order_id}" if trade.order_id else "order without id"
        if trade.perm_id:
            ids += f", perm id {trade.perm_id}"
        line = f"{what} ({ids}): {self.outcome}"
        if trade.filled_quantity:
            line += f", {abs(trade.filled_quantity)} filled"
            if trade.avg_fill_price is not None:
                line += f" at {trade.avg_fill_price}"
        return line


def _outcome(status: OrderStatus, filled: int, quantity: int) -> Outcome:
    if status is OrderStatus.FILLED and abs(filled) >= abs(quantity):
        return "filled"
    if not status.is_final:
        return "working"
    if filled:
        return "partially filled"
    names: dict[OrderStatus, Outcome] = {
        OrderStatus.CANCELLED: "cancelled",
        OrderStatus.REJECTED: "rejected",
        OrderStatus.EXPIRED: "expired",
    }
    return names.get(status, "cancelled")


def _apply(trade: Trade, record: OrderRecord) -> OrderResolution:
    status = record.status
    filled = record.filled_quantity
    if (
        record.quantity is None
        and status is OrderStatus.FILLED
        and abs(filled) < abs(trade.quantity)
    ):
        # Only executions are known: the order is over and filled less than was ordered.
        status = OrderStatus.CANCELLED
    outcome = _outcome(status, filled, trade.quantity)
    if outcome == "filled":
        status = OrderStatus.FILLED
    after = trade.model_copy(
        update={
            "order_id": record.order_id or trade.order_id,
            "perm_id": record.perm_id,
            "status": status,
            "filled_quantity": filled,
            "avg_fill_price": record.avg_fill_price,
        }
    )
    return OrderResolution(trade, after, outcome, record)


def _same_order(trade: Trade, record: OrderRecord) -> bool:
    return record.symbol == trade.symbol and record.quantity in (None, trade.quantity)


def _find(trade: Trade, records: list[OrderRecord]) -> OrderRecord | None:
    if trade.perm_id is not None:
        return next((r for r in records if r.perm_id == trade.perm_id), None)
    if trade.order_id is not None:
        return next(
            (r for r in records if r.order_id == trade.order_id and _same_order(trade, r)), None
        )
    # About to be sent when the process stopped: the earliest unclaimed order like it.
    return next((r for r in records if r.order_id is not None and _same_order(trade, r)), None)


def resolve_orders(
    journalled: Sequence[Trade], records: Iterable[OrderRecord]
) -> tuple[list[OrderResolution], list[OrderRecord]]:
    """Match one run's journalled orders with the broker's records of that run.

    Args:
        journalled: The run's orders as journalled, in placement order.
        records: ``get_orders_by_ref(account, run_id)``: every order of the run the broker
            knows.

    Returns:
        A resolution per journalled order, in order, and the records no journalled order
        matched (orders the journal does not know).
    """
    unclaimed = list(records)
    resolutions = []
    # Orders with ids first, so one about to be sent never claims an acknowledged one's record.
    for trade in sorted(journalled, key=lambda t: (t.perm_id is None, t.order_id is None)):
        record = _find(trade, unclaimed)
        if record is None:
            outcome: Outcome = "not listed" if trade.order_id else "never placed"
            resolutions.append(OrderResolution(trade, trade, outcome, None))
            continue
        unclaimed.remove(record)
        resolutions.append(_apply(trade, record))
    position = {id(t): i for i, t in enumerate(journalled)}
    resolutions.sort(key=lambda r: position[id(r.before)])
    return resolutions, unclaimed


@dataclass(frozen=True)
class PositionReconciler:
    """Post-trade position validation: do the broker's positions match before + fills?

    Whole-share fills against positions that may be fractional: exact ``Decimal`` throughout,
    no tolerance (a difference of a fraction of a share is a difference).
    """

    def expected_after(
        self, before: Mapping[str, Decimal], orders: Iterable[Trade]
    ) -> dict[str, Decimal]:
        """The shares per symbol that ``before`` and the fills of ``orders`` come to."""
        expected = {symbol: Decimal(quantity) for symbol, quantity in before.items()}
        for trade in orders:
            if trade.filled_quantity:
                held = expected.get(trade.symbol, Decimal(0))
                expected[trade.symbol] = held + trade.filled_quantity
        return expected

    def differences(
        self, expected: Mapping[str, Decimal], actual: Mapping[str, Decimal]
    ) -> list[PositionDifference]:
        """Symbols held or expected in other amounts than expected (0: not held), sorted."""
        found = []
        for symbol in sorted(set(expected) | set(actual)):
            want = expected.get(symbol, Decimal(0))
            have = actual.get(symbol, Decimal(0))
            if want != have:
                found.append(PositionDifference(symbol=symbol, expected=want, actual=have))
        return found

    def reconcile_after_orders(
        self,
        before: Mapping[str, Decimal],
        executed_orders: Iterable[Trade],
        actual: Mapping[str, Decimal],
    ) -> list[PositionDifference]:
        """Where ``actual`` differs from ``before`` plus the fills of ``executed_orders``."""
        return self.differences(self.expected_after(before, executed_orders), actual)
