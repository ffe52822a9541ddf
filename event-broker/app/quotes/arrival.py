"""Arrival quotes from the quote recorder (in the worker): a streamed quote costs no request.

When the recorder runs, its newest tick of a symbol is usually a fraction of a second old; a
two-sided one no older than ``max_age_secs`` is the arrival quote of an order sent now, and
only the symbols without one are asked of the broker (each request counts against IB's
message rate, shared with every other run on the gateway).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from broker_connector_base import BrokerClient, ContractPrice
from rebalance_engine.quotes import BrokerArrivalQuotes, TimedQuote, utc_now

from app.quotes.store import QuoteReader

__all__ = ["RecordedArrivalQuotes"]


@dataclass(frozen=True)
class RecordedArrivalQuotes:
    """The plan's quote when young enough, else the recorder's, else the broker's.

    Attributes:
        broker: The connected client (for symbols the recorder has no fresh quote of).
        reader: The recorder's file.
        max_age_secs: The oldest plan or recorded quote that counts as the arrival quote.
        clock: Now (aware).
    """

    broker: BrokerClient
    reader: QuoteReader
    max_age_secs: float = 2.0
    clock: Callable[[], datetime] = utc_now

    async def arrival(
        self, symbols: Sequence[str], decided: Mapping[str, TimedQuote]
    ) -> dict[str, TimedQuote]:
        """Quotes of ``symbols`` for orders sent now (``decided``: the plan's quotes)."""
        now = self.clock()
        out = {
            s: q for s in symbols if (q := decided.get(s)) and q.age_secs(now) <= self.max_age_secs
        }
        since = now.timestamp() - self.max_age_secs
        for symbol, tick in self.reader.latest((s for s in symbols if s not in out), since).items():
            taken = datetime.fromtimestamp(tick.at, UTC)
            if tick.bid and tick.ask and tick.ask >= tick.bid:
                price = ContractPrice(symbol=symbol, bid=tick.bid, ask=tick.ask)
                out[symbol] = TimedQuote(price, taken, "recorder")
        missing = [s for s in dict.fromkeys(symbols) if s not in out]
        if missing:
            fallback = BrokerArrivalQuotes(self.broker, self.max_age_secs, self.clock)
            out.update(await fallback.arrival(missing, {}))
        return out
