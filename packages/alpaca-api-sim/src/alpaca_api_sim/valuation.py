"""Account arithmetic: mark prices, equity, reservations and buying power (all ``Decimal``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from alpaca_api_sim.scenario import SymbolSpec
from alpaca_api_sim.state import AccountState, SimOrder

__all__ = [
    "PDT_EQUITY_MINIMUM",
    "buying_power",
    "equity",
    "estimate_price",
    "held_for_sells",
    "long_market_value",
    "mark_price",
    "quote_side",
    "reserved_for_buys",
]

ZERO = Decimal(0)

PDT_EQUITY_MINIMUM = Decimal(25000)
"""Below this equity, a fourth day trade in five business days is refused (FINRA PDT)."""


def quote_side(value: Decimal | None) -> Decimal | None:
    """A quote side, with Alpaca's 0 ("no quote") read as absent."""
    return value if value is not None and value > 0 else None


def mark_price(spec: SymbolSpec) -> Decimal:
    """The price positions are valued at: last trade, else mid, else any side, else close."""
    bid, ask = quote_side(spec.bid), quote_side(spec.ask)
    if spec.last is not None and spec.last > 0:
        return spec.last
    if bid is not None and ask is not None:
        return (bid + ask) / 2
    for value in (bid, ask, spec.close):
        if value is not None and value > 0:
            return value
    return ZERO


def estimate_price(spec: SymbolSpec, limit: Decimal | None) -> Decimal:
    """The price a buy reserves buying power at: its limit, else the ask, else the mark."""
    if limit is not None:
        return limit
    ask = quote_side(spec.ask)
    return ask if ask is not None else mark_price(spec)


def long_market_value(account: AccountState, symbols: Mapping[str, SymbolSpec]) -> Decimal:
    """Positions valued at their mark prices."""
    return sum((p.quantity * mark_price(symbols[s]) for s, p in account.positions.items()), ZERO)


def equity(account: AccountState, symbols: Mapping[str, SymbolSpec]) -> Decimal:
    """Cash plus positions at mark prices."""
    return account.cash + long_market_value(account, symbols)


def reserved_for_buys(
    account: AccountState, orders: Iterable[SimOrder], symbols: Mapping[str, SymbolSpec]
) -> Decimal:
    """Buying power held by the account's open buy orders."""
    return sum(
        (
            o.remaining * estimate_price(symbols[o.symbol], o.limit_price)
            for o in orders
            if o.account == account.number and o.side == "buy" and o.is_open
        ),
        ZERO,
    )


def held_for_sells(account: AccountState, orders: Iterable[SimOrder], symbol: str) -> int:
    """Shares of ``symbol`` promised to the account's open sell orders."""
    return sum(
        o.remaining
        for o in orders
        if o.account == account.number and o.side == "sell" and o.symbol == symbol and o.is_open
    )


def buying_power(
    account: AccountState, orders: Iterable[SimOrder], symbols: Mapping[str, SymbolSpec]
) -> Decimal:
    """What the account may still spend on buys.

    A cash account: its cash less open buys. A margin account (multiplier 2), Reg T style:
    twice the equity above the 50% initial margin of its positions, less open buys.
    """
    reserved = reserved_for_buys(account, orders, symbols)
    if account.is_cash_account:
        return max(account.cash - reserved, ZERO)
    initial_margin = long_market_value(account, symbols) / 2
    return max((equity(account, symbols) - initial_margin) * account.multiplier - reserved, ZERO)
