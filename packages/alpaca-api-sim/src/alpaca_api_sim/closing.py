"""Market-on-close (``time_in_force: cls``): the entry cut-off and the closing auction.

Alpaca routes ``cls`` orders to the closing auction only: they never trade in continuous
trading, fill at the closing print, and are refused when submitted from 10 minutes before the
close (3:50 pm New York on a normal day) until 7 pm; later ones wait for the next session's
close. On an always-open or forced clock there is no close to count back from, so no cut-off;
the auction then runs when a test asks for it (``AlpacaApiSimulator.close_auction``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alpaca_api_sim.clock import NEW_YORK, MarketClock
from alpaca_api_sim.scenario import SymbolSpec
from alpaca_api_sim.state import ApiError
from alpaca_api_sim.valuation import quote_side

__all__ = ["CLS_CUTOFF", "check_cls_entry", "closing_price"]

CLS_CUTOFF = dt.timedelta(minutes=10)
"""How long before the close ``cls`` orders stop being accepted."""

_QUEUE_FROM = dt.time(19, 0)
_UNPROCESSABLE = 42210000


def check_cls_entry(clock: MarketClock) -> None:
    """Refuse a ``cls`` order submitted after the cut-off of today's session.

    Raises:
        ApiError: 422 naming the cut-off.
    """
    if clock.always_open or clock.forced_open is not None:
        return
    now = clock.now()
    session = clock.session(now.astimezone(NEW_YORK).date())
    if session is None:
        return
    cutoff = session[1] - CLS_CUTOFF
    queue_from = dt.datetime.combine(session[1].astimezone(NEW_YORK).date(), _QUEUE_FROM, NEW_YORK)
    if cutoff <= now < queue_from:
        local = cutoff.astimezone(NEW_YORK)
        raise ApiError(
            422,
            _UNPROCESSABLE,
            f"cls orders are not accepted from {local:%H:%M} ET (10 minutes before the close) "
            "until 7:00 pm ET",
        )


def closing_price(spec: SymbolSpec) -> Decimal | None:
    """The closing auction's print: ``close``, else ``last``, else the bid/ask midpoint."""
    for price in (spec.close, spec.last):
        if price is not None and price > 0:
            return price
    bid, ask = quote_side(spec.bid), quote_side(spec.ask)
    if bid is not None and ask is not None:
        return (bid + ask) / 2
    return None
