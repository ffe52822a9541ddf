"""Benchmark of ``TradeCalculator``: speed, and residual drift against the exact optimum.

Run from the repository root with the project venv::

    .venv/bin/python bench/calculator.py           # 1,000 portfolios (about a minute)
    .venv/bin/python bench/calculator.py --quick   # 200 portfolios

A fixed-seed suite of random portfolios (3-60 symbols, account value $2k-$5M log-uniform,
prices $1-$3,000 log-uniform, random holdings including symbols absent from the targets, random
cash and reserve) is rebalanced three ways:

* ``TradeCalculator`` (the package),
* the exact optimum of the same integer problem (:mod:`rebalance_calculator.problem`), a MILP
  solved with HiGHS through ``highspy`` (a dev-only dependency),
* plain floor rounding of every line (buys scaled down to the cash when short).

Residual drift of a plan is ``(sum_s |n_s m_s - T_s| + |cash after - reserve|) / V``. The script
prints the median and p99 time per portfolio of ``calculate_trades`` (whole API, models
included), the suite's total drift of each method and the ratio to the optimum, and the median
time at 20 and at 500 symbols. Targets: drift <= 1.05 x optimum; median <= 1 ms at 20 symbols,
<= 20 ms at 500 symbols. It prints figures; it never fails on them.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    ContractPrice,
)
from rebalance_calculator import TradeCalculator
from rebalance_calculator.objective import planned_drift
from rebalance_calculator.problem import RebalanceProblem, build_problem

try:
    import highspy

    HAVE_HIGHSPY = True
except ImportError:  # a dev-only dependency: say so instead of a traceback
    HAVE_HIGHSPY = False

SEED = 20_240_601

MILP_STATUS: Counter[str] = Counter()  # HiGHS model status of every MILP solved
MILP_LOWER_BOUND = [Decimal(0)]  # sum of the proven lower bounds (relative drift)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Case:
    """One random portfolio, as the calculator's keyword arguments."""

    snapshot: AccountSnapshot
    allocations: list[AllocationItem]
    prices: list[ContractPrice]
    config: AccountConfig

    def kwargs(self) -> dict[str, Any]:
        return {
            "account_snapshot": self.snapshot,
            "target_allocations": self.allocations,
            "market_prices": self.prices,
            "account_config": self.config,
        }

    def problem(self) -> RebalanceProblem:
        return build_problem(
            account_snapshot=self.snapshot,
            target_allocations=self.allocations,
            market_prices=self.prices,
            account_config=self.config,
        )


def _money(value: float) -> Decimal:
    return Decimal(repr(round(value, 2))).quantize(CENT)


def _loguniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _weights(rng: random.Random, symbols: Sequence[str]) -> list[AllocationItem]:
    raw = [rng.gammavariate(1.0, 1.0) + 1e-9 for _ in symbols]
    total = sum(raw)
    weights = [Decimal(repr(round(w / total, 6))) for w in raw]
    largest = weights.index(max(weights))
    weights[largest] += 1 - sum(weights)  # exact sum of 1; the largest absorbs the rounding
    return [AllocationItem(symbol=s, allocation=w) for s, w in zip(symbols, weights, strict=True)]


def make_case(rng: random.Random, n_symbols: int | None = None) -> Case:
    """A random but valid portfolio (cash plus positions equals total value)."""
    n = n_symbols if n_symbols is not None else rng.randint(3, 60)
    value = _loguniform(rng, 2_000, 5_000_000)
    symbols = [f"S{i:03d}" for i in range(n)]
    prices: list[ContractPrice] = []
    mids: dict[str, Decimal] = {}
    for symbol in symbols:
        mid = max(1.0, _loguniform(rng, 1, 3_000))
        half = mid * rng.uniform(0.00005, 0.0025)
        bid, ask = _money(max(0.01, mid - half)), _money(mid + half)
        mids[symbol] = (bid + ask) / 2
        prices.append(ContractPrice(symbol=symbol, bid=bid, ask=ask, last=_money(mid)))
    targeted = [s for s in symbols if rng.random() < 0.8] or [symbols[0]]
    invested = rng.choice([0.0, rng.uniform(0.0, 1.0), rng.uniform(0.8, 1.0)])
    held = [s for s in symbols if rng.random() < 0.6]
    positions = []
    if held and invested > 0:
        raw = [rng.random() for _ in held]
        for symbol, weight in zip(held, raw, strict=True):
            price = mids[symbol]
            shares = math.floor(value * invested * weight / sum(raw) / float(price))
            if shares > 0:
                positions.append(
                    AccountPosition(
                        symbol=symbol,
                        quantity=shares,
                        market_price=price,
                        market_value=shares * price,
                    )
                )
    cash = _money(value) - sum((p.market_value for p in positions), Decimal(0))
    total = cash + sum((p.market_value for p in positions), Decimal(0))
    snapshot = AccountSnapshot(
        account_id="BENCH",
        total_value=total,
        cash_balance=cash,
        settled_cash=cash,
        positions=positions,
    )
    config = AccountConfig(
        account_id="BENCH",
        type="paper",
        strategy_name="bench",
        cash_reserve_percent=rng.choice([0, 1, 1, 2, 5]),
    )
    return Case(snapshot, _weights(rng, targeted), prices, config)


