"""Account snapshot building for ``IBKRClient``: which positions count and how they are valued.

Pure functions: the client fetches the account summary, the positions and the quotes; these
pick the stock positions of the account and turn all three into an ``AccountSnapshot``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from broker_connector_base import AccountPosition, AccountSnapshot, BrokerAPIError, ContractPrice
from ib_async import Position

from ibkr_connector.translation import ib_price

__all__ = ["build_snapshot", "stock_positions", "valuation_price"]


def stock_positions(
    positions: Sequence[Position], account_id: str
) -> tuple[dict[str, Position], list[str]]:
    """Non-zero stock positions of ``account_id`` by symbol, and descriptions of the rest.

    Raises:
        BrokerAPIError: Two positions are securities with the same ticker (a plan keyed by
            symbol would merge them).
    """
    mine = [p for p in positions if p.account == account_id and p.position != 0]
    # Stocks and ETFs only: an option's contract carries its underlying's symbol and
    # would be mistaken for (and priced as) the shares.
    held: dict[str, Position] = {}
    for position in (p for p in mine if p.contract.secType == "STK"):
        symbol = position.contract.symbol.upper()
        other = held.setdefault(symbol, position)
        if other is not position:
            raise BrokerAPIError(
                f"account {account_id} holds two securities with ticker {symbol} (conids "
                f"{other.contract.conId} and {position.contract.conId}); the rebalancer keys "
                "positions by ticker and cannot trade this account"
            )
    others = [
        f"{p.contract.localSymbol or p.contract.symbol} ({p.contract.secType})"
        for p in mine
        if p.contract.secType != "STK"
    ]
    return held, others


def build_snapshot(
    account_id: str,
    balances: Mapping[str, Decimal],
    held: Mapping[str, Position],
    prices: Sequence[ContractPrice],
) -> AccountSnapshot:
    """The snapshot of ``account_id``: ``held`` valued at ``prices``, cash from ``balances``.

    Raises:
        BrokerAPIError: IB reported no TotalCashValue, or a quote has no usable price.
    """
    snapshot_positions = []
    for price in prices:
        p = held[price.symbol]
        quantity = Decimal(repr(float(p.position)))
        mark = valuation_price(price)
        snapshot_positions.append(
            AccountPosition(
                symbol=price.symbol,
                quantity=quantity,
                market_price=mark,
                market_value=quantity * mark,
                avg_cost=ib_price(p.avgCost),
            )
        )
    cash = balances.get("TotalCashValue")
    if cash is None:
        raise BrokerAPIError(f"IB reported no TotalCashValue for account {account_id}")
    # Total value from the same marks as the positions, so targets and holdings agree.
    total = cash + sum((p.market_value for p in snapshot_positions), Decimal(0))
    return AccountSnapshot(
        account_id=account_id,
        total_value=total,
        cash_balance=cash,
        settled_cash=balances.get("SettledCash", cash),
        positions=snapshot_positions,
    )


def valuation_price(price: ContractPrice) -> Decimal:
    """The mark a position is valued at: mid of bid/ask, else last, else close."""
    if price.bid is not None and price.ask is not None:
        return (price.bid + price.ask) / 2
    for value in (price.last, price.close, price.bid, price.ask):
        if value is not None:
            return value
    raise BrokerAPIError(f"no usable price for {price.symbol}")
