"""Own cancels and handled pacing errors out of ib_async's error log.

ib_async logs every error message of the gateway at ERROR, including error 202 ("Order
Canceled"), which is how IB confirms a cancel the client asked for, followed by a WARNING
"Canceled order: Trade(...)". For a cancel this connector requested, both lines are routine and
are lowered to INFO; a refused cancel of such an order (10148, 161: it filled first, which
the connector handles) to WARNING. Cancels nobody here asked for (IB cancelling a DAY order,
a rejection) keep ib_async's levels. Error 100 (pacing) is lowered to INFO: the connector
slows down, repeats the dropped message and says so itself at WARNING (``_pacing``).
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["expect_cancel"]

_ERROR = re.compile(r"^Error (?P<code>\d+), reqId (?P<order>-?\d+):")
_CANCELED = re.compile(r"^Canceled order: Trade\(.*?orderId=(?P<order>\d+),", re.S)
_ROUTINE = frozenset({202})
_PACING = 100
_REFUSED = frozenset({161, 10148})


def _lower(record: logging.LogRecord, level: int) -> None:
    record.levelno = level
    record.levelname = logging.getLevelName(level)


class _OwnCancels(logging.Filter):
    """Lowers ib_async's lines about cancels requested through this connector."""

    def __init__(self) -> None:
        super().__init__()
        self._orders: set[int] = set()
        self._lock = threading.Lock()

    def expect(self, order_id: int) -> None:
        with self._lock:
            self._orders.add(order_id)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        error = _ERROR.match(message)
        if error is not None:
            code, order = int(error["code"]), int(error["order"])
            if code == _PACING:
                _lower(record, logging.INFO)
                return True
            with self._lock:
                ours = order in self._orders
            if ours and code in _ROUTINE:
                _lower(record, logging.INFO)
            elif ours and code in _REFUSED:
                _lower(record, logging.WARNING)
            return True
        cancelled = _CANCELED.match(message)
        if cancelled is not None:
            with self._lock:
                ours = int(cancelled["order"]) in self._orders
                self._orders.discard(int(cancelled["order"]))
            if ours:
                _lower(record, logging.INFO)
        return True


_FILTER = _OwnCancels()
logging.getLogger("ib_async.wrapper").addFilter(_FILTER)


def expect_cancel(order_id: int) -> None:
    """Note that this process asked IB to cancel ``order_id`` (IB's answer is routine)."""
    _FILTER.expect(order_id)
