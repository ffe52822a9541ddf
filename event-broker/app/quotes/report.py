"""``tools/rebalance.sh -spreads [-since YYYY-MM-DD]``: the recorded quotes' spreads.

What the execution report's arrival spreads are measured against: per recorded symbol, its
ticks, median and 90th percentile bid/ask spread (basis points of the midpoint) and newest
quote, from the quote recorder's file (no broker, no worker).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from broker_connector_base.types import NEW_YORK

from app.quotes.store import QuoteReader, SpreadStats

__all__ = ["format_spreads", "spreads_since"]


def spreads_since(day: date | None, now: datetime) -> float:
    """The window's start (Unix seconds): New York midnight of ``day``, else 24 h ago."""
    if day is None:
        return (now - timedelta(days=1)).timestamp()
    return datetime.combine(day, time(0), tzinfo=NEW_YORK).timestamp()


def _bps(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _price(value: Decimal | None) -> str:
    return "-" if value is None else str(value)


def _line(row: SpreadStats) -> str:
    at = datetime.fromtimestamp(row.last.at, NEW_YORK).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{row.symbol:<8} {row.ticks:>9,} {_bps(row.median_bps):>10} {_bps(row.p90_bps):>8}  "
        f"{_price(row.last.bid):>10} {_price(row.last.ask):>10}  {at}"
    )


def format_spreads(path: Path, since: float) -> str:
    """The spreads table of the ticks in ``path`` since ``since`` (or why there is none)."""
    start = datetime.fromtimestamp(since, NEW_YORK).strftime("%Y-%m-%d %H:%M %Z")
    rows = QuoteReader(path).spreads(since)
    if not rows:
        return (
            f"No quotes recorded in {path} since {start} (QUOTE_RECORDER_ENABLED=true "
            "records the strategies' symbols during NYSE regular hours)."
        )
    header = (
        f"{'SYMBOL':<8} {'TICKS':>9} {'MEDIAN BPS':>10} {'P90 BPS':>8}  "
        f"{'LAST BID':>10} {'LAST ASK':>10}  LAST TICK (NEW YORK)"
    )
    return "\n".join([f"Recorded spreads since {start} ({path})", header, *map(_line, rows)])
