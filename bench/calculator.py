"""Benchmark of ``TradeCalculator``: speed, and its objective against the exact optimum.

Run from the repository root with the project venv::

    .venv/bin/python bench/calculator.py           # 1,000 portfolios (15-30 minutes)
    .venv/bin/python bench/calculator.py --quick   # 200 portfolios
    .venv/bin/python bench/calculator.py --schedule zero   # without commissions
    .venv/bin/python bench/calculator.py --timing-only     # the latency figures alone

A fixed-seed suite of random portfolios (3-60 symbols, account value $2k-$5M log-uniform,
prices $1-$3,000 log-uniform, random holdings including symbols absent from the targets, random
cash and reserve), priced with one commission schedule (default ``ibkr_pro_fixed``), is
rebalanced three ways:

* ``TradeCalculator`` (the package),
* the exact optimum of the same integer problem and objective (:mod:`rebalance_calculator.problem`:
  drift, spread and commissions, per-order minimums as binary order indicators, each order's
  estimate rounded up to the cent as an integer number of cents), a MILP solved with HiGHS
  through ``highspy`` (a dev-only dependency),
* plain floor rounding of every line (buys scaled down to the cash, commissions included).

Each plan is scored exactly (``rebalance_calculator.objective.plan_value``), relative to the
account value: the objective ``drift + spread + commissions`` (``drift`` is
``sum_s |n_s m_s - T_s| + |cash - reserve|``). The script prints the median and p99 time per
portfolio of ``calculate_trades`` (whole API, models included), each method's total objective
and its ratio to the optimum, and the median time at 20 and at 500 symbols, on the machine as
it is and again while two CPU burners (``python -c "while True: pass"``, started and stopped
here) compete for the cores, with the time without commissions as the baseline. Targets:
objective <= 1.02 x optimum; median <= 1 ms at 20 symbols, <= 20 ms at 500 symbols. It prints
figures; it never fails on them.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args

from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    CommissionScheduleName,
    ContractPrice,
)
from rebalance_calculator import TradeCalculator
from rebalance_calculator.commissions import CommissionModel
from rebalance_calculator.objective import plan_value
from rebalance_calculator.problem import RebalanceProblem, build_problem

try:
    import highspy
    import numpy as np

    HAVE_HIGHSPY = True
except ImportError:  # a dev-only dependency: say so instead of a traceback
    HAVE_HIGHSPY = False

SEED = 20_240_601

MILP_STATUS: Counter[str] = Counter()  # HiGHS model status of every MILP solved
MILP_LOWER_BOUND = [Decimal(0)]  # sum of the proven lower bounds (relative objective)
CENT = Decimal("0.01")
# HiGHS accepts a share count within 1e-6 of a whole number and a row violated within about
# 1e-7 (on scaled rows); rounded to whole shares at prices up to USD 3,000, a plan can end a
# fraction of a cent short. A cent kept aside in the cash row keeps its plans affordable when
# checked in exact arithmetic, and moves the optimum by no more than that.
_MARGIN = 0.01


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

    def priced(self, schedule: CommissionScheduleName) -> Case:
        config = self.config.model_copy(update={"commission_schedule": schedule})
        return Case(self.snapshot, self.allocations, self.prices, config)


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


def make_case(
    rng: random.Random, schedule: CommissionScheduleName, n_symbols: int | None = None
) -> Case:
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
        commission_schedule=schedule,
    )
    return Case(snapshot, _weights(rng, targeted), prices, config)


# -- methods ------------------------------------------------------------------------------------


def calculator_plan(case: Case, problem: RebalanceProblem) -> list[int]:
    """The package's plan, mapped onto the problem's lines."""
    result = TradeCalculator().calculate_trades(**case.kwargs())
    by_symbol = {t.symbol: t.quantity for t in result.trades}
    return [by_symbol.get(line.symbol, 0) for line in problem.lines]


def floor_plan(_: Case, problem: RebalanceProblem) -> list[int]:
    """Floor every line; buys scaled down to the cash, then cut until commissions fit too."""
    plan = []
    for line in problem.lines:
        ideal = (line.target_value - line.current_value) / line.value_price
        q = max(math.floor(ideal), line.min_quantity)
        if line.max_quantity is not None:
            q = min(q, line.max_quantity)
        plan.append(q)
    value = plan_value(problem, plan)
    spent = sum(q * (ln.buy_price or 0) for ln, q in zip(problem.lines, plan, strict=True) if q > 0)
    if value.buys and value.cash_after < problem.reserve:
        scale = max(Decimal(0), spent + value.cash_after - problem.reserve) / spent
        plan = [q if q <= 0 else math.floor(q * scale) for q in plan]
    while (value := plan_value(problem, plan)).buys and value.cash_after < problem.reserve:
        priciest = max(
            (i for i, q in enumerate(plan) if q > 0), key=lambda i: problem.lines[i].buy_price or 0
        )
        plan[priciest] -= 1
    return plan


def _split(h: Any, shares: Any, low_most: Any, high_most: Any) -> tuple[Any, Any]:
    """``shares = low + high`` with ``low <= low_most`` and ``high <= high_most`` (expressions)."""
    low, high = h.addVariable(lb=0), h.addVariable(lb=0)
    h.addConstr(shares == low + high)
    h.addConstr(low <= low_most)
    h.addConstr(high <= high_most)
    return low, high


def _milp_commission(
    h: Any, model: CommissionModel, shares: Any, price: Decimal, *, sell: bool, most: int
) -> Any:
    """The order's estimate as a MILP expression: integer cents >= its unrounded cost.

    ``min(max(a q, M), c q)`` and ``min(t q, T)`` are concave where the cap binds, so each is
    split between two regimes chosen by a binary (the disaggregated form: tight bounds, no
    big-M on the commission itself). ``placed`` is the order indicator that pays ``M``.
    """
    if model.is_zero or most <= 0:
        return 0
    integer = highspy.HighsVarType.kInteger
    placed = h.addVariable(lb=0, ub=1, type=integer)
    h.addConstr(shares <= most * placed)
    scale = float(1 + model.pass_through_rate)
    per_share, minimum = float(model.per_share) * scale, float(model.minimum) * scale
    cap = None if model.maximum_rate is None else float(model.maximum_rate * price) * scale
    commission = h.addVariable(lb=0)
    few = 0 if cap is None or cap <= per_share else min(most, math.floor(minimum / cap))
    if cap is not None and cap <= per_share:  # below USD 0.50 (fixed): always the cap
        h.addConstr(commission >= cap * shares)
    elif cap is not None and few > 0:  # up to `few` shares the cap is below the minimum
        capped = h.addVariable(lb=0, ub=1, type=integer)
        h.addConstr(capped <= placed)
        low, high = _split(h, shares, few * capped, most * (placed - capped))
        h.addConstr(commission >= cap * low + per_share * high)
        h.addConstr(commission >= minimum * (placed - capped))
    else:
        h.addConstr(commission >= per_share * shares)
        h.addConstr(commission >= minimum * placed)
    fee = model.per_share_fees + min(model.exchange_per_share, model.exchange_rate * price)
    fees: Any = float(fee + (model.sec_rate * price if sell else 0)) * shares
    taf, taf_max = float(model.taf_per_share), float(model.taf_maximum)
    below = math.floor(taf_max / taf) if sell and taf else most
    if sell and most > below:  # the FINRA TAF stops at its maximum
        at_max = h.addVariable(lb=0, ub=1, type=integer)
        low, _ = _split(h, shares, below * (1 - at_max), most * at_max)
        fees = fees + taf * low + taf_max * at_max
    elif sell:
        fees = fees + taf * shares
    cents = h.addVariable(lb=0, type=integer)
    h.addConstr(0.01 * cents >= commission + fees)
    return 0.01 * cents


def milp_plan(_: Case, problem: RebalanceProblem, incumbent: Sequence[int] = ()) -> list[int]:
    """The exact optimum of the integer problem, commissions included (HiGHS).

    ``incumbent`` (a plan, e.g. the calculator's) is handed to HiGHS as a first incumbent: it
    prunes the search sooner; the optimum is still proven (within the gaps below).
    """
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    # Proven within 1e-4 relative or 1e-6 of the account value: far below the differences
    # this bench measures, and it keeps the suite to minutes.
    h.setOptionValue("mip_rel_gap", 1e-4)
    h.setOptionValue("mip_abs_gap", 1e-6 * float(problem.total_value))
    h.setOptionValue("time_limit", 30.0)
    h.setOptionValue("threads", 1)
    inf = highspy.kHighsInf
    cash, reserve = float(problem.cash), float(problem.reserve)
    max_proceeds = sum(float(line.bid or 0) * -line.min_quantity for line in problem.lines)
    big = abs(cash) + reserve + max_proceeds + 1.0
    buy_cost: Any = 0
    proceeds: Any = 0
    objective: Any = 0
    commissions: Any = 0
    buys, sells = [], []
    for line in problem.lines:
        price, bid = float(line.buy_price or 0), float(line.bid or 0)
        top = math.floor(max(0.0, cash - reserve + max_proceeds) / price) if line.can_buy else 0
        most = line.max_quantity  # None: unbounded; <= 0 for a symbol to liquidate
        b = h.addVariable(lb=0, ub=top, type=highspy.HighsVarType.kInteger)
        s = h.addVariable(
            lb=0 if most is None else max(0, -most),
            ub=-line.min_quantity,
            type=highspy.HighsVarType.kInteger,
        )
        d = h.addVariable(lb=0, ub=inf)
        m, start = float(line.value_price), float(line.current_value)
        target = float(line.target_value)
        h.addConstr(d >= start + m * b - m * s - target)
        h.addConstr(d >= target - start - m * b + m * s)
        model = problem.commissions
        if line.buy_price is not None:
            commissions = commissions + _milp_commission(
                h, model, b, line.buy_price, sell=False, most=top
            )
        if line.bid is not None:
            commissions = commissions + _milp_commission(
                h, model, s, line.bid, sell=True, most=-line.min_quantity
            )
        objective = objective + d + (price - m) * b + (m - bid) * s  # drift and spread
        buy_cost = buy_cost + price * b
        proceeds = proceeds + bid * s
        buys.append(b)
        sells.append(s)
    excess = h.addVariable(lb=0, ub=inf)  # |cash before commissions - reserve|
    if cash >= reserve:
        # Cash is above the reserve before any trade: "buys + commissions <= cash + proceeds -
        # reserve" then holds when nothing is bought too (a sale's commission is below its
        # proceeds at these prices), so no on/off switch is needed.
        h.addConstr(buy_cost - proceeds + commissions <= cash - reserve - _MARGIN)
    else:
        z = h.addVariable(lb=0, ub=1, type=highspy.HighsVarType.kInteger)  # 1: anything bought
        h.addConstr(buy_cost <= big * z)
        h.addConstr(buy_cost - proceeds + commissions + big * z <= cash - reserve - _MARGIN + big)
    h.addConstr(excess >= cash + proceeds - buy_cost - reserve)
    h.addConstr(excess >= reserve - cash - proceeds + buy_cost)
    if incumbent:
        columns = [v.index for pair in zip(buys, sells, strict=True) for v in pair]
        values = [float(x) for q in incumbent for x in (max(q, 0), max(-q, 0))]
        h.setSolution(len(columns), np.array(columns, np.int32), np.array(values))
    h.minimize(objective + excess + commissions)
    MILP_STATUS[h.modelStatusToString(h.getModelStatus())] += 1
    MILP_LOWER_BOUND[0] += Decimal(repr(h.getInfo().mip_dual_bound)) / problem.total_value
    values = h.getSolution().col_value
    return [
        round(values[b.index]) - round(values[s.index]) for b, s in zip(buys, sells, strict=True)
    ]


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


@dataclass
class Totals:
    """A method's sums over the suite (objective and drift relative to account value)."""

    objective: Decimal = Decimal(0)
    drift: Decimal = Decimal(0)
    commissions: Decimal = Decimal(0)
    orders: int = 0


def objective_table(cases: Sequence[Case]) -> dict[str, Totals]:
    methods: dict[str, Callable[[Case, RebalanceProblem, list[int]], list[int]]] = {
        "calculator": lambda _, __, plan: plan,
        "optimum (MILP)": milp_plan,
        "floor": lambda case, problem, _: floor_plan(case, problem),
    }
    totals = {name: Totals() for name in methods}
    worse = 0
    for case in cases:
        problem = case.problem()
        ours = calculator_plan(case, problem)
        scores = {}
        for name, method in methods.items():
            plan = method(case, problem, ours)
            value = plan_value(problem, plan)
            if value.buys and value.cash_after < problem.reserve:
                short = problem.reserve - value.cash_after
                print(f"  {name}: plan short of the reserve by {short} in exact arithmetic")
            scores[name] = value.objective / problem.total_value
            total = totals[name]
            total.objective += scores[name]
            total.drift += value.drift / problem.total_value
            total.commissions += value.commissions
            total.orders += sum(1 for q in plan if q)
        if scores["calculator"] > scores["optimum (MILP)"] * Decimal("1.02") + Decimal("1e-9"):
            worse += 1
    print(f"portfolios where calculator > 1.02 x optimum: {worse} of {len(cases)}")
    print(f"MILP status: {dict(MILP_STATUS)}; sum of proven lower bounds {MILP_LOWER_BOUND[0]:.6f}")
    return totals


@contextlib.contextmanager
def cpu_burners(count: int) -> Iterator[None]:
    """``count`` busy-looping Python processes for the duration of the block."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let the scheduler see them before anything is timed
        yield
    finally:
        for burner in burners:
            burner.terminate()
        for burner in burners:
            burner.wait(timeout=10)


def _median_ms(cases: Sequence[Case]) -> float:
    return statistics.median(time_cases(cases, repeat=3)) * 1e3


def timing_table(rng: random.Random, schedule: CommissionScheduleName, quick: bool) -> None:
    sized = {
        n: [make_case(rng, schedule, n) for _ in range(30 if quick else 100)] for n in (20, 500)
    }
    idle = {n: _median_ms(cases) for n, cases in sized.items()}
    free = {n: _median_ms([c.priced("zero") for c in cases]) for n, cases in sized.items()}
    with cpu_burners(2):
        loaded = {n: _median_ms(cases) for n, cases in sized.items()}
    for n, budget_ms in ((20, 1.0), (500, 20.0)):
        print(
            f"median time at {n} symbols: {idle[n]:.3f} ms, with 2 CPU burners "
            f"{loaded[n]:.3f} ms (target <= {budget_ms} ms); without commissions "
            f"{free[n]:.3f} ms ({idle[n] / free[n]:.2f}x)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 portfolios instead of 1,000")
    parser.add_argument(
        "--timing-only", action="store_true", help="only the times at 20 and 500 symbols"
    )
    parser.add_argument(
        "--schedule",
        choices=get_args(CommissionScheduleName),
        default="ibkr_pro_fixed",
        help="commission schedule every portfolio is priced with (default ibkr_pro_fixed)",
    )
    args = parser.parse_args(argv)
    if not HAVE_HIGHSPY:
        print("highspy is not installed; run: .venv/bin/pip install 'highspy>=1.7' (dev only)")
        return 2
    rng = random.Random(SEED)
    if args.timing_only:
        timing_table(rng, args.schedule, args.quick)
        return 0
    count = 200 if args.quick else 1_000
    cases = [make_case(rng, args.schedule) for _ in range(count)]
    times = time_cases(cases)
    print(f"suite: {count} portfolios, seed {SEED}, commission schedule {args.schedule}")
    print(
        f"time per portfolio: median {statistics.median(times) * 1e3:.3f} ms, "
        f"p99 {_p99(times) * 1e3:.3f} ms"
    )
    totals = objective_table(cases)
    optimum = totals["optimum (MILP)"].objective
    print(
        f"{'method':<16}{'objective':>12}{'mean':>10}{'x optimum':>11}{'drift':>11}"
        f"{'commissions $':>15}{'orders':>8}"
    )
    for name, total in totals.items():
        ratio = total.objective / optimum if optimum else Decimal("NaN")
        print(
            f"{name:<16}{total.objective:>12.6f}{total.objective / count:>10.6f}{ratio:>11.4f}"
            f"{total.drift:>11.6f}{total.commissions:>15.2f}{total.orders:>8}"
        )
    timing_table(rng, args.schedule, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
