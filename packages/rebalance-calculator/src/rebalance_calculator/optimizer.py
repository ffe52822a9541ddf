"""Heuristic solver of the integer rebalancing problem described in :mod:`.problem`.

The search runs on plain numbers for speed: drift in ``float`` (it only ranks candidates) and
cash in integer micro-dollars, rounded against the plan (bids down, buy prices and the reserve
up), so every plan accepted here is affordable in exact ``Decimal`` arithmetic too; the
calculator re-checks that exactly before returning.

Steps:

1. Every symbol starts at the nearest whole-share trade to its target.
2. When the buys cost more than the cash the sells and the balance provide above the reserve,
   every buy is scaled down by the same fraction (floored), which keeps the plan affordable.
3. Leftover cash is spent greedily, best drift reduction per dollar first, while affordable.
4. A local search applies the best single-share change or the best pair "one share less of A,
   one share more of B" until no change reduces the drift. The best pair is found in
   ``O(n log n)`` per step by sorting the "one share less" moves by the cash they free.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from rebalance_calculator.problem import RebalanceProblem

__all__ = ["MICROS", "solve"]

MICROS = 1_000_000
"""Cash is searched in integer micro-dollars."""

_NO_LIMIT = 10**15

_Move = tuple[float, list[tuple[int, int]]]
"""(objective change, [(line, new trade), ...])."""
_Segment = tuple[float, int, int, int]
"""(objective change per share, cash per share (freed > 0), shares in the run, line)."""
_MAX_STEPS_BASE = 64


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
        self.hi = [_NO_LIMIT if line.can_buy else 0 for line in lines]
        self.bid = [_micros(line.bid, ROUND_FLOOR) if line.bid else 0 for line in lines]
        self.cost = [
            _micros(line.buy_price, ROUND_CEILING) if line.buy_price else 0 for line in lines
        ]
        self.budget = _micros(problem.cash, ROUND_FLOOR) - _micros(problem.reserve, ROUND_CEILING)
        self.eps = float(problem.total_value) * 1e-12
        self.q = [0] * self.n
        self.slack = self.budget  # cash above the reserve after the trades, in micros
        self.buys = 0

    # -- primitives ------------------------------------------------------------------------

    def drift(self, i: int, q: int) -> float:
        return abs(self.start[i] + q * self.price[i] - self.target[i])

    def cash_of(self, i: int, q: int) -> int:
        """Cash the trade ``q`` of line ``i`` brings in (negative for a buy)."""
        return -self.cost[i] * q if q > 0 else -self.bid[i] * q

    def set(self, i: int, q: int) -> None:
        old = self.q[i]
        self.slack += self.cash_of(i, q) - self.cash_of(i, old)
        self.buys += (q > 0) - (old > 0)
        self.q[i] = q

    def feasible(self, slack: int, buys: int) -> bool:
        return buys == 0 or slack >= 0

    def up(self, i: int) -> tuple[float, int] | None:
        """(drift change, cash change) of one more share of line ``i``, or None."""
        q = self.q[i]
        if q + 1 > self.hi[i]:
            return None
        cash = -(self.cost[i] if q >= 0 else self.bid[i])
        return self.drift(i, q + 1) - self.drift(i, q), cash

    def down(self, i: int) -> tuple[float, int] | None:
        """(drift change, cash change) of one share less of line ``i``, or None."""
        q = self.q[i]
        if q - 1 < self.lo[i]:
            return None
        cash = self.cost[i] if q > 0 else self.bid[i]
        return self.drift(i, q - 1) - self.drift(i, q), cash

    # -- phases ----------------------------------------------------------------------------

    def start_nearest(self) -> None:
        for i in range(self.n):
            ideal = (self.target[i] - self.start[i]) / self.price[i]
            q = math.floor(ideal + 0.5)
            self.set(i, min(self.hi[i], max(self.lo[i], q)))
        if self.buys and self.slack < 0:
            self._scale_buys()

    def _scale_buys(self) -> None:
        spent = sum(self.cost[i] * q for i, q in enumerate(self.q) if q > 0)
        available = self.slack + spent
        for i, q in enumerate(self.q):
            if q > 0:
                # Integer floor of q * available / spent keeps the total within `available`.
                self.set(i, max(0, q * available // spent))

    def fill(self) -> None:
        """Spend leftover cash, best drift reduction per dollar first."""
        heap: list[tuple[float, int, int]] = []
        for i in range(self.n):
            self._push_up(heap, i)
        while heap:
            _, i, q = heapq.heappop(heap)
            if q != self.q[i]:
                continue
            move = self.up(i)
            if move is None:
                continue
            change, cash = move
            if not self.feasible(self.slack + cash, self.buys + (q == 0)):
                continue  # not affordable now, and cash only shrinks from here
            if change >= 0 and self._at_or_above_target(i) and q >= 0 and cash < 0:
                # Every further share changes drift by the same amount: buy them in bulk.
                count = min(self.slack // -cash, self.hi[i] - q)
                self.set(i, q + max(1, count))
            else:
                self.set(i, q + 1)
            self._push_up(heap, i)

    def _at_or_above_target(self, i: int) -> bool:
        return self.start[i] + self.q[i] * self.price[i] >= self.target[i]

    def _push_up(self, heap: list[tuple[float, int, int]], i: int) -> None:
        move = self.up(i)
        if move is None:
            return
        change, cash = move
        gain = change + cash / MICROS  # objective change while cash stays above the reserve
        if gain < -self.eps and cash < 0:
            heapq.heappush(heap, (gain / -cash, i, self.q[i]))

    def improve(self) -> None:
        """Steepest descent over single-share, pair and funded/refilled moves."""
        for _ in range(_MAX_STEPS_BASE + 4 * self.n):
            candidates = [self._best_single()]
            if self.slack >= 0:
                candidates += [self._best_pair(), self._best_funded_buy(), self._best_refill()]
            moves = [c for c in candidates if c is not None]
            if not moves:
                return
            change, plan = min(moves, key=lambda move: move[0])
            if change >= -self.eps:
                return
            for i, q in plan:
                self.set(i, q)

    def _cash_term_change(self, cash: int) -> float:
        return (abs(self.slack + cash) - abs(self.slack)) / MICROS

    def _best_single(self) -> _Move | None:
        best: _Move | None = None
        for i in range(self.n):
            q = self.q[i]
            for move, new_q in ((self.up(i), q + 1), (self.down(i), q - 1)):
                if move is None:
                    continue
                change, cash = move
                if not self.feasible(self.slack + cash, self.buys + (new_q > 0) - (q > 0)):
                    continue
                total = change + self._cash_term_change(cash)
                if best is None or total < best[0]:
                    best = (total, [(i, new_q)])
        return best

    def _best_pair(self) -> _Move | None:
        """Best "one share less of i, one more of j" that keeps cash above the reserve."""
        downs: list[tuple[int, float, int]] = []  # (-cash freed, objective change, line)
        ups: list[tuple[float, int, int]] = []  # (objective change, cash needed, line)
        for i in range(self.n):
            d = self.down(i)
            if d is not None:
                downs.append((-d[1], d[0] + d[1] / MICROS, i))
            u = self.up(i)
            if u is not None:
                ups.append((u[0] + u[1] / MICROS, -u[1], i))
        if not downs or not ups:
            return None
        downs.sort()
        # prefix[k]: the two best (objective change, line) among downs[:k + 1], distinct lines.
        keys = [entry[0] for entry in downs]
        prefix: list[tuple[tuple[float, int], tuple[float, int]]] = []
        first = second = (math.inf, -1)
        for _, change, i in downs:
            if change < first[0]:
                first, second = (change, i), first
            elif change < second[0]:
                second = (change, i)
            prefix.append((first, second))
        best: tuple[float, int, int] | None = None
        for up_change, need, j in ups:
            # Downs freeing at least need - slack: -cash_freed <= slack - need.
            k = bisect_right(keys, self.slack - need) - 1
            if k < 0:
                continue
            first, second = prefix[k]
            pick = first if first[1] != j else second
            if pick[1] < 0:
                continue
            total = up_change + pick[0]
            if best is None or total < best[0]:
                best = (total, pick[1], j)
        if best is None:
            return None
        total, i, j = best
        return total, [(i, self.q[i] - 1), (j, self.q[j] + 1)]

    # -- segments: runs of shares whose drift and cash change per share are constant ---------

    def _segment(self, i: int, step: int) -> _Segment | None:
        """The run of shares from the current trade of line ``i`` in direction ``step``.

        Returns (objective change per share while cash stays above the reserve, cash per share
        (positive: freed), shares in the run, line), or None when the line cannot move.
        """
        q = self.q[i]
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
            cash = -(self.cost[i] if q >= 0 else self.bid[i])
            side = room if q >= 0 else -q
        else:
            cash = self.cost[i] if q > 0 else self.bid[i]
            side = q if q > 0 else room
        run = max(1, min(run, side, room))
        return per_share + cash / MICROS, cash, run, i

    def _segments(self, step: int) -> list[_Segment]:
        found = [self._segment(i, step) for i in range(self.n)]
        return [s for s in found if s is not None and s[1] != 0]

    def _best_funded_buy(self) -> _Move | None:
        """One more share of j, paid by the cheapest drift-per-dollar cuts elsewhere."""
        funding = sorted(self._segments(-1), key=lambda s: (s[0] / s[1], s[3]))
        best: _Move | None = None
        for change, cash, _, j in self._segments(+1):
            need = -cash - self.slack
            if need <= 0:
                continue
            total = change
            plan = [(j, self.q[j] + 1)]
            for cut, freed, run, i in funding:
                if i == j:
                    continue
                shares = min(run, -(-need // freed))
                total += shares * cut
                plan.append((i, self.q[i] - shares))
                need -= shares * freed
                if need <= 0 or (best is not None and total >= best[0]):
                    break
            if need <= 0 and (best is None or total < best[0]):
                best = (total, plan)
        return best

    def _best_refill(self) -> _Move | None:
        """One share less of i, the cash freed spent on the best drift-per-dollar buys."""
        buys = sorted(
            (s for s in self._segments(+1) if s[0] < 0), key=lambda s: (s[0] / -s[1], s[3])
        )
        best: _Move | None = None
        for change, freed, _, i in self._segments(-1):
            budget = self.slack + freed
            total = change
            plan = [(i, self.q[i] - 1)]
            for gain, cash, run, j in buys:
                if j == i or -cash > budget:
                    continue
                shares = min(run, budget // -cash)
                total += shares * gain
                plan.append((j, self.q[j] + shares))
                budget += shares * cash
            if best is None or total < best[0]:
                best = (total, plan)
        return best


def solve(problem: RebalanceProblem) -> list[int]:
    """Whole-share trades (negative sells), one per ``problem.lines`` entry."""
    search = _Search(problem)
    search.start_nearest()
    search.fill()
    search.improve()
    return list(search.q)


def planned_drift(problem: RebalanceProblem, quantities: Sequence[int]) -> Decimal:
    """Exact residual drift of a plan: ``sum |n_s m_s - T_s| + |C' - R|``."""
    cash = problem.cash
    drift = Decimal(0)
    for line, q in zip(problem.lines, quantities, strict=True):
        drift += abs((line.held + q) * line.value_price - line.target_value)
        if q > 0:
            assert line.buy_price is not None
            cash -= q * line.buy_price
        elif q < 0:
            assert line.bid is not None
            cash -= q * line.bid
    return drift + abs(cash - problem.reserve)
