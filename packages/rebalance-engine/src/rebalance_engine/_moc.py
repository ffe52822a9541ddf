"""The market-on-close round (``order_type: moc``).

Market-on-close orders fill in the closing auction, minutes or hours after the run: the
engine's sell, wait for the fills, buy with the cash freed cannot wait for the sells' proceeds.
A MOC run is therefore one round of its own:

* Before any order, the exchange's MOC cut-off is checked against the broker's clock: NYSE and
  NYSE Arca take MOC orders until 10 minutes before the close (15:50 New York on a normal
  day, 12:50 on a 13:00 early close; Nasdaq's 15:55 is later, so the NYSE rule is safe for
  both). The cut-off is counted back from the session close the broker reports
  (``TradingHoursStatus.closes_at``; 16:00 New York when it does not say), and a minute is
  kept for sending the orders: a run that starts later is refused and places nothing.
* The plan's sells and buys are all sent as MOC orders, sells first; a refused sell stops the
  buys. The buys are sized by the plan, which counts the sells' proceeds at the bid and prices
  the buys at ask + 0.5 %: the closing prices will differ from those quotes, and the cash
  reserve (``cash_reserve_percent``) is the buffer that absorbs the difference.
* Nothing is waited for: no fills, no settle, no further rounds. The run ends with the orders
  working and its report lists them as pending the close. A run after the close plans from
  what the auction did; a run before it cancels the working MOC orders first (every run
  cancels the account's open orders) and plans again.
* A cash account cannot spend proceeds before the sells fill, and a broker checks buying power
  when an order is entered (IB does): there, buys that the cash on hand does not cover are
  refused and reported, and the next run buys with the proceeds. Margin accounts take them.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from broker_connector_base import Trade, TradingHoursStatus
from broker_connector_base.types import NEW_YORK

from rebalance_engine._execution import OrderRunner, RunRecord
from rebalance_engine._plan import Goal, Plan

__all__ = ["ENTRY_MARGIN", "MOC_CUTOFF", "moc_cutoff", "moc_refusal", "on_close"]

MOC_CUTOFF = timedelta(minutes=10)
"""How long before the close NYSE and NYSE Arca stop taking market-on-close orders."""

ENTRY_MARGIN = timedelta(minutes=1)
"""Kept before the cut-off for sending the round's orders."""

_REGULAR_CLOSE = time(16, 0)


def moc_cutoff(hours: TradingHoursStatus) -> datetime:
    """The cut-off of the session ``hours`` was checked in."""
    closes = hours.closes_at
    if closes is None:
        day = hours.checked_at.astimezone(NEW_YORK).date()
        closes = datetime.combine(day, _REGULAR_CLOSE, NEW_YORK)
    return closes - MOC_CUTOFF


def moc_refusal(hours: TradingHoursStatus) -> str | None:
    """Why market-on-close orders cannot be placed now (``None``: they can)."""
    cutoff = moc_cutoff(hours)
    now = hours.checked_at
    if now < cutoff - ENTRY_MARGIN:
        return None
    local_cutoff, local_now = cutoff.astimezone(NEW_YORK), now.astimezone(NEW_YORK)
    return (
        f"market-on-close orders are taken until {local_cutoff:%H:%M} New York (10 minutes "
        f"before the close), with a minute kept for sending them; it is {local_now:%H:%M:%S} "
        "by the broker's clock. Nothing was placed."
    )


def _refused(trade: Trade) -> bool:
    return trade.status is not None and trade.status.is_final


async def on_close(
    runner: OrderRunner, account: str, plan: Plan, goal: Goal, run: RunRecord
) -> str | None:
    """Place ``plan`` as one market-on-close round: sells, then buys; nothing is waited for.

    Returns:
        Why the round stopped (a refused sell stops the buys), or ``None``.
    """
    quotes = plan.quotes()
    sells = [t for t in plan.trades if t.quantity < 0]
    buys = [t for t in plan.trades if t.quantity > 0]
    if buys and not goal.reserve_percent:
        run.warnings.append(
            "market-on-close buys with no cash reserve: closing prices above the quotes the "
            "plan used may leave them short of cash"
        )
    for side, trades in (("sells", sells), ("buys", buys)):
        placed = await runner.place_on_close(account, trades, run, quotes)
        refused = [f"{t.action} {abs(t.quantity)} {t.symbol}" for t in placed if _refused(t)]
        if refused and side == "sells":
            return f"market-on-close sells refused: {refused}; no buys were placed"
        if refused:
            return (
                f"market-on-close buys refused: {refused} (a cash account cannot spend the "
                "sells' proceeds before they fill); the sells work until the close and the "
                "next run buys with their proceeds"
            )
    if plan.trades:
        run.warnings.append(
            f"{len(plan.trades)} market-on-close orders work until the closing auction; their "
            "fills are known after the close"
        )
    return None
