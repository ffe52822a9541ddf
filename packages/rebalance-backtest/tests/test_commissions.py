"""Commissions with a real schedule (IBKR Pro fixed: USD 0.005 a share, USD 1.00 minimum, at
most 1 % of the trade value, plus the regulatory fees IB passes on): charged on every fill to
the cent, the schedule the calculator planned with, and the cash they leave."""

from __future__ import annotations

import logging
from datetime import date
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest
from broker_connector_base import AccountConfig, AllocationItem, Trade
from rebalance_backtest import (
    AllocationHistory,
    BacktestBroker,
    BacktestSettings,
    Costs,
    DatedAllocations,
    PriceHistory,
    load_prices,
    run_backtest,
)
from rebalance_backtest.costs import commission_estimator
from rebalance_backtest.history import HistorySource
from rebalance_engine import Rebalancer, StrategyAllocations

CENT = Decimal("0.01")
ACCOUNT = "BACKTEST"
MON = date(2024, 1, 8)
FIXED = AccountConfig(
    account_id=ACCOUNT, type="paper", strategy_name="s", commission_schedule="ibkr_pro_fixed"
)


def ibkr_pro_fixed(quantity: int, price: Decimal) -> Decimal:
    """IB's published fixed schedule for US stocks, written out here (not the package's):
    ``min(max(0.005 q, 1.00), 1 % of value)``, the CAT fee 0.000072 a share, and on sales the
    SEC fee (0.0000278 of value) and FINRA's TAF (0.000166 a share, at most 8.30); the total
    rounded up to the cent."""
    shares = abs(quantity)
    value = shares * price
    total = min(max(Decimal("0.005") * shares, Decimal("1.00")), Decimal("0.01") * value)
    total += Decimal("0.000072") * shares
    if quantity < 0:
        total += Decimal("0.0000278") * value + min(Decimal("0.000166") * shares, Decimal("8.30"))
    return total.quantize(CENT, rounding=ROUND_CEILING)


@pytest.mark.parametrize(
    ("quantity", "price", "commission"),
    [
        (100, "25.00", "1.01"),  # the USD 1.00 minimum + 0.0072 CAT
        (1_000, "25.00", "5.08"),  # 5.00 + 0.072
        (-1_000, "25.00", "5.94"),  # 5.00 + 0.072 + SEC 0.695 + TAF 0.166
        (1, "5.00", "0.06"),  # capped at 1 % of USD 5: 0.05 + 0.000072
        (-60_000, "5.00", "320.96"),  # 300.00 + CAT 4.32 + SEC 8.34 + TAF at its 8.30 cap
    ],
)
async def test_fill_is_charged_ibkr_pro_fixed_to_the_cent(
    quantity: int, price: str, commission: str
) -> None:
    prices = PriceHistory(closes={"AAA": {MON: Decimal(price)}}, source="test prices")
    costs = Costs(commission=commission_estimator(FIXED))
    held = {"AAA": -quantity} if quantity < 0 else {}
    broker = BacktestBroker(prices, cash=Decimal(1_000_000), positions=held, costs=costs)
    await broker.connect()
    broker.open_session(MON)

    await broker.place_order(ACCOUNT, "AAA", quantity)

    [fill] = broker.fills
    assert fill.commission == Decimal(commission) == ibkr_pro_fixed(quantity, Decimal(price))
    value = quantity * Decimal(price)
    assert broker.book.cash == Decimal(1_000_000) - value - Decimal(commission)


def _factor_history(prices: PriceHistory) -> AllocationHistory:
    """Quarterly documents over the factor ETFs: weights rotating through 1..5 fifteenths."""
    symbols = sorted(prices.closes)
    firsts: dict[tuple[int, int], date] = {}
    for day in prices.dates:
        if day.month % 3 == 1:
            firsts.setdefault((day.year, day.month), day)
    documents = []
    for k, day in enumerate(sorted(firsts.values())):
        items = [
            AllocationItem(symbol=s, allocation=Decimal((i + k) % 5 + 1) / 15)
            for i, s in enumerate(symbols)
        ]
        document = StrategyAllocations(
            name="factors", strategy_long_name="factors", last_rebalance_on=str(day),
            allocations=items,
        )  # fmt: skip
        documents.append(DatedAllocations(day, document, f"document {day}"))
    return AllocationHistory("factors", tuple(documents))


