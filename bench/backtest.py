"""Benchmark of ``rebalance_backtest``: one backtest, a sweep of 64 settings, and bt alongside.

Run from the repository root with the project venv::

    .venv/bin/python bench/backtest.py             # best of 5 rounds, then the sweep
    .venv/bin/python bench/backtest.py --rounds 1 --no-sweep

Data: 10 years of NYSE sessions (2015-2024), 12 symbols, fixed-seed random-walk closes to the
cent; a new allocation document on each month's first session (120 documents, weights rotating
over the 12 symbols); the engine checks the account every session (daily preview), half spread
1 bps, $1,000,000 of cash. Two settings:

* ``band 2 %, no commission``: the first figures' settings (kept to compare with them);
* ``band 0.5 %, IBKR Pro fixed``: what the repository's ``accounts.yaml`` account runs with
  (drift band 0.5 %, an ``ibkr`` account's default commissions): the realistic one.

Figures (wall time and CPU time of this process, best of ``--rounds``, median in brackets; the
rounds of ours and bt's take turns, so that both meet the shared machine's load alike):

* one backtest through ``run_backtest`` (the daemon's Rebalancer and calculator, every
  session), prices and allocations already loaded, for each setting;
* a sweep of 64 settings (drift band x cash reserve x minimum trade x half spread, no
  commission: the first figures' grid), one process per core (``ProcessPoolExecutor``), and
  the same per backtest;
* bt (PyPI ``bt``, a test-only dependency; the baseline) doing the same backtest on the same
  data: the same weights on the same days, integer shares, and between documents a rebalance
  whenever a weight drifts more than the band (``RunIfOutOfBounds``), charged IBKR Pro fixed's
  commission (USD 0.005 a share, USD 1 minimum, 1 % cap) in the realistic setting. bt is its
  own engine with its own order logic, so its figures and ours differ a little; the ratio
  compares time.

Targets: one backtest <= 2 s, faster than bt. The machine is shared: the load average is
printed, figures move with it (the CPU times less). It prints figures; it never fails on them.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any

from broker_connector_base import AccountConfig, AllocationItem
from rebalance_backtest import (
    AllocationHistory,
    BacktestResult,
    BacktestSettings,
    DatedAllocations,
    PriceHistory,
    run_backtest,
)
from rebalance_backtest.calendar import sessions
from rebalance_engine import StrategyAllocations

SYMBOLS = [f"ETF{i:02d}" for i in range(12)]
STRATEGY = "bench"


def _prices() -> PriceHistory:
    days = list(sessions(date(2015, 1, 2), date(2024, 12, 31)))
    closes: dict[str, dict[date, Decimal]] = {}
    for n, symbol in enumerate(SYMBOLS):
        price = Decimal(20 + 15 * n)
        series = {}
        for day in days:
            digest = hashlib.blake2b(f"{symbol}{day}".encode(), digest_size=2).digest()
            move = Decimal(int.from_bytes(digest) - 32768) / Decimal(2_000_000)  # about 1 %
            price = (price * (1 + move + Decimal("0.0002"))).quantize(Decimal("0.01"))
            price = max(price, Decimal(1))
            series[day] = price
        closes[symbol] = series
    return PriceHistory(closes=closes, source="bench random walk")


def _history(prices: PriceHistory) -> AllocationHistory:
    firsts: dict[tuple[int, int], date] = {}
    for day in prices.dates:
        firsts.setdefault((day.year, day.month), day)
    documents = []
    for k, day in enumerate(sorted(firsts.values())):
        raw = [Decimal((i + k) % 12 + 1) for i in range(12)]
        weights = [w / sum(raw) for w in raw]
        weights[0] += 1 - sum(weights)
        items = [
            AllocationItem(symbol=s, allocation=w) for s, w in zip(SYMBOLS, weights, strict=True)
        ]
        document = StrategyAllocations(
            name=STRATEGY,
            strategy_long_name=STRATEGY,
            last_rebalance_on=str(day),
            allocations=items,
        )
        documents.append(DatedAllocations(day, document, f"bench document {day}"))
    return AllocationHistory(STRATEGY, tuple(documents))


def _settings(
    drift: str = "2", reserve: str = "1", minimum: str = "0", bps: str = "1", schedule: str = "zero"
) -> BacktestSettings:
    account = AccountConfig.model_validate(
        {
            "account_id": "BENCH",
            "type": "paper",
            "strategy_name": STRATEGY,
            "cash_reserve_percent": Decimal(reserve),
            "drift_band_percent": Decimal(drift),
            "min_trade_value": Decimal(minimum),
            "commission_schedule": schedule,
        }
    )
    return BacktestSettings(
        strategy=STRATEGY,
        account=account,
        initial_cash=Decimal(1_000_000),
        half_spread_bps=Decimal(bps),
    )


SETTINGS = {
    "band 2 %, no commission": _settings(),
    "band 0.5 %, IBKR Pro fixed": _settings(drift="0.5", schedule="ibkr_pro_fixed"),
}
BT_COMMISSIONS = {"band 2 %, no commission": False, "band 0.5 %, IBKR Pro fixed": True}

GRID = [
    _settings(*values)
    for values in itertools.product(
        ("0.5", "1", "2", "5"), ("0", "2"), ("0", "1000"), ("0", "2", "5", "10")
    )
]

_DATA: tuple[PriceHistory, AllocationHistory] | None = None


def _data() -> tuple[PriceHistory, AllocationHistory]:
    global _DATA
    if _DATA is None:
        prices = _prices()
        _DATA = (prices, _history(prices))
    return _DATA


def _one(settings: BacktestSettings) -> tuple[Decimal, float]:
    """One backtest of the sweep: its final equity and the CPU time it took its process."""
    prices, history = _data()
    cpu = time.process_time()
    result = run_backtest(settings, prices, history)
    return result.final_equity, time.process_time() - cpu


class _Times:
    """Wall and CPU times of repeated calls: the best, and the median wall time."""

    def __init__(self) -> None:
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def time(self, function: Callable[[], Any]) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        value = function()
        self.walls.append(time.perf_counter() - started)
        self.cpus.append(time.process_time() - cpu)
        return value

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return min(self.cpus)


def _ibkr_fixed(quantity: float, price: float) -> float:
    """IBKR Pro fixed for bt (floats: bt's own arithmetic): 0.005 a share, 1 minimum, 1 % cap."""
    shares = abs(quantity)
    return 0.0 if shares == 0 else min(max(0.005 * shares, 1.0), 0.01 * shares * price)


def _bt_backtest(
    prices: PriceHistory, history: AllocationHistory, band: float, commissions: bool
) -> Callable[[], float]:
    bt: Any = importlib.import_module("bt")
    pd: Any = importlib.import_module("pandas")
    days = list(prices.dates)
    data = pd.DataFrame(
        {s: [float(prices.closes[s][d]) for d in days] for s in SYMBOLS},
        index=pd.DatetimeIndex([pd.Timestamp(d) for d in days]),
    )
    weights = pd.DataFrame(
        [[float(i.allocation) for i in d.document.allocations] for d in history.documents],
        index=pd.DatetimeIndex([pd.Timestamp(d.day) for d in history.documents]),
        columns=SYMBOLS,
    ).reindex(data.index, method="ffill")

    def run() -> float:
        strategy = bt.Strategy(
            STRATEGY,
            [
                bt.algos.Or(
                    [
                        bt.algos.RunOnDate(*[pd.Timestamp(d.day) for d in history.documents]),
                        bt.algos.RunIfOutOfBounds(band),
                    ]
                ),
                bt.algos.WeighTarget(weights),
                bt.algos.Rebalance(),
            ],
        )
        backtest = bt.Backtest(
            strategy,
            data,
            initial_capital=1_000_000.0,
            commissions=_ibkr_fixed if commissions else None,
            progress_bar=False,
        )
        result = bt.run(backtest)
        return float(result.backtests[STRATEGY].strategy.values.iloc[-1])

    return run


def _one_backtest(name: str, settings: BacktestSettings, rounds: int) -> None:
    """Ours and bt's backtest of ``settings``, their rounds taking turns so both meet the
    machine's load alike."""
    prices, history = _data()
    try:
        band = float(settings.account.drift_band_percent) / 100
        bt_run: Callable[[], float] | None = _bt_backtest(
            prices, history, band, BT_COMMISSIONS[name]
        )
    except ImportError:
        bt_run = None
    ours, theirs = _Times(), _Times()
    result, bt_final = None, 0.0
    for _ in range(rounds):
        result = ours.time(lambda: run_backtest(settings, prices, history))
        if bt_run is not None:
            bt_final = theirs.time(bt_run)
    assert isinstance(result, BacktestResult)
    print(
        f"{name}: one backtest {ours.best:.2f} s ({ours.median:.2f}), CPU {ours.cpu:.2f} s; "
        f"{result.runs} rebalances, {result.checks} checks, {len(result.trades)} trades, "
        f"commissions {result.commissions:,.2f}, final equity {result.final_equity:,.2f}"
    )
    if bt_run is None:
        print("  bt: not installed (pip install bt); no baseline")
        return
    print(
        f"  bt, the same backtest: {theirs.best:.2f} s ({theirs.median:.2f}), CPU "
        f"{theirs.cpu:.2f} s; final equity {bt_final:,.2f}; ratio ours / bt: "
        f"{ours.best / theirs.best:.2f} (CPU {ours.cpu / theirs.cpu:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each one backtest")
    parser.add_argument("--no-sweep", action="store_true", help="the one backtests only")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    started = time.perf_counter()
    prices, history = _data()
    print(
        f"data: {len(prices.dates)} sessions x {len(SYMBOLS)} symbols, {len(history.documents)} "
        f"documents (built in {time.perf_counter() - started:.2f} s)"
    )
    for name, settings in SETTINGS.items():
        _one_backtest(name, settings, args.rounds)
    if not args.no_sweep:
        _sweep()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


def _sweep() -> None:
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_one, GRID[:workers]))  # warm the workers (imports, data)
        times = _Times()
        outcomes = times.time(lambda: list(pool.map(_one, GRID)))
    sweep = times.best
    finals = sorted(f for f, _ in outcomes)
    cpu = sum(c for _, c in outcomes)
    print(
        f"sweep of {len(GRID)} settings (no commission) on {workers} processes: {sweep:.2f} s, "
        f"{sweep / len(GRID):.2f} s per backtest (CPU {cpu:.1f} s in all, {cpu / len(GRID):.2f} "
        f"s per backtest); final equity {finals[0]:,.2f} .. {finals[-1]:,.2f}"
    )


if __name__ == "__main__":
    main()
