"""The seed's path of PDT protection; it lives in ``app.runs.pdt``."""

from app.runs.pdt import (
    NEW_YORK,
    PDTProtectionService,
    next_allowed_after,
    pdt_refusal_message,
    trading_day,
)

__all__ = [
    "NEW_YORK",
    "PDTProtectionService",
    "next_allowed_after",
    "pdt_refusal_message",
    "trading_day",
]