# -- methods ------------------------------------------------------------------------------------


def calculator_plan(case: Case, problem: RebalanceProblem) -> list[int]:
    """The package's plan, mapped onto the problem's lines."""
    result = TradeCalculator().calculate_trades(**case.kwargs())
    by_symbol = {t.symbol: t.quantity for t in result.trades}
    return [by_symbol.get(line.symbol, 0) for line in problem.lines]


def floor_plan(_: Case, problem: RebalanceProblem) -> list[int]:
    """Floor every line; when the buys cost more than the cash, scale them down."""
    plan = []
    for line in problem.lines:
        ideal = (line.target_value - line.current_value) / line.value_price
        q = math.floor(ideal)
        q = max(q, line.min_quantity)
        if line.max_quantity is not None:
            q = min(q, line.max_quantity)
        plan.append(q)
    available = problem.budget + sum(
        -q * (line.bid or 0) for line, q in zip(problem.lines, plan, strict=True) if q < 0
    )
    spent = sum(
        q * (line.buy_price or 0) for line, q in zip(problem.lines, plan, strict=True) if q > 0
    )
    if spent > 0 and spent > available:
        scale = max(Decimal(0), available) / spent
        plan = [q if q <= 0 else math.floor(q * scale) for q in plan]
    return plan


def milp_plan(_: Case, problem: RebalanceProblem) -> list[int]:
    """The exact optimum of the integer problem (HiGHS)."""
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    # Proven within 1e-4 relative or 1e-6 of the account value: far below the differences
    # this bench measures, and it keeps the suite to minutes.
    h.setOptionValue("mip_rel_gap", 1e-4)
    h.setOptionValue("mip_abs_gap", 1e-6 * float(problem.total_value))
    h.setOptionValue("time_limit", 30.0)
    h.setOptionValue("threads", 1)
    inf = highspy.kHighsInf
    cash = float(problem.cash)
    reserve = float(problem.reserve)
    max_proceeds = sum(float(line.bid or 0) * -line.min_quantity for line in problem.lines)
    big = abs(cash) + reserve + max_proceeds + 1.0
    buy_cost: Any = 0
    proceeds: Any = 0
    buys, sells, drift = [], [], []
    for line in problem.lines:
        price = float(line.buy_price or 0)
        bid = float(line.bid or 0)
        top = math.floor(max(0.0, cash - reserve + max_proceeds) / price) if line.can_buy else 0
        most = line.max_quantity  # None: unbounded; <= 0 for a symbol to liquidate
        b = h.addVariable(lb=0, ub=top, type=highspy.HighsVarType.kInteger)
        s = h.addVariable(
            lb=0 if most is None else max(0, -most),
            ub=-line.min_quantity,
            type=highspy.HighsVarType.kInteger,
        )
        d = h.addVariable(lb=0, ub=inf)
        m, start, target = (
            float(line.value_price),
            float(line.current_value),
            float(line.target_value),
        )
        h.addConstr(d >= start + m * b - m * s - target)
        h.addConstr(d >= target - start - m * b + m * s)
        buy_cost = buy_cost + price * b
        proceeds = proceeds + bid * s
        buys.append(b)
        sells.append(s)
        drift.append(d)
    excess = h.addVariable(lb=0, ub=inf)
    if cash >= reserve:
        # Cash is above the reserve before any trade: "buys <= cash + proceeds - reserve"
        # holds trivially when nothing is bought, so no on/off switch is needed.
        h.addConstr(buy_cost - proceeds <= cash - reserve)
    else:
        z = h.addVariable(lb=0, ub=1, type=highspy.HighsVarType.kInteger)  # 1: anything bought
        h.addConstr(buy_cost <= big * z)
        h.addConstr(buy_cost - proceeds + big * z <= cash - reserve + big)
    h.addConstr(excess >= cash + proceeds - buy_cost - reserve)
    h.addConstr(excess >= reserve - cash - proceeds + buy_cost)
    objective: Any = excess
    for d in drift:
        objective = objective + d
    h.minimize(objective)
    MILP_STATUS[h.modelStatusToString(h.getModelStatus())] += 1
    MILP_LOWER_BOUND[0] += Decimal(repr(h.getInfo().mip_dual_bound)) / problem.total_value
    values = h.getSolution().col_value
    return [
        round(values[b.index]) - round(values[s.index]) for b, s in zip(buys, sells, strict=True)
    ]