def test_backtest_charges_every_fill_the_accounts_schedule_and_cash_adds_up(
    factors_file: Path,
) -> None:
    prices = load_prices(factors_file)
    settings = BacktestSettings(
        strategy="factors",
        account=FIXED.model_copy(update={"drift_band_percent": Decimal("0.5")}),
        half_spread_bps=Decimal(2),
        initial_cash=Decimal(50_000),
    )

    result = run_backtest(settings, prices, _factor_history(prices))

    assert settings.charged_schedule == "ibkr_pro_fixed"
    assert len(result.trades) > 100
    for trade in result.trades:
        assert trade.commission == ibkr_pro_fixed(trade.quantity, trade.price), trade
    assert any(t.commission == Decimal("1.01") for t in result.trades)  # the minimum binds
    paid = sum((t.quantity * t.price + t.commission for t in result.trades), Decimal(0))
    assert result.equity[-1].cash == Decimal(50_000) - paid
    assert result.commissions == sum((t.commission for t in result.trades), Decimal(0))


def test_broker_default_schedule_is_charged_when_the_account_names_none(
    factors_file: Path,
) -> None:
    prices = load_prices(factors_file)
    history = _factor_history(prices)
    account = AccountConfig(account_id=ACCOUNT, type="paper", strategy_name="factors")

    result = run_backtest(
        BacktestSettings(
            strategy="factors", account=account, check="signals", end=date(2015, 6, 30)
        ),
        prices,
        history,
    )

    assert result.settings.charged_schedule == "ibkr_pro_fixed"  # broker: ibkr
    assert [t.commission for t in result.trades] == [
        ibkr_pro_fixed(t.quantity, t.price) for t in result.trades
    ]
    assert all(t.commission >= Decimal("1.00") for t in result.trades if t.quantity * t.price > 100)


async def test_plan_prices_each_order_with_the_schedule_its_fill_is_charged(
    factors_file: Path,
) -> None:
    prices = load_prices(factors_file)
    history = _factor_history(prices)
    broker = BacktestBroker(
        prices,
        cash=Decimal(30_000),
        account_id=ACCOUNT,
        costs=Costs(half_spread_bps=Decimal(3), commission=commission_estimator(FIXED)),
    )
    await broker.connect()
    source = HistorySource(history)
    planned: dict[str, Trade] = {}

    def remember(trade: Trade) -> None:
        if trade.order_id is not None:  # acknowledged (the intent has no id yet)
            planned.setdefault(trade.order_id, trade)

    rebalancer = Rebalancer(
        broker,
        logging.getLogger(__name__),
        allocation_source=source,
        on_order=remember,
        fill_timeout_secs=0.0,
        cancel_timeout_secs=0.0,
        settle_timeout_secs=0.0,
    )
    account = AccountConfig.model_validate(
        {**FIXED.model_dump(exclude={"strategies", "strategy_name"}), "strategy_name": "factors"}
    )
    for dated in history.documents[:3]:
        broker.open_session(dated.day)
        source.current = dated
        result = await rebalancer.rebalance_account(account)
        assert result.success, result.error
        broker.close_session()

    by_order = {f.order_id: f for f in broker.fills}
    assert len(by_order) == len(broker.fills) > 10
    for order_id, fill in by_order.items():
        estimate = planned[order_id].estimated_commission
        assert estimate is not None
        if fill.quantity < 0:
            assert estimate == fill.commission, fill  # a sale is planned at the bid it gets
        else:
            # A buy is planned at ask * 1.005 and fills at the ask: only the 1 % cap and the
            # rounding can make the plan's estimate the higher.
            assert fill.commission <= estimate <= fill.commission + CENT, fill
