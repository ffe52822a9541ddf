"""``DailyBar``: exact prices, consistency of open/high/low/close."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from broker_connector_base import DailyBar
from pydantic import ValidationError


def test_daily_bar_keeps_prices_exact_and_normalises_the_symbol() -> None:
    bar = DailyBar(
        symbol=" spy ", date=date(2024, 1, 2), open=0.1, high="0.3", low="0.1", close=0.2
    )
    assert bar.symbol == "SPY"
    assert (bar.open, bar.close) == (Decimal("0.1"), Decimal("0.2"))
    assert bar.volume is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("high", "1.5"), ("low", "1.95"), ("close", "0"), ("open", "-1")],
)
def test_daily_bar_inconsistent_or_non_positive_price_is_refused(field: str, value: str) -> None:
    prices = {"open": "1.9", "high": "2.0", "low": "1.8", "close": "1.9"}
    with pytest.raises(ValidationError):
        DailyBar(symbol="SPY", date=date(2024, 1, 2), **{**prices, field: value})
