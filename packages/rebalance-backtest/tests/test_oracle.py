"""Correctness oracles on real ETF closes (skfolio's factor ETFs, 2014-2022), costs off.

1. A plain simulation written here, independent of the package: the file read with ``csv``,
   each trade applied at that day's close, cash and shares summed. Every day its equity must
   equal the backtest's to the cent, every fill must be at the close, cash never negative,
   and after every document's session each holding must be within one share (plus the
   engine's 0.5 % buy buffer) of its target.
2. ``bt`` (PyPI ``bt``), another engine's accounting: the same share quantities traded on the
   same days through ``StrategyBase.transact``; its daily values must equal ours to the cent.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from broker_connector_base import AccountConfig
from rebalance_backtest.history import load_allocations
from rebalance_backtest.prices import load_prices
from rebalance_backtest.results import BacktestResult, BacktestSettings
from rebalance_backtest.runner import run_backtest

CENT = Decimal("0.01")
Closes = dict[date, dict[str, Decimal]]
Documents = dict[date, dict[str, Decimal]]
OracleRun = tuple[BacktestResult, Closes, Documents]


def _closes(path: Path) -> Closes:
    with gzip.open(path, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    symbols = rows[0][1:]
    return {
        date.fromisoformat(row[0]): {s: Decimal(v) for s, v in zip(symbols, row[1:], strict=True)}
        for row in rows[1:]
    }


def _monthly_weights(closes: Closes) -> Iterator[tuple[date, dict[str, Decimal]]]:
    """A document on each month's first session, weights rotating through 1..5 fifteenths."""
    firsts: dict[tuple[int, int], date] = {}
    for day in sorted(closes):
        firsts.setdefault((day.year, day.month), day)
    symbols = sorted(next(iter(closes.values())))
    for k, day in enumerate(sorted(firsts.values())):
        yield day, {s: Decimal((i + k) % 5 + 1) / 15 for i, s in enumerate(symbols)}


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory: pytest.TempPathFactory) -> OracleRun:
    factors = Path(__file__).parents[2] / "portfolio-analytics/tests/data/factors_dataset.csv.gz"
    closes = _closes(factors)
    documents = dict(_monthly_weights(closes))
    allocations = tmp_path_factory.mktemp("oracle") / "factors.csv"
    lines = ["date,symbol,weight"]
    for day, weights in documents.items():
        lines += [f"{day},{s},{w:.6f}" for s, w in weights.items()]
    allocations.write_text("\n".join(lines) + "\n")
    settings = BacktestSettings(
        strategy="factors",
        account=AccountConfig(
            account_id="ORACLE", type="paper", strategy_name="factors", commission_schedule="zero"
        ),
        check="signals",
    )
    result = run_backtest(settings, load_prices(factors), load_allocations(allocations, "factors"))
    return result, closes, documents


def test_equity_curve_equals_a_plain_simulation_to_the_cent(oracle_run: OracleRun) -> None:
    result, closes, _ = oracle_run
    by_day: dict[date, list[Any]] = {}
    for trade in result.trades:
        by_day.setdefault(trade.day, []).append(trade)
    cash, shares = Decimal(100_000), dict[str, int]()
    days = [p.day for p in result.equity]
    assert days == [d for d in sorted(closes) if d >= days[0]]
    for point in result.equity:
        for trade in by_day.pop(point.day, []):
            assert trade.price == closes[point.day][trade.symbol], trade
            assert trade.commission == 0
            cash -= trade.quantity * closes[point.day][trade.symbol]
            shares[trade.symbol] = shares.get(trade.symbol, 0) + trade.quantity
            assert shares[trade.symbol] >= 0, trade
        assert cash >= 0, point
        equity = cash + sum(q * closes[point.day][s] for s, q in shares.items())
        assert point.equity.quantize(CENT) == equity.quantize(CENT), point.day
        assert point.cash == cash
    assert by_day == {}
    assert len(result.trades) > 400
    assert result.runs == 108


def test_each_document_session_ends_on_its_targets(oracle_run: OracleRun) -> None:
    result, closes, documents = oracle_run
    held = {p.day: p.shares for p in result.positions}
    equity = {p.day: p.equity for p in result.equity}
    for day, weights in documents.items():
        shares = held[day]
        investable = equity[day] * Decimal("0.99")  # the default 1 % cash reserve
        for symbol, weight in weights.items():
            price = closes[day][symbol]
            target = investable * weight
            value = shares.get(symbol, 0) * price
            assert abs(value - target) <= target * Decimal("0.006") + price, (day, symbol)


def test_bt_replaying_the_same_trades_values_the_account_the_same_to_the_cent(
    oracle_run: OracleRun,
) -> None:
    bt: Any = pytest.importorskip("bt")
    pd: Any = pytest.importorskip("pandas")
    result, closes, _ = oracle_run
    days = [p.day for p in result.equity]
    symbols = sorted(next(iter(closes.values())))
    data = pd.DataFrame(
        [[float(closes[d][s]) for s in symbols] for d in days],
        index=pd.DatetimeIndex([pd.Timestamp(d) for d in days]),
        columns=symbols,
    )
    trades: dict[object, list[Any]] = {}
    for trade in result.trades:
        trades.setdefault(pd.Timestamp(trade.day), []).append(trade)

    class ReplayTrades(bt.Algo):  # type: ignore[misc]
        def __call__(self, target: Any) -> bool:
            for trade in trades.get(target.now, []):
                target.transact(trade.quantity, child=trade.symbol)
            return True

    strategy = bt.Strategy("replay", [ReplayTrades()])
    backtest = bt.Backtest(strategy, data, initial_capital=100_000.0, progress_bar=False)
    bt.run(backtest)
    values = backtest.strategy.values
    for point in result.equity:
        assert abs(float(point.equity) - values.loc[pd.Timestamp(point.day)]) < 0.005, point.day