def is_affordable(problem: RebalanceProblem, plan: Sequence[int]) -> bool:
    cash = problem.cash
    for line, q in zip(problem.lines, plan, strict=True):
        if q > 0:
            cash -= q * (line.buy_price or 0)
        elif q < 0:
            cash -= q * (line.bid or 0)
    return all(q <= 0 for q in plan) or cash >= problem.reserve


# -- report -------------------------------------------------------------------------------------


def time_cases(cases: Sequence[Case], repeat: int = 1) -> list[float]:
    """Seconds per ``calculate_trades`` call, best of ``repeat`` for each case."""
    calculator = TradeCalculator()
    times = []
    for case in cases:
        kwargs = case.kwargs()
        best = math.inf
        for _ in range(repeat):
            started = time.perf_counter()
            calculator.calculate_trades(**kwargs)
            best = min(best, time.perf_counter() - started)
        times.append(best)
    return times


def _p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def drift_table(cases: Sequence[Case]) -> dict[str, Decimal]:
    methods: dict[str, Callable[[Case, RebalanceProblem], list[int]]] = {
        "calculator": calculator_plan,
        "optimum (MILP)": milp_plan,
        "floor": floor_plan,
    }
    totals = dict.fromkeys(methods, Decimal(0))
    worse = 0
    for case in cases:
        problem = case.problem()
        drifts = {}
        for name, method in methods.items():
            plan = method(case, problem)
            if not is_affordable(problem, plan):
                print(f"  {name}: plan not affordable in exact arithmetic", file=sys.stderr)
            drifts[name] = planned_drift(problem, plan) / problem.total_value
            totals[name] += drifts[name]
        if drifts["calculator"] > drifts["optimum (MILP)"] * Decimal("1.05") + Decimal("1e-9"):
            worse += 1
    print(f"portfolios where calculator > 1.05 x optimum: {worse} of {len(cases)}")
    print(f"MILP status: {dict(MILP_STATUS)}; sum of proven lower bounds {MILP_LOWER_BOUND[0]:.6f}")
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 portfolios instead of 1,000")
    args = parser.parse_args(argv)
    if not HAVE_HIGHSPY:
        print("highspy is not installed; run: .venv/bin/pip install 'highspy>=1.7' (dev only)")
        return 2
    rng = random.Random(SEED)
    count = 200 if args.quick else 1_000
    cases = [make_case(rng) for _ in range(count)]
    times = time_cases(cases)
    print(f"suite: {count} portfolios, seed {SEED}")
    print(
        f"time per portfolio: median {statistics.median(times) * 1e3:.3f} ms, "
        f"p99 {_p99(times) * 1e3:.3f} ms"
    )
    totals = drift_table(cases)
    optimum = totals["optimum (MILP)"]
    print(f"{'method':<16}{'total drift':>14}{'mean drift':>12}{'x optimum':>11}")
    for name, total in totals.items():
        ratio = total / optimum if optimum else Decimal("NaN")
        print(f"{name:<16}{total:>14.6f}{total / count:>12.6f}{ratio:>11.4f}")
    for n_symbols, budget_ms in ((20, 1.0), (500, 20.0)):
        sized = [make_case(rng, n_symbols) for _ in range(30 if args.quick else 100)]
        median = statistics.median(time_cases(sized, repeat=3)) * 1e3
        print(f"median time at {n_symbols} symbols: {median:.3f} ms (target <= {budget_ms} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
