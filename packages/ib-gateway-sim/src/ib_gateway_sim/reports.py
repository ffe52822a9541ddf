"""Account values, account summary tags and portfolio rows computed from engine state."""

from __future__ import annotations

from decimal import Decimal

from ib_gateway_sim.engine import Engine
from ib_gateway_sim.state import mark_price

CENT = Decimal("0.01")

SUMMARY_TAGS = (
    "AccountType",
    "NetLiquidation",
    "TotalCashValue",
    "SettledCash",
    "AccruedCash",
    "BuyingPower",
    "EquityWithLoanValue",
    "GrossPositionValue",
    "AvailableFunds",
    "ExcessLiquidity",
    "InitMarginReq",
    "MaintMarginReq",
    "FullAvailableFunds",
    "FullExcessLiquidity",
    "Cushion",
    "Leverage",
)


def account_values(engine: Engine, name: str) -> list[tuple[str, str, str]]:
    """(tag, value, currency) rows as reqAccountUpdates/accountSummary report them."""
    account = engine.accounts[name]
    currency = account.currency
    positions = account.position_value(engine.symbols)
    gross = account.gross_position_value(engine.symbols)
    net_liq = account.cash + positions
    available = max(engine.available_funds(account), Decimal(0))
    buying_power = available * 2 if account.account_type == "margin" else available
    money = {
        "NetLiquidation": net_liq,
        "TotalCashValue": account.cash,
        "SettledCash": account.settled_cash,
        "AccruedCash": Decimal(0),
        "BuyingPower": buying_power,
        "EquityWithLoanValue": net_liq,
        "GrossPositionValue": gross,
        "AvailableFunds": available,
        "ExcessLiquidity": available,
        "InitMarginReq": Decimal(0),
        "MaintMarginReq": Decimal(0),
        "FullAvailableFunds": available,
        "FullExcessLiquidity": available,
        "StockMarketValue": positions,
    }
    rows = [("AccountCode", name, ""), ("AccountType", account.account_type.upper(), "")]
    rows += [(tag, _money(value), currency) for tag, value in money.items()]
    cushion = available / net_liq if net_liq > 0 else Decimal(0)
    leverage = gross / net_liq if net_liq > 0 else Decimal(0)
    rows += [("Cushion", _ratio(cushion), ""), ("Leverage", _ratio(leverage), "")]
    rows += [
        ("CashBalance", _money(account.cash), currency),
        ("CashBalance", _money(account.cash), "BASE"),
        ("TotalCashBalance", _money(account.cash), "BASE"),
        ("Currency", currency, currency),
    ]
    return rows


def summary_rows(engine: Engine, name: str, tags: set[str]) -> list[tuple[str, str, str]]:
    """The accountSummary subset for the requested tags (all known ones if ``tags`` is empty)."""
    wanted = tags or set(SUMMARY_TAGS)
    return [
        row
        for row in account_values(engine, name)
        if row[0] in wanted and row[0] in SUMMARY_TAGS and row[2] != "BASE"
    ]


def portfolio_rows(engine: Engine, name: str) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(symbol, market price, avg cost, realized) for every position of an account."""
    account = engine.accounts[name]
    return [
        (symbol, mark_price(engine.symbols[symbol]), p.avg_cost, p.realized_pnl)
        for symbol, p in sorted(account.positions.items())
    ]


def _money(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


def _ratio(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.000001")), "f")
