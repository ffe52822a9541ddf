"""JSON bodies in the shapes Alpaca sends and alpaca-py's models parse.

Trading API money and quantities are strings (``"589.12"``), as Alpaca sends them; market
data prices are JSON numbers. Only fields alpaca-py's models declare are sent, so a typo here
fails the stand-in's tests instead of being silently ignored by the SDK.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from alpaca_api_sim.clock import NEW_YORK, MarketClock
from alpaca_api_sim.scenario import SymbolSpec
from alpaca_api_sim.state import AccountState, SimOrder, asset_id
from alpaca_api_sim.valuation import (
    buying_power,
    equity,
    long_market_value,
    mark_price,
    quote_side,
)

__all__ = [
    "account_body",
    "calendar_body",
    "clock_body",
    "money",
    "order_body",
    "position_body",
    "quote_body",
    "timestamp",
    "trade_body",
]

ZERO = Decimal(0)
_TAPES = {"NYSE": "A", "AMEX": "B", "ARCA": "B", "NYSEARCA": "B", "BATS": "B", "NASDAQ": "C"}
_SUB_CENT = Decimal("0.000001")


def money(value: Decimal) -> str:
    """A decimal as Alpaca writes it: plain notation, no exponent, no float artefacts."""
    text = format(value.quantize(_SUB_CENT).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else money(value)


def timestamp(moment: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, as the trading API sends times."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _ratio(numerator: Decimal, denominator: Decimal) -> str:
    return money(numerator / denominator) if denominator else "0"


def account_body(
    account: AccountState, orders: Iterable[SimOrder], symbols: Mapping[str, SymbolSpec]
) -> dict[str, Any]:
    """``GET /v2/account``."""
    orders = list(orders)
    long_value = long_market_value(account, symbols)
    total = equity(account, symbols)
    power = buying_power(account, orders, symbols)
    margin = long_value / 2 if not account.is_cash_account else ZERO
    return {
        "id": account.id,
        "account_number": account.number,
        "status": account.status,
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "buying_power": money(power),
        "regt_buying_power": money(power),
        "daytrading_buying_power": "0",
        "non_marginable_buying_power": money(min(power, max(account.cash, ZERO))),
        "options_buying_power": money(max(account.cash, ZERO)),
        "cash": money(account.cash),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "pending_transfer_out": "0",
        "portfolio_value": money(total),
        "pattern_day_trader": account.pattern_day_trader,
        "trading_blocked": account.trading_blocked,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": timestamp(account.created_at),
        "trade_suspended_by_user": False,
        "multiplier": str(account.multiplier),
        "shorting_enabled": not account.is_cash_account,
        "equity": money(total),
        "last_equity": money(account.last_equity),
        "long_market_value": money(long_value),
        "short_market_value": "0",
        "initial_margin": money(margin),
        "maintenance_margin": money(margin / 2),
        "last_maintenance_margin": "0",
        "sma": "0",
        "daytrade_count": account.daytrade_count,
        "options_approved_level": 0,
        "options_trading_level": 0,
    }


def position_body(account: AccountState, symbol: str, spec: SymbolSpec) -> dict[str, Any]:
    """One entry of ``GET /v2/positions``."""
    position = account.positions[symbol]
    price = mark_price(spec)
    quantity = Decimal(position.quantity)
    value = quantity * price
    cost = quantity * position.avg_entry_price
    lastday = spec.close if spec.close is not None else price
    return {
        "asset_id": asset_id(symbol),
        "symbol": symbol,
        "exchange": spec.exchange,
        "asset_class": "us_equity",
        "asset_marginable": True,
        "qty": money(quantity),
        "qty_available": money(quantity),
        "avg_entry_price": money(position.avg_entry_price),
        "side": "long",
        "market_value": money(value),
        "cost_basis": money(cost),
        "unrealized_pl": money(value - cost),
        "unrealized_plpc": _ratio(value - cost, cost),
        "unrealized_intraday_pl": money(quantity * (price - lastday)),
        "unrealized_intraday_plpc": _ratio(price - lastday, lastday),
        "current_price": money(price),
        "lastday_price": money(lastday),
        "change_today": _ratio(price - lastday, lastday),
    }


def order_body(order: SimOrder, exchange_day_end: dt.datetime | None = None) -> dict[str, Any]:
    """One order as ``/v2/orders`` answers it."""
    return {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": timestamp(order.created_at),
        "updated_at": timestamp(order.updated_at or order.created_at),
        "submitted_at": timestamp(order.created_at),
        "filled_at": timestamp(order.filled_at),
        "expired_at": timestamp(order.expired_at),
        "expires_at": (
            timestamp(exchange_day_end) if order.time_in_force in ("day", "cls") else None
        ),
        "canceled_at": timestamp(order.canceled_at),
        "failed_at": timestamp(order.failed_at),
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": asset_id(order.symbol),
        "symbol": order.symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": str(order.qty),
        "filled_qty": str(order.filled_qty),
        "filled_avg_price": _opt(order.filled_avg_price),
        "order_class": "simple",
        "order_type": order.type,
        "type": order.type,
        "side": order.side,
        "position_intent": "buy_to_open" if order.side == "buy" else "sell_to_close",
        "time_in_force": order.time_in_force,
        "limit_price": _opt(order.limit_price),
        "stop_price": None,
        "status": order.status,
        "extended_hours": order.extended_hours,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
    }


def clock_body(clock: MarketClock) -> dict[str, Any]:
    """``GET /v2/clock``: times in New York with their offset, as Alpaca sends them."""
    return {
        "timestamp": clock.now().astimezone(NEW_YORK).isoformat(),
        "is_open": clock.is_open(),
        "next_open": clock.next_open().astimezone(NEW_YORK).isoformat(),
        "next_close": clock.next_close().astimezone(NEW_YORK).isoformat(),
    }


def calendar_body(clock: MarketClock, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """``GET /v2/calendar``: one entry per trading day, wall-clock ``HH:MM`` in New York."""
    days = []
    for day, (open_at, close_at) in clock.sessions(start, end):
        close_local = close_at.astimezone(NEW_YORK)
        # An always-open day ends at midnight, which "HH:MM" cannot say: 23:59 stands for it.
        close_text = "23:59" if close_local.date() != day else close_local.strftime("%H:%M")
        days.append(
            {
                "date": day.isoformat(),
                "open": open_at.astimezone(NEW_YORK).strftime("%H:%M"),
                "close": close_text,
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": (day + dt.timedelta(days=1)).isoformat(),
            }
        )
    return days


def _number(value: Decimal | None) -> float:
    # Market data prices are JSON numbers; a two-decimal price survives float() exactly in
    # its shortest repr, which is what json writes.
    return float(value) if value is not None else 0.0


def quote_body(spec: SymbolSpec, now: dt.datetime, no_quote: bool) -> dict[str, Any]:
    """One symbol of ``GET /v2/stocks/quotes/latest`` (0 for a side without a quote)."""
    bid = None if no_quote else quote_side(spec.bid)
    ask = None if no_quote else quote_side(spec.ask)
    return {
        "t": timestamp(now),
        "bx": "V" if bid is not None else "",
        "bp": _number(bid),
        "bs": spec.bid_size if bid is not None else 0,
        "ax": "V" if ask is not None else "",
        "ap": _number(ask),
        "as": spec.ask_size if ask is not None else 0,
        "c": ["R"],
        "z": _TAPES.get(spec.exchange, "B"),
    }


def trade_body(spec: SymbolSpec, now: dt.datetime, trade_id: int) -> dict[str, Any] | None:
    """One symbol of ``GET /v2/stocks/trades/latest``, ``None`` when it never traded."""
    price = spec.last if spec.last is not None and spec.last > 0 else None
    if price is None:
        return None
    return {
        "t": timestamp(now),
        "x": "V",
        "p": _number(price),
        "s": 100,
        "c": ["@"],
        "i": trade_id,
        "z": _TAPES.get(spec.exchange, "B"),
    }
