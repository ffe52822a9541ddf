"""Heuristic solver of the integer rebalancing problem described in :mod:`.problem`.

The search runs on plain numbers for speed: drift in ``float`` (it only ranks candidates) and
cash in integer micro-dollars, rounded against the plan (bids down, buy prices and the reserve
up), so every plan accepted here is affordable in exact ``Decimal`` arithmetic too; the
calculator re-checks that exactly before returning.

Steps:

1. Every symbol starts at the nearest whole-share trade to its target (a symbol without a
   target is sold entirely).
2. When the buys cost more than the cash the sells and the balance provide above the reserve,
   every buy is scaled down by the same fraction (floored), which keeps the plan affordable.
3. Leftover cash is spent greedily, best drift reduction per dollar first, while affordable.
4. A steepest-descent local search (:mod:`.moves`) applies the best of: one share more or
   less; one share less of A and one more of B; one more share of an expensive line paid for
   by the cheapest cuts elsewhere; one share less of a line, refilled with the best cheaper
   buys. Each is found in ``O(n log n)``. Leftover cash is spent again after each descent,
   until nothing changes (or a step cap, ``64 + 4n``, is reached).

Commissions enter as integer upper bounds (:class:`.commissions.OrderCostBound`, at least the
exact estimate rounded up to the cent): in the cash, so every accepted plan is affordable
once they are paid, and in the objective. They are linear in the shares between a few
breakpoints, so the runs of shares the moves work on are cut there; the share from or to zero
is a run of its own, since it carries the per-order minimum. Once nothing else improves,
the order whose removal as a whole lowers the objective most is dropped, and the search goes
on: one share less of an order saves none of its minimum, so an order worth less than its
commission is not always a one-share move away from being undone.

Everything is deterministic: ties break on the line index (lines are sorted by symbol).
"""

from __future__ import annotations

import heapq
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from rebalance_calculator.commissions import ZERO
from rebalance_calculator.moves import (
    Move,
    Segment,
    best_funded_buy,
    best_pair,
    best_refill,
    best_single,
)
from rebalance_calculator.problem import RebalanceProblem

__all__ = ["MICROS", "search", "solve"]

MICROS = 1_000_000
"""Cash is searched in integer micro-dollars."""

_NO_LIMIT = 10**15
_MAX_STEPS_BASE = 64
_CHAIN_LENGTH = 3
_FREE = ZERO.bound(Decimal(1), sell=False)


def _micros(value: Decimal, rounding: str) -> int:
    return int((value * MICROS).to_integral_value(rounding=rounding))


