"""The worker's ``on_order`` callback: every order into the journal, once per status into the
log, and the test-only stop points.

The engine calls it with each order three times: just before it is sent (the intent), when it
is acknowledged, when it is final. The intent is journalled (with the trading day, for PDT)
before the order exists at the broker; if that fails the callback raises and the engine sends
nothing. Later records that fail are logged loudly and the run goes on: the orders are already
at the broker, and the run's result (and the next reconciliation) still has them.

Test-only stop points (``REBALANCER_TEST_STOP_AT``, never set in production): the crash tests
and ``bench/crash_recovery.py`` must stop a worker between two broker calls of one run (after
the first sell is placed, after the sells filled, between two buys). From outside, the journal
and the broker only show such a point after the worker has gone past it, so a kill from the
test would race the run. The value is ``<point>:<action>``: at the point the worker writes
``<DATA_DIR>/test-stop-<point>`` (its pid), then ``kill`` sends SIGKILL to itself and
``pause`` blocks, so the test can SIGKILL the daemon while the run stands exactly there. It
happens once per ``DATA_DIR``: while that file exists, later runs go past the point.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from broker_connector_base import InvalidInputError, OrderStatus, Trade

from app.store.journal import Journal

__all__ = ["STOP_AT_VARIABLE", "STOP_POINTS", "order_journal"]

logger = logging.getLogger("app.worker.run")

STOP_AT_VARIABLE = "REBALANCER_TEST_STOP_AT"
STOP_POINTS = ("sell-placed", "sells-filled", "buy-placed")
"""``sell-placed``: the first sell acknowledged; ``sells-filled``: the first buy about to be
journalled (every sell final); ``buy-placed``: the first buy acknowledged, the others not sent."""


def _stop_point(trade: Trade) -> str | None:
    if trade.order_id is None and trade.status is None:
        return "sells-filled" if trade.quantity > 0 else None
    if trade.order_id is not None:
        return "sell-placed" if trade.quantity < 0 else "buy-placed"
    return None


def _stop_here(point: str, data_dir: Path) -> None:
    """Act on ``REBALANCER_TEST_STOP_AT`` when it names ``point``."""
    wanted, _, action = os.environ.get(STOP_AT_VARIABLE, "").partition(":")
    marker = data_dir / f"test-stop-{point}"
    if wanted != point or marker.exists():
        return
    logger.warning("Test stop point %s reached (%s)", point, action)
    marker.write_text(str(os.getpid()), encoding="utf-8")
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    while True:  # the test kills this process or the daemon now
        time.sleep(3600)


def order_journal(journal: Journal, run_id: str) -> Callable[[Trade], None]:
    """The ``on_order`` callback of one run (see the module docstring)."""
    logged: dict[str | None, OrderStatus | None] = {}
    reached: set[str] = set()
    data_dir = journal.path.parent

    def on_order(trade: Trade) -> None:
        point = _stop_point(trade)
        if point == "sells-filled" and point not in reached:
            reached.add(point)
            _stop_here(point, data_dir)
        intent = trade.order_id is None and trade.status is None
        try:
            journal.record_order(run_id=run_id, trade=trade)
        except (InvalidInputError, sqlite3.Error) as exc:
            if intent:
                raise  # nothing is sent for an order the journal does not have
            logger.error("Could not journal order %s (%s): %s", trade.order_id, trade.symbol, exc)
        if point in ("sell-placed", "buy-placed") and point not in reached:
            reached.add(point)
            _stop_here(point, data_dir)
        if intent or logged.get(trade.order_id) == trade.status:
            return  # one log line per status an order had, not per call
        logged[trade.order_id] = trade.status
        logger.info(
            "Order %s %s %s x%d status %s",
            trade.order_id,
            trade.action,
            trade.symbol,
            abs(trade.quantity),
            trade.status,
        )

    return on_order
