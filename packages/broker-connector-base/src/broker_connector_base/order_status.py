"""Normalised order statuses (``OrderStatus``), shared by the models and the execution report."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OrderStatus"]


class OrderStatus(StrEnum):
    """Normalised order statuses across brokers (a ``str``: ``OrderStatus.FILLED == "FILLED"``)."""

    FILLED = "FILLED"
    WORKING = "WORKING"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    PENDING = "PENDING"
    NOT_FOUND = "NOT_FOUND"
    ERROR = "ERROR"

    @property
    def is_final(self) -> bool:
        """True when the order can no longer fill (filled, cancelled, rejected, expired)."""
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
