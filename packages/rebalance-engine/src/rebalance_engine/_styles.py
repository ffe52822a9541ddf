"""How a trade is sent, by the account's order type: its first order, and what follows when a
limit or midprice order rests past its timeout (``broker_connector_base.order_policy``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from broker_connector_base import AccountConfig, BrokerAPIError, ContractPrice, OrderSpec
from broker_connector_base.order_policy import AccountOrderType, OrderOptions
from broker_connector_base.types import CENT

__all__ = ["OrderStyle", "marketable_limit"]

_BPS = Decimal(10_000)


def marketable_limit(quantity: int, quote: ContractPrice, offset_bps: Decimal) -> Decimal:
    """A limit that trades at once: the far side moved ``offset_bps`` further, to the cent.

    A buy's limit is the ask plus the offset, rounded up; a sell's the bid minus it, rounded
    down (never below a cent). Without that side, the last trade (else the close) stands in.

    Raises:
        BrokerAPIError: The quote has no price at all.
    """
    buy = quantity > 0
    far = (quote.ask if buy else quote.bid) or quote.last or quote.close
    if not far:
        raise BrokerAPIError(f"no price to set a limit for {quote.symbol} at: {quote!r}")
    moved = far * (1 + offset_bps / _BPS) if buy else far * (1 - offset_bps / _BPS)
    limit = moved.quantize(CENT, rounding=ROUND_CEILING if buy else ROUND_FLOOR)
    return max(limit, CENT)


@dataclass(frozen=True)
class OrderStyle:
    """The account's order type and its options."""

    order_type: AccountOrderType = "market"
    options: OrderOptions = field(default_factory=OrderOptions)

    @classmethod
    def of(cls, config: AccountConfig) -> OrderStyle:
        """The style ``config`` asks for."""
        return cls(config.order_type, config.order_options)

    @property
    def rests(self) -> bool:
        """Whether its orders may rest unfilled (limit, midprice): they get a timeout."""
        return self.order_type in ("limit", "midprice")

    def first(self, quantity: int, quote: ContractPrice) -> OrderSpec:
        """The first order of a trade of ``quantity`` shares, priced off ``quote``."""
        kind = self.order_type
        if kind == "limit":
            limit = marketable_limit(quantity, quote, self.options.limit_offset_bps)
            return OrderSpec(type="LIMIT", limit_price=limit)
        if kind == "midprice":
            cap = marketable_limit(quantity, quote, self.options.limit_offset_bps)
            return OrderSpec(type="MIDPRICE", limit_price=cap)
        if kind == "moc":
            return OrderSpec(type="MOC")
        if kind == "adaptive":
            return OrderSpec(type="ADAPTIVE", priority=self.options.adaptive_priority)
        return OrderSpec()

    def after_timeout(self, timeouts: int, quantity: int, quote: ContractPrice) -> OrderSpec | None:
        """The order for what is left after the ``timeouts``-th timeout; ``None``: stop.

        A limit is re-priced at ``quote`` ``limit_reprices`` times; then (and for a midprice
        order at once) ``limit_fallback`` says: a market order, or nothing.
        """
        if self.order_type == "limit" and timeouts <= self.options.limit_reprices:
            return self.first(quantity, quote)
        if self.options.limit_fallback == "market":
            return OrderSpec()
        return None
