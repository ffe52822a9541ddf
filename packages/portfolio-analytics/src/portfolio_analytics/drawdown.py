"""Maximum drawdown of each row of a growth index, with its peak, trough and recovery dates.

The drawdown at ``t`` is ``g_t / max_{s<=t} g_s - 1`` with the leading 1.0 as the first peak
(empyrical anchors its index the same way); a fall within ``DRAWDOWN_NOISE`` counts as standing
at the peak. Trough: first date within ``DRAWDOWN_NOISE`` of the deepest fall. Peak: last date
before the trough standing at its running peak. Recovery: first date after the trough standing
at its running peak again (before it the running peak is the peak level, so that is the first
date back at the peak level).

Two implementations give identical results (a property test holds them to it): ``_full`` runs
the running maximum over every date; ``_blocked``, for large batches, first bounds the
deepest fall of each block of ``BLOCK`` dates from block minima and maxima, and runs the exact
computation only in the blocks that can hold it (about one per account on market data). The
running maximum is numpy's slowest step here (it does not vectorise), so this makes the whole
batch about a quarter faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["BLOCK", "DRAWDOWN_NOISE", "NO_INDEX", "Drawdowns", "max_drawdowns"]

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]

DRAWDOWN_NOISE = 1.0e-12
"""A fall smaller than this fraction of the peak is rounding noise of the growth index (a
deposit changes how the index is computed), not a drawdown: on a $10 billion account it is
less than a cent."""
NO_INDEX = -1
"""Stands for "no such date" in the position arrays."""
BLOCK = 64
"""Dates per block of the blocked computation."""


@dataclass(frozen=True)
class Drawdowns:
    """Deepest drawdown of each row; positions are columns of the growth index (dates)."""

    depth: Floats
    peak: Ints
    trough: Ints
    recovery: Ints


def max_drawdowns(growth: Floats) -> Drawdowns:
    """The deepest drawdown of each row of ``growth`` ``(m, dates)``."""
    m, width = growth.shape
    if m >= 4 and width >= 8 * BLOCK:
        blocked = _blocked(growth)
        if blocked is not None:
            return blocked
    return _full(growth)


def _result(depth: Floats, peak: Ints, trough: Ints, recovery: Ints) -> Drawdowns:
    none = depth == 0.0
    return Drawdowns(
        depth=np.clip(depth, 0.0, 1.0),
        peak=np.where(none, NO_INDEX, peak),
        trough=np.where(none, NO_INDEX, trough),
        recovery=np.where(none, NO_INDEX, recovery),
    )


def _full(growth: Floats) -> Drawdowns:
    width = growth.shape[1]
    # fmax: as empyrical; faster than maximum, and the growth holds no NaN.
    drawdown = np.fmax.accumulate(growth, axis=1)
    np.divide(growth, drawdown, out=drawdown)
    drawdown -= 1.0
    at_peak = drawdown > -DRAWDOWN_NOISE
    deepest = drawdown.min(axis=1)
    deepest[deepest > -DRAWDOWN_NOISE] = 0.0
    trough = (drawdown <= (deepest + DRAWDOWN_NOISE)[:, None]).argmax(axis=1)
    after = np.arange(width) > trough[:, None]
    recovered = at_peak & after
    recovery = np.where(recovered.any(axis=1), recovered.argmax(axis=1), NO_INDEX)
    before = at_peak & ~after
    peak = width - 1 - before[:, ::-1].argmax(axis=1)
    return _result(-deepest, peak, trough, recovery)


def _gather(growth: Floats, rows: Ints, starts: Ints) -> tuple[Floats, Ints]:
    """``(k, BLOCK)`` values of the blocks starting at ``starts`` in ``rows``, and their columns.

    Columns past the last date repeat the last value: a repeat comes after the real value, so
    every "first position where" search finds the real one.
    """
    columns = np.minimum(starts[:, None] + np.arange(BLOCK), growth.shape[1] - 1)
    return growth[rows[:, None], columns], columns


def _first_per_row(rows: Ints) -> Ints:
    """Index of the first entry of each row in ``rows`` (sorted by row)."""
    return np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])


def _blocked(growth: Floats) -> Drawdowns | None:
    """The same as ``_full``; ``None`` when too few rows or too many blocks make it pay.

    In block ``j`` the running peak lies between the peak entering the block and the peak at
    its end, so the block's deepest fall is between ``block_min / peak_at_end - 1`` and
    ``block_min / peak_entering - 1``. The deepest of the latter bounds the row's deepest fall;
    only blocks whose former can reach it are computed exactly. Rows whose bound does not show
    a fall beyond noise (a rising account, or a fall inside one block from a new high) go
    through ``_full``.
    """
    m, width = growth.shape
    starts = np.arange(0, width, BLOCK)
    block_max = np.maximum.reduceat(growth, starts, axis=1)
    block_min = np.minimum.reduceat(growth, starts, axis=1)
    peak_at_end = np.fmax.accumulate(block_max, axis=1)
    peak_entering = np.empty_like(peak_at_end)
    peak_entering[:, 0] = growth[:, 0]
    peak_entering[:, 1:] = peak_at_end[:, :-1]
    bound = (block_min / peak_entering - 1.0).min(axis=1)
    easy = np.flatnonzero(bound <= -2.0 * DRAWDOWN_NOISE)
    candidates = (
        block_min[easy] / peak_at_end[easy] - 1.0 <= (bound[easy] + DRAWDOWN_NOISE)[:, None]
    )
    entries, blocks = np.nonzero(candidates)
    if 2 * len(easy) < m or 4 * len(entries) > m * len(starts):
        return None
    rows = easy[entries]
    values, columns = _gather(growth, rows, starts[blocks])
    running = np.fmax.accumulate(values, axis=1)
    np.fmax(running, peak_entering[rows, blocks][:, None], out=running)
    drawdown = values / running - 1.0
    # Every easy row has a candidate: the block giving its bound.
    deepest = np.minimum.reduceat(drawdown.min(axis=1), _first_per_row(entries))
    hit = drawdown <= (deepest[entries] + DRAWDOWN_NOISE)[:, None]
    holding = np.flatnonzero(hit.any(axis=1))
    chosen = holding[_first_per_row(entries[holding])]  # per easy row, the trough's block
    position = hit[chosen].argmax(axis=1)
    level = running[chosen, position]
    at_peak = drawdown[chosen] > -DRAWDOWN_NOISE
    inside = np.arange(BLOCK)
    search = _Search(growth, starts, block_max, easy, blocks[chosen], level)
    depth, peak = np.empty(m), np.empty(m, np.intp)
    trough, recovery = np.empty(m, np.intp), np.empty(m, np.intp)
    depth[easy] = -deepest
    trough[easy] = columns[chosen, position]
    peak[easy] = search.nearest(at_peak & (inside <= position[:, None]), columns[chosen], last=True)
    recovery[easy] = search.nearest(
        at_peak & (inside > position[:, None]), columns[chosen], last=False
    )
    hard = np.flatnonzero(bound > -2.0 * DRAWDOWN_NOISE)
    if len(hard):
        rest = _full(growth[hard])
        depth[hard], peak[hard] = rest.depth, rest.peak
        trough[hard], recovery[hard] = rest.trough, rest.recovery
    return _result(depth, peak, trough, recovery)


@dataclass(frozen=True)
class _Search:
    """Peak and recovery of the rows ``_blocked`` computed, when not in the trough's block.

    Entry ``i`` is growth row ``rows[i]``. Before the trough's block, the peak is the last date
    at the peak level; after it, the recovery is the first: on both sides of the trough the
    running peak is ``level`` (the running peak at the trough) until the recovery, so a date
    stands at its running peak when ``g / level - 1 > -DRAWDOWN_NOISE``, and a block holds
    such a date when its maximum does.
    """

    growth: Floats
    starts: Ints
    block_max: Floats
    rows: Ints
    trough_block: Ints
    level: Floats

    def nearest(self, in_trough_block: NDArray[np.bool_], columns: Ints, *, last: bool) -> Ints:
        """Per entry: the last (``last``) or first date marked in the trough's block, else
        the date at the peak level nearest to it before (``last``) or after the block."""
        found = in_trough_block.any(axis=1)
        position = _last(in_trough_block) if last else in_trough_block.argmax(axis=1)
        result = np.where(found, columns[np.arange(len(columns)), position], NO_INDEX)
        missing = np.flatnonzero(~found)
        if len(missing):
            result[missing] = self._outside(missing, last=last)
        return result

    def _outside(self, entries: Ints, *, last: bool) -> Ints:
        rows = self.rows[entries]
        level = self.level[entries][:, None]
        index = np.arange(self.block_max.shape[1])
        trough_block = self.trough_block[entries][:, None]
        side = index < trough_block if last else index > trough_block
        holds = (self.block_max[rows] / level - 1.0 > -DRAWDOWN_NOISE) & side
        block = _last(holds) if last else holds.argmax(axis=1)
        values, columns = _gather(self.growth, rows, self.starts[block])
        at_level = values / level - 1.0 > -DRAWDOWN_NOISE
        position = _last(at_level) if last else at_level.argmax(axis=1)
        found = columns[np.arange(len(rows)), position]
        return np.where(holds.any(axis=1), found, NO_INDEX)


def _last(marks: NDArray[np.bool_]) -> Ints:
    """Column of the last ``True`` of each row (of the last column when none)."""
    position: Ints = marks.shape[1] - 1 - marks[:, ::-1].argmax(axis=1)
    return position
