"""Quotes with the moment they were taken: the one the plan decided on, the one an order met
when it was sent (arrival), for the execution report and to price limit orders."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from broker_connector_base import BrokerClient, ContractPrice
from broker_connector_base.execution import QuoteSource

__all__ = ["ArrivalQuotes", "BrokerArrivalQuotes", "TimedQuote", "utc_now"]


def utc_now() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class TimedQuote:
    """A quote, when it was taken (aware) and where it came from."""

    price: ContractPrice
    taken_at: datetime
    source: QuoteSource

    @property
    def mid(self) -> Decimal | None:
        """The bid/ask midpoint; the last trade (else the close) without a two-sided quote."""
        bid, ask = self.price.bid, self.price.ask
        if bid and ask:
            return (bid + ask) / 2
        return self.price.last or self.price.close or None

    def age_secs(self, now: datetime) -> float:
        """How old the quote is at ``now``."""
        return (now - self.taken_at).total_seconds()


class ArrivalQuotes(Protocol):
    """Where the quotes orders meet when they are sent come from."""

    async def arrival(
        self, symbols: Sequence[str], decided: Mapping[str, TimedQuote]
    ) -> dict[str, TimedQuote]:
        """Quotes of ``symbols`` for orders sent now (``decided``: the plan's quotes)."""


@dataclass(frozen=True)
class BrokerArrivalQuotes:
    """Arrival quotes from the broker, or the plan's own when it is recent enough.

    A plan quote younger than ``max_age_secs`` is the arrival quote: the engine sends its
    orders right after planning, and each quote request counts against the broker's message
    rate. Older ones (a plan made before a wait, a re-price) are asked for again.

    Attributes:
        broker: The connected client.
        max_age_secs: The oldest plan quote that still counts as the arrival quote.
        clock: Now (aware); the tests' clock where they need one.
    """

    broker: BrokerClient
    max_age_secs: float = 2.0
    clock: Callable[[], datetime] = utc_now

    async def arrival(
        self, symbols: Sequence[str], decided: Mapping[str, TimedQuote]
    ) -> dict[str, TimedQuote]:
        """The plan's quote where young enough, else a fresh one from the broker."""
        now = self.clock()
        out: dict[str, TimedQuote] = {}
        for symbol in symbols:
            quote = decided.get(symbol)
            if quote is not None and quote.age_secs(now) <= self.max_age_secs:
                out[symbol] = quote
        missing = [s for s in dict.fromkeys(symbols) if s not in out]
        if missing:
            prices = await self.broker.get_multiple_market_prices(missing)
            taken = self.clock()
            out.update((p.symbol, TimedQuote(p, taken, "broker")) for p in prices)
        return out
