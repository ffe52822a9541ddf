"""Improving moves of the local search, found in ``O(n log n)`` each.

All functions work while cash stays at or above the reserve (``slack >= 0`` before and after the
move), where the objective is linear in the cash: a share's objective change is its drift change
plus the cash it frees (leftover cash counts as drift) or minus the cash it spends.

A *segment* is a run of shares of one line, from its current trade in one direction, over which
the objective change and the cash per share are constant (the drift of a line is piecewise
linear in its shares, and the cash price switches between ask and bid at zero).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

__all__ = ["Move", "Segment", "best_funded_buy", "best_pair", "best_refill", "best_single"]

Segment = tuple[float, int, int, int]
"""(objective change per share, cash per share in micros (> 0), shares in the run, line).

For "one share less" segments the cash is freed; for "one share more" segments it is spent.
"""

Move = tuple[float, list[tuple[int, int]]]
"""(objective change, [(line, change in shares), ...])."""

_LOOKAHEAD = 8


def best_single(downs: Sequence[Segment], ups: Sequence[Segment], slack: int) -> Move | None:
    """The best one-share change that keeps cash at or above the reserve."""
    best: Move | None = None
    for change, _, _, i in downs:
        if best is None or change < best[0]:
            best = (change, [(i, -1)])
    for change, cash, _, j in ups:
        if cash <= slack and (best is None or change < best[0]):
            best = (change, [(j, 1)])
    return best


def best_pair(downs: Sequence[Segment], ups: Sequence[Segment], slack: int) -> Move | None:
    """Best "one share less of i, one share more of j" (i != j) that stays affordable."""
    if not downs or not ups:
        return None
    ordered = sorted(downs, key=lambda s: (-s[1], s[3]))  # most cash freed first
    keys = [-s[1] for s in ordered]
    # prefix[k]: the two best (change, line) among ordered[:k + 1], on distinct lines.
    prefix: list[tuple[tuple[float, int], tuple[float, int]]] = []
    first = second = (math.inf, -1)
    for change, _, _, i in ordered:
        if change < first[0]:
            first, second = (change, i), first
        elif change < second[0]:
            second = (change, i)
        prefix.append((first, second))
    best: tuple[float, int, int] | None = None
    for change, cost, _, j in ups:
        # Eligible downs free at least cost - slack, i.e. -freed <= slack - cost.
        k = bisect_right(keys, slack - cost) - 1
        if k < 0:
            continue
        first, second = prefix[k]
        pick = first if first[1] != j else second
        total = change + pick[0]
        if pick[1] >= 0 and (best is None or total < best[0]):
            best = (total, pick[1], j)
    if best is None:
        return None
    return best[0], [(best[1], -1), (best[2], 1)]


def _prefix(segments: Sequence[Segment]) -> tuple[list[int], list[float], dict[int, int]]:
    """Cumulative cash and objective of whole segments, and each line's position."""
    cash = [0]
    change = [0.0]
    for per_share, per_cash, run, _ in segments:
        cash.append(cash[-1] + run * per_cash)
        change.append(change[-1] + run * per_share)
    position: dict[int, int] = {}
    for k, segment in enumerate(segments):
        position.setdefault(segment[3], k)  # a line's first segment comes first
    return cash, change, position