class _Search:
    """Mutable search state over parallel lists (one entry per problem line)."""

    def __init__(self, problem: RebalanceProblem) -> None:
        lines = problem.lines
        self.n = len(lines)
        self.price = [float(line.value_price) for line in lines]
        self.target = [float(line.target_value) for line in lines]
        self.start = [float(line.current_value) for line in lines]
        self.lo = [line.min_quantity for line in lines]
        self.hi = [_NO_LIMIT if line.max_quantity is None else line.max_quantity for line in lines]
        self.bid = [_micros(line.bid, ROUND_FLOOR) if line.bid else 0 for line in lines]
        self.cost = [
            _micros(line.buy_price, ROUND_CEILING) if line.buy_price else 0 for line in lines
        ]
        # Spread paid per share relative to the valuation price. Counting it in the objective
        # values every trade at the valuation price: otherwise a trade that merely burns the
        # spread (a buy past the target, a sell of an overweight line into idle cash) lowers
        # "leftover cash" by more than it adds to drift and looks like an improvement, and
        # consecutive runs churn one-share trades back and forth.
        self.buy_spread = [
            cost / MICROS - price if cost else 0.0
            for cost, price in zip(self.cost, self.price, strict=True)
        ]
        self.sell_spread = [
            price - bid / MICROS if bid else 0.0
            for bid, price in zip(self.bid, self.price, strict=True)
        ]
        model = problem.commissions
        self.has_fees = not model.is_zero
        # A side's bound is read only for trades on that side (a buy's q > 0 needs hi > 0, a
        # sell's q < 0 needs lo < 0), and only when orders cost anything: a line the band
        # freezes, or a free schedule, needs none.
        self.buy_fee = [
            model.bound(line.buy_price, sell=False)
            if self.has_fees and line.buy_price and hi > 0
            else _FREE
            for line, hi in zip(lines, self.hi, strict=True)
        ]
        self.sell_fee = [
            model.bound(line.bid, sell=True) if self.has_fees and line.bid and lo < 0 else _FREE
            for line, lo in zip(lines, self.lo, strict=True)
        ]
        self.budget = _micros(problem.cash, ROUND_FLOOR) - _micros(problem.reserve, ROUND_CEILING)
        self.eps = float(problem.total_value) * 1e-12
        self.q = [0] * self.n
        # Cash above the reserve after the trades and their commissions, in micros; `fees` is
        # the commissions' sum, so `slack + fees` is the cash the objective's drift counts.
        self.slack = self.budget
        self.fees = 0
        self.buys = 0
        self.moved: set[int] = set()  # lines whose segments must be recomputed

    # -- primitives ------------------------------------------------------------------------

    def drift(self, i: int, q: int) -> float:
        return abs(self.start[i] + q * self.price[i] - self.target[i])

    def cash_of(self, i: int, q: int) -> int:
        """Cash the trade ``q`` of line ``i`` brings in (negative for a buy), before commission."""
        return -self.cost[i] * q if q > 0 else -self.bid[i] * q

    def fee(self, i: int, q: int) -> int:
        """Commission bound of the trade ``q`` of line ``i``."""
        if q > 0:
            return self.buy_fee[i](q)
        return self.sell_fee[i](-q) if q < 0 else 0

    def set(self, i: int, q: int) -> None:
        old = self.q[i]
        fee = self.fee(i, q) - self.fee(i, old) if self.has_fees else 0
        self.slack += self.cash_of(i, q) - self.cash_of(i, old) - fee
        self.fees += fee
        self.buys += (q > 0) - (old > 0)
        self.q[i] = q
        self.moved.add(i)

    def feasible(self, slack: int, buys: int) -> bool:
        return buys == 0 or slack >= 0

    def spread(self, i: int, step: int, q: int) -> float:
        """Spread paid (negative: saved) by moving line ``i`` one share ``step`` from ``q``."""
        if step > 0:
            return self.buy_spread[i] if q >= 0 else -self.sell_spread[i]
        return -self.buy_spread[i] if q > 0 else self.sell_spread[i]

    def change_to(self, i: int, q: int) -> tuple[float, int, int]:
        """What moving line ``i`` to trade ``q`` changes.

        Returns:
            (objective change but for the cash term, cash change before commissions,
            commission change).
        """
        old = self.q[i]
        fee = self.fee(i, q) - self.fee(i, old) if self.has_fees else 0
        spread = self.spread_paid(i, q) - self.spread_paid(i, old)
        change = self.drift(i, q) - self.drift(i, old) + spread + fee / MICROS
        return change, self.cash_of(i, q) - self.cash_of(i, old), fee

    def spread_paid(self, i: int, q: int) -> float:
        return q * self.buy_spread[i] if q > 0 else -q * self.sell_spread[i]

    def evaluate(self, plan: list[tuple[int, int]]) -> tuple[float, bool]:
        """(objective change, feasible) of applying ``plan``, cash term and commissions in."""
        changes: dict[int, int] = {}
        for i, shares in plan:
            changes[i] = changes.get(i, 0) + shares
        total, cash, fees, buys = 0.0, 0, 0, self.buys
        for i, shares in changes.items():
            old, new = self.q[i], self.q[i] + shares
            if not self.lo[i] <= new <= self.hi[i]:
                return math.inf, False
            change, gross, fee = self.change_to(i, new)
            total, cash, fees = total + change, cash + gross, fees + fee
            buys += (new > 0) - (old > 0)
        before = self.slack + self.fees  # the cash the drift counts: before commissions
        total += (abs(before + cash) - abs(before)) / MICROS
        return total, self.feasible(self.slack + cash - fees, buys)

    # -- phases ----------------------------------------------------------------------------

    def start_nearest(self) -> None:
        nearest = zip(self.target, self.start, self.price, self.lo, self.hi, strict=True)
        self.q = [
            min(hi, max(lo, math.floor((target - start) / price + 0.5)))
            for target, start, price, lo, hi in nearest
        ]
        self.fees = sum(self.fee(i, q) for i, q in enumerate(self.q) if q) if self.has_fees else 0
        gross = self.budget + sum(self.cash_of(i, q) for i, q in enumerate(self.q) if q)
        self.slack = gross - self.fees
        self.buys = sum(1 for q in self.q if q > 0)
        if self.buys and self.slack < 0:
            self._scale_buys()

    def _scale_buys(self) -> None:
        spent = sum(self.cost[i] * q for i, q in enumerate(self.q) if q > 0)
        available = self.slack + spent
        for i, q in enumerate(self.q):
            if q > 0:
                # Integer floor of q * available / spent keeps the total within `available`.
                self.set(i, max(0, q * available // spent))

    def fill(self) -> bool:
        """Spend leftover cash, best drift reduction per dollar first. True if it bought.

        Shares are bought a segment at a time (a run whose drift reduction per share is
        constant), which is what buying them one by one in this order would do.
        """
        heap: list[tuple[float, int, int]] = []
        for i in range(self.n):
            self._push_up(heap, i)
        changed = False
        while heap:
            _, i, q = heapq.heappop(heap)
            if q != self.q[i]:
                continue
            segment = self._segment(i, +1, q)
            if segment is None or segment[1] > self.slack:
                continue  # not affordable now, and cash only shrinks from here
            self.set(i, q + min(segment[2], self.slack // segment[1]))
            changed = True
            self._push_up(heap, i)
        return changed

    def _push_up(self, heap: list[tuple[float, int, int]], i: int) -> None:
        segment = self._segment(i, +1, self.q[i])
        if segment is not None and segment[0] < -self.eps:
            heapq.heappush(heap, (segment[0] / segment[1], i, self.q[i]))

    def improve(self) -> None:
        """Descend and fill until neither changes anything (or the step cap is reached)."""
        # A line's segments depend on its own trade only: recompute those of moved lines.
        down = [self._chain(i, -1) for i in range(self.n)]
        up = [self._chain(i, +1) for i in range(self.n)]
        self.moved.clear()
        steps = _MAX_STEPS_BASE + 4 * self.n
        while steps > 0:
            steps = self._descend(steps, down, up)
            if not self.fill() and not (self.has_fees and self.prune()):
                return

    def _descend(self, steps: int, down: list[list[Segment]], up: list[list[Segment]]) -> int:
        """Steepest descent over the moves of :mod:`.moves`; returns the steps left."""
        while steps > 0:
            steps -= 1
            for i in self.moved:
                down[i], up[i] = self._chain(i, -1), self._chain(i, +1)
            self.moved.clear()
            if self.slack >= 0:
                moves = _find_moves(down, up, self.slack)
                if self.buys == 0:
                    # Without buys, cash may also end below the reserve (an un-sold share).
                    single = self._best_single_below_reserve()
                    moves += [single] if single is not None else []
            else:
                single = self._best_single_below_reserve()
                moves = [single] if single is not None else []
            best = self._best_exact(moves)
            if best is None:
                break
            for i, shares in best:
                self.set(i, self.q[i] + shares)
        return steps

    def _best_exact(self, moves: list[Move]) -> list[tuple[int, int]] | None:
        """The plan of the move that improves the objective most, each evaluated exactly.

        The moves' own figures are exact only while every segment they use has one cost per
        share; a merged segment (see :meth:`_chain`) averages two, so each move is checked.
        """
        best: tuple[float, list[tuple[int, int]]] | None = None
        for change, plan in moves:
            if change >= -self.eps:
                continue  # not even estimated to improve
            total, feasible = self.evaluate(plan)
            if feasible and total < -self.eps and (best is None or total < best[0]):
                best = (total, plan)
        return None if best is None else best[1]

    def _best_single_below_reserve(self) -> Move | None:
        """Best one-share change, evaluated exactly (for when nothing is bought)."""
        best: Move | None = None
        for i in range(self.n):
            q = self.q[i]
            for step in (1, -1):
                if not self.lo[i] <= q + step <= self.hi[i]:
                    continue
                total, feasible = self.evaluate([(i, step)])
                if feasible and (best is None or total < best[0]):
                    best = (total, [(i, step)])
        return best

    def prune(self) -> bool:
        """Drop the order whose removal lowers the objective most; False when none does.

        A per-order minimum is a fixed cost that one share less of an order does not save, so
        an order worth less than its commission as a whole (a sell whose buy was undone, say)
        may be no one-share move's improvement: it is seen here, as a whole.
        """
        best: tuple[float, int] | None = None
        for i, q in enumerate(self.q):
            if q == 0 or not self.lo[i] <= 0 <= self.hi[i]:
                continue  # nothing to drop, or a liquidation (never dropped)
            total, feasible = self.evaluate([(i, -q)])
            if feasible and total < -self.eps and (best is None or total < best[0]):
                best = (total, i)
        if best is None:
            return False
        self.set(best[1], 0)
        return True

    def _chain(self, i: int, step: int) -> list[Segment]:
        """The first segments of line ``i`` in direction ``step``, in the order they apply.

        Three cover the cases that matter: the run towards the target, the share crossing
        it, and the run beyond it (cut short where a buy turns into a sell). The moves take a
        line's segments in order of their objective per dollar, which must then be the order
        they apply in; where a segment is cheaper per dollar than the one before it (the
        first share of an order pays the commission's minimum, the next ones nothing), the
        two are merged into one run at their average cost, and the moves are checked exactly
        before one is applied.
        """
        chain: list[Segment] = []
        q = self.q[i]
        while len(chain) < _CHAIN_LENGTH:
            segment = self._segment(i, step, q)
            if segment is None:
                break
            q += step * segment[2]
            while chain and segment[0] * chain[-1][1] < chain[-1][0] * segment[1]:
                segment = _merge(chain.pop(), segment, spent=step > 0)
            chain.append(segment)
        return chain

    def _segment(self, i: int, step: int, q: int) -> Segment | None:
        """The run of shares of line ``i`` from trade ``q`` in direction ``step``."""
        room = (self.hi[i] - q) if step > 0 else (q - self.lo[i])
        if room <= 0:
            return None
        price = self.price[i]
        gap = self.start[i] + q * price - self.target[i]  # > 0: above target
        ahead = gap if step < 0 else -gap  # > 0: moving towards the target
        if ahead >= price:
            run, per_share = math.floor(ahead / price), -price
        elif ahead <= 0:
            run, per_share = room, price
        else:
            run, per_share = 1, self.drift(i, q + step) - self.drift(i, q)
        if step > 0:
            cash = self.cost[i] if q >= 0 else self.bid[i]
            side = room if q >= 0 else -q
            objective = per_share - cash / MICROS + self.spread(i, step, q)
        else:
            cash = self.cost[i] if q > 0 else self.bid[i]
            side = q if q > 0 else room
            objective = per_share + cash / MICROS + self.spread(i, step, q)
        if cash <= 0:
            return None
        run = max(1, min(run, side, room))
        if not self.has_fees:
            return objective, cash, run, i
        # The commission changes by the same amount for every share of a linear run of its
        # bound; spent (step > 0) or freed (step < 0) cash includes it.
        away = q == 0 or (q > 0) == (step > 0)  # the order grows
        if q > 0 or (q == 0 and step > 0):
            fee, fee_run = self.buy_fee[i].step(q, away)
        else:
            fee, fee_run = self.sell_fee[i].step(-q, away)
        cash = cash + fee if step > 0 else cash - fee
        if cash <= 0:
            return None
        return objective + fee / MICROS, cash, min(run, fee_run), i


def _merge(first: Segment, then: Segment, *, spent: bool) -> Segment:
    """One run covering two consecutive segments of a line, at their average per share.

    The cash per share is rounded against the plan (up when spent, down when freed).
    """
    run = first[2] + then[2]
    objective = (first[0] * first[2] + then[0] * then[2]) / run
    cash = first[1] * first[2] + then[1] * then[2]
    return objective, -(-cash // run) if spent else cash // run, run, first[3]


def _find_moves(down: list[list[Segment]], up: list[list[Segment]], slack: int) -> list[Move]:
    first_downs = [chain[0] for chain in down if chain]
    first_ups = [chain[0] for chain in up if chain]
    all_downs = [segment for chain in down for segment in chain]
    all_ups = [segment for chain in up for segment in chain]
    found = (
        best_single(first_downs, first_ups, slack),
        best_pair(first_downs, first_ups, slack),
        best_funded_buy(all_downs, first_ups, slack),
        best_refill(first_downs, all_ups, slack),
    )
    return [move for move in found if move is not None]


def solve(problem: RebalanceProblem) -> list[int]:
    """Whole-share trades (negative sells), one per ``problem.lines`` entry."""
    if all(line.min_quantity == 0 and line.max_quantity == 0 for line in problem.lines):
        # Every line is bounded to [0, 0] (frozen by the drift band, or unable to trade): the
        # only feasible plan is no trade, which is what ``search`` returns too (its bounds are
        # hard). Said at once: a daily check of an account inside its band costs no search.
        return [0] * len(problem.lines)
    return search(problem)


def search(problem: RebalanceProblem) -> list[int]:
    """The search of the module docstring, whatever the bounds (``solve`` skips it when no
    line may trade)."""
    state = _Search(problem)
    state.start_nearest()
    state.fill()
    state.improve()
    return list(state.q)
