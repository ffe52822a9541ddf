"""Backtests through the engine that trades: a ``BacktestBroker`` over daily bars, and a runner
that replays a strategy's allocation history through ``rebalance_engine.Rebalancer``.

Prices come from a CSV (``load_prices``) or daily bars (``PriceHistory.from_bars``);
allocations from dated documents or a CSV (``load_allocations``); ``run_backtest`` returns a
``BacktestResult`` (equity curve, trades, positions, ``portfolio_analytics`` metrics) that
``BacktestStore`` keeps in SQLite under ``{strategy}_{YYYYMMDD}_{description}``.
"""

from rebalance_backtest import report
from rebalance_backtest.broker import BacktestBroker, FillAt
from rebalance_backtest.costs import CommissionEstimator, Costs
from rebalance_backtest.history import (
    AllocationHistory,
    DatedAllocations,
    HistorySource,
    load_allocations,
)
from rebalance_backtest.prices import PriceHistory, load_prices
from rebalance_backtest.results import (
    BacktestResult,
    BacktestSettings,
    BacktestTrade,
    EquityPoint,
    PositionsOn,
    backtest_name,
)
from rebalance_backtest.runner import run_backtest, run_backtest_async
from rebalance_backtest.store import BACKTESTS_FILE, BacktestStore, StoredBacktest

__version__ = "1.0.0"

__all__ = [
    "BACKTESTS_FILE",
    "AllocationHistory",
    "BacktestBroker",
    "BacktestResult",
    "BacktestSettings",
    "BacktestStore",
    "BacktestTrade",
    "CommissionEstimator",
    "Costs",
    "DatedAllocations",
    "EquityPoint",
    "FillAt",
    "HistorySource",
    "PositionsOn",
    "PriceHistory",
    "StoredBacktest",
    "__version__",
    "backtest_name",
    "load_allocations",
    "load_prices",
    "report",
    "run_backtest",
    "run_backtest_async",
]