def best_funded_buy(downs: Sequence[Segment], ups: Sequence[Segment], slack: int) -> Move | None:
    """One more share of j, paid for by the cheapest cuts (drift per dollar) elsewhere.

    This is the move that lets an expensive share in when the leftover cash alone cannot pay
    for it: fewer shares of cheap lines (or one more share sold) make room. The cuts are the
    cheapest segments per dollar taken whole, then the remainder from whichever of the next
    few segments covers it at the lowest cost (the cheapest per dollar may be a lump).
    """
    # Stable sort: a line's segments keep their order (their cost per dollar only rises).
    funding = sorted(downs, key=lambda s: (s[0] / s[1], s[3]))
    freed, cost, position = _prefix(funding)
    best: tuple[float, int, int, int, int] | None = None  # (total, j, k, last, shares)
    slow: Move | None = None
    for change, price, _, j in ups:
        need = price - slack
        if need <= 0:
            continue  # affordable alone: a single move
        k = bisect_left(freed, need) - 1  # whole segments funding[:k], then the remainder
        if k >= len(funding):
            continue
        if position.get(j, len(funding)) <= k:
            move = _funded_slowly(funding, change, need, j)
            if move is not None and (slow is None or move[0] < slow[0]):
                slow = move
            continue
        # Lower bound on the remainder: segments from k on cost at least funding[k]'s ratio
        # per dollar (they are sorted by it), and they free at least the remainder.
        ratio = funding[k][0] / funding[k][1]
        remainder_bound = ratio * (need - freed[k]) if ratio >= 0 else -math.inf
        if change + cost[k] + remainder_bound >= (0.0 if best is None else best[0]):
            continue
        last, shares, remainder = _cover(funding, k, need - freed[k], j)
        total = change + cost[k] + remainder
        if best is None or total < best[0]:
            best = (total, j, k, last, shares)
    if best is None:
        return slow
    total, j, k, last, shares = best
    if slow is not None and slow[0] < total:
        return slow
    plan = [(j, 1), *((s[3], -s[2]) for s in funding[:k]), (funding[last][3], -shares)]
    return total, plan


def _cover(funding: Sequence[Segment], k: int, need: int, j: int) -> tuple[int, int, float]:
    """Cheapest (segment, shares, objective) among funding[k:k + 8] freeing ``need``.

    A segment qualifies when no earlier segment of its line is left out (they apply in order)
    and it is not line ``j``'s. ``funding[k]`` alone always qualifies and covers ``need``.
    """
    per_share, per_cash, _, _ = funding[k]
    shares = -(-need // per_cash)
    choice = (k, shares, shares * per_share)
    skipped = {funding[k][3], j}
    for t in range(k + 1, min(len(funding), k + _LOOKAHEAD)):
        per_share, per_cash, run, line = funding[t]
        shares = -(-need // per_cash)
        if line not in skipped and shares <= run and shares * per_share < choice[2]:
            choice = (t, shares, shares * per_share)
        skipped.add(line)
    return choice


def _funded_slowly(funding: Sequence[Segment], change: float, need: int, j: int) -> Move | None:
    total = change
    plan = [(j, 1)]
    for per_share, per_cash, run, i in funding:
        if i == j:
            continue
        shares = min(run, -(-need // per_cash))
        total += shares * per_share
        plan.append((i, -shares))
        need -= shares * per_cash
        if need <= 0:
            return total, plan
    return None


def best_refill(downs: Sequence[Segment], ups: Sequence[Segment], slack: int) -> Move | None:
    """One share less of i, the cash freed (with the leftover) spent on the best buys.

    This is the move that trades one expensive share for several cheaper ones that fit better.
    """
    buys = sorted((s for s in ups if s[0] < 0), key=lambda s: (s[0] / s[1], s[3]))
    spent, gained, position = _prefix(buys)
    best: tuple[float, int, int, int] | None = None  # (total, i, k, shares of buys[k])
    slow: Move | None = None
    for change, freed, _, i in downs:
        budget = slack + freed
        k = bisect_right(spent, budget) - 1  # whole segments buys[:k], then part of buys[k]
        if position.get(i, len(buys)) <= k:
            move = _refilled_slowly(buys, change, budget, i)
            if slow is None or move[0] < slow[0]:
                slow = move
            continue
        total = change + gained[k]
        shares = (budget - spent[k]) // buys[k][1] if k < len(buys) else 0
        total += shares * buys[k][0] if shares else 0.0
        if best is None or total < best[0]:
            best = (total, i, k, shares)
    if best is None:
        return slow
    total, i, k, shares = best
    if slow is not None and slow[0] < total:
        return slow
    plan = [(i, -1), *((s[3], s[2]) for s in buys[:k])]
    if shares:
        plan.append((buys[k][3], shares))
    return total, plan


def _refilled_slowly(buys: Sequence[Segment], change: float, budget: int, i: int) -> Move:
    total = change
    plan = [(i, -1)]
    for per_share, per_cash, run, j in buys:
        if j == i or per_cash > budget:
            continue
        shares = min(run, budget // per_cash)
        total += shares * per_share
        plan.append((j, shares))
        budget -= shares * per_cash
    return total, plan
