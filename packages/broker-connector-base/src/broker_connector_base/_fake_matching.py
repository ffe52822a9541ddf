"""Fill prices, cash-account rules and executions of the in-memory fake broker."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from broker_connector_base._fake_state import AccountState, OrderState
from broker_connector_base.models import ContractPrice, OrderStatus

__all__ = [
    "cash_rule_violation",
    "execute",
    "fill_price",
    "fill_violation",
    "market_side",
]


def market_side(quote: ContractPrice, quantity: int) -> Decimal | None:
    """The price an order meets: the ask for a buy, the bid for a sell (``None``: no quote)."""
    price = quote.ask if quantity > 0 else quote.bid
    return price if price else None


def fill_price(quote: ContractPrice, order: OrderState) -> Decimal | None:
    """The price the order fills at now in continuous trading, or ``None`` when it does not.

    Market and limit orders meet the far side; a MIDPRICE order needs a two-sided quote and
    fills at its midpoint; a market-on-close order waits for ``FakeExchange.close_auction``.
    A limit (or a MIDPRICE cap) bounds the price either way.
    """
    if order.order_type == "MOC":
        return None
    if order.order_type == "MIDPRICE":
        price = (quote.bid + quote.ask) / 2 if quote.bid and quote.ask else None
    else:
        price = market_side(quote, order.quantity)
    if price is None or order.limit_price is None:
        return price
    marketable = price <= order.limit_price if order.quantity > 0 else price >= order.limit_price
    return price if marketable else None


def cash_rule_violation(
    account: AccountState,
    order: OrderState,
    others: Iterable[OrderState],
    *,
    commission: Decimal,
    settled_only: bool,
) -> str | None:
    """Why a cash account may not take ``order``, or ``None`` when it may.

    Buys are priced at ``order.reserve_price`` (the limit, or the ask when placed). Working
    orders of the same account (``others``) reserve their cash and shares, as a
    broker's buying-power check does.
    """
    working = [
        o
        for o in others
        if o.account_id == order.account_id and not o.status.is_final and o is not order
    ]
    if order.quantity < 0:
        held = account.positions.get(order.symbol, Decimal(0))
        reserved = sum(-o.remaining for o in working if o.symbol == order.symbol and o.quantity < 0)
        if -order.quantity > held - reserved:
            return (
                f"selling {-order.quantity} {order.symbol} exceeds the {held - reserved} shares "
                "held and not already being sold (a cash account cannot sell short)"
            )
        return None
    price = order.reserve_price
    if price is None:
        return f"no ask for {order.symbol} to price a market buy"
    available = account.settled_cash if settled_only else account.cash
    reserved_cash = sum(
        (_reserved(o, commission) for o in working if o.quantity > 0), start=Decimal(0)
    )
    needed = order.quantity * price + commission
    if needed > available - reserved_cash:
        kind = "settled cash" if settled_only else "cash"
        return (
            f"buying {order.quantity} {order.symbol} needs {needed} but only "
            f"{available - reserved_cash} {kind} is available (a cash account cannot borrow)"
        )
    return None


def _reserved(order: OrderState, commission: Decimal) -> Decimal:
    price = order.reserve_price if order.reserve_price is not None else Decimal(0)
    fee = Decimal(0) if order.commission_charged else commission
    return order.remaining * price + fee


def fill_violation(
    account: AccountState,
    order: OrderState,
    shares: int,
    price: Decimal,
    *,
    commission: Decimal,
    settled_only: bool,
) -> str | None:
    """Why a fill of ``shares`` at ``price`` would break the cash-account rules, or ``None``."""
    if order.quantity < 0:
        held = account.positions.get(order.symbol, Decimal(0))
        if shares > held:
            return f"selling {shares} {order.symbol} exceeds the {held} shares held"
        return None
    fee = Decimal(0) if order.commission_charged else commission
    available = account.settled_cash if settled_only else account.cash
    if shares * price + fee > available:
        return f"buying {shares} {order.symbol} at {price} needs more than the {available} cash"
    return None


def execute(
    account: AccountState, order: OrderState, shares: int, price: Decimal, *, commission: Decimal
) -> None:
    """Apply a fill of ``shares`` (unsigned) at ``price`` to the account and the order."""
    signed = shares if order.quantity > 0 else -shares
    fee = Decimal(0) if order.commission_charged else commission
    order.commission_charged = True
    order.commission += fee
    value = shares * price
    held = account.positions.get(order.symbol, Decimal(0))
    if signed > 0:
        old_cost = account.avg_costs.get(order.symbol)
        if held <= 0:
            account.avg_costs[order.symbol] = price
        elif old_cost is not None:
            account.avg_costs[order.symbol] = (held * old_cost + value) / (held + shares)
        account.cash -= value + fee
        # Buys spend settled cash first; what they take beyond it was unsettled.
        account.settled_cash = max(account.settled_cash - value - fee, Decimal(0))
    else:
        # Sale proceeds are cash at once but settle later (``InMemoryBroker.settle``).
        account.cash += value - fee
    new_held = held + signed
    if new_held == 0:
        account.positions.pop(order.symbol, None)
        account.avg_costs.pop(order.symbol, None)
    else:
        account.positions[order.symbol] = new_held
    order.filled += signed
    order.fill_value += value
    if order.remaining == 0:
        order.finish(OrderStatus.FILLED)
