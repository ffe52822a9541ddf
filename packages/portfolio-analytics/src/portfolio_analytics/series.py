"""Dated inputs to float arrays: validation, time-weighted returns, benchmark alignment.

Money arrives as ``Decimal`` and is only converted to float64 here, for the maths. Cash flows
are subtracted from the end-of-day value in ``Decimal`` first, so a deposit much larger than the
account does not lose the day's return to float cancellation.
"""

from __future__ import annotations

import logging
import math
import operator
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DatedValues",
    "TimeWeightedSeries",
    "align_on_common_dates",
    "check_dated_values",
    "time_weighted_series",
]

logger = logging.getLogger(__name__)

Floats = NDArray[np.float64]

DatedValues = Sequence[tuple[date, Decimal]]
"""Dated amounts in increasing date order: ``[(date(2024, 1, 2), Decimal("10250.13")), ...]``."""


@dataclass(frozen=True)
class TimeWeightedSeries:
    """One account's values as the maths needs them."""

    dates: tuple[date, ...]
    values: Floats
    """The values as float64."""
    ends: Floats | None
    """``values[1:]`` less the cash flows booked on each date (computed in ``Decimal``);
    ``None`` when no flow is booked."""
    start_value: Decimal
    end_value: Decimal
    net_cash_flow: Decimal


_first = operator.itemgetter(0)
_second = operator.itemgetter(1)


def _float_or_nan(amount: object) -> float:
    try:
        return float(amount)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _to_floats(amounts: Sequence[Decimal | float], name: str) -> Floats:
    """float64 copy of ``amounts``, each checked finite and positive."""
    try:
        floats = np.fromiter(map(float, amounts), dtype=np.float64, count=len(amounts))
    except (TypeError, ValueError):  # a signalling NaN or a non-number: find which
        floats = np.array([_float_or_nan(amount) for amount in amounts], dtype=np.float64)
    bad = ~(np.isfinite(floats) & (floats > 0.0))
    if bad.any():
        i = int(bad.argmax())
        raise ValueError(
            f"{name}[{i}]: value {amounts[i]!r} is not a positive finite number; "
            "returns are ratios of consecutive values, so every value must be > 0"
        )
    return floats


def check_dated_values(
    points: Sequence[tuple[date, Decimal | float]], name: str, *, money: bool = False
) -> tuple[tuple[date, ...], tuple[Decimal | float, ...], Floats]:
    """Split ``points`` into dates, amounts and a float64 copy, refusing bad input.

    Raises:
        ValueError: ``points`` is empty, a date is not after the previous one, a value is not a
            positive finite number, or (``money``) a value is a float rather than a ``Decimal``;
            the message names ``name``, the position and the value.
    """
    if len(points) == 0:
        raise ValueError(f"{name} is empty: at least one dated value is needed")
    dates = tuple(map(_first, points))
    amounts = tuple(map(_second, points))
    if money and any(issubclass(kind, float) for kind in set(map(type, amounts))):
        i = next(i for i, amount in enumerate(amounts) if isinstance(amount, float))
        raise ValueError(f"{name}[{i}]: value {amounts[i]!r} is a float; money must be a Decimal")
    if not all(map(operator.lt, dates, dates[1:])):
        i = next(i for i in range(1, len(dates)) if not dates[i - 1] < dates[i])
        raise ValueError(
            f"{name}[{i}]: date {dates[i]} is not after the previous date {dates[i - 1]}; "
            "dates must be strictly increasing (one value per date)"
        )
    return dates, amounts, _to_floats(amounts, name)


def _flows_by_value_date(
    dates: tuple[date, ...], cash_flows: Sequence[tuple[date, Decimal]]
) -> dict[int, Decimal]:
    """Sum the flows on the value date that first includes them (see ``time_weighted_series``)."""
    booked: dict[int, Decimal] = {}
    ignored = 0
    for i, (when, amount) in enumerate(cash_flows):
        if not isinstance(amount, Decimal | int) or not Decimal(amount).is_finite():
            raise ValueError(f"cash_flows[{i}] ({when}): amount {amount!r} is not a finite Decimal")
        position = bisect_left(dates, when)
        if position == 0 or position == len(dates):
            ignored += 1
            continue
        booked[position] = booked.get(position, Decimal(0)) + amount
    if ignored:
        logger.debug(
            "%s cash flows outside (%s, %s] ignored: already in the first value or after the last",
            ignored,
            dates[0],
            dates[-1],
        )
    return booked


def time_weighted_series(
    values: DatedValues, cash_flows: Sequence[tuple[date, Decimal]] | None
) -> TimeWeightedSeries:
    """Daily time-weighted returns of an account whose values include deposits and withdrawals.

    Convention: a flow dated ``d`` happens at the END of the value date ``d`` (after the day's
    market move, already inside that day's value, having earned nothing that day). A flow on a
    date without a value (a weekend deposit) is booked on the next value date. So, with ``F_i``
    the flows booked on ``dates[i]``::

        r_i = (V_i - F_i) / V_{i-1} - 1

    Flows dated on or before the first value date are part of the starting value and flows after
    the last value date are in no value: both are ignored.

    Raises:
        ValueError: bad values (see ``check_dated_values``; money must be ``Decimal``), a flow
            that is not a finite ``Decimal``, or a deposit at least as large as that day's whole
            value (the money already there would have lost more than everything).
    """
    dates, amounts, floats = check_dated_values(values, "values", money=True)
    booked = _flows_by_value_date(dates, cash_flows or ())
    ends = floats[1:].copy() if booked else None
    for position, flow in booked.items():
        before_flow = Decimal(amounts[position]) - flow
        if before_flow <= 0:
            raise ValueError(
                f"cash_flows: {flow} booked on {dates[position]} is not less than that day's "
                f"value {amounts[position]}; a flow is counted at the end of its day, so the "
                "value without it must stay positive"
            )
        ends[position - 1] = float(before_flow)  # type: ignore[index]
    return TimeWeightedSeries(
        dates=dates,
        values=floats,
        ends=ends,
        start_value=Decimal(amounts[0]),
        end_value=Decimal(amounts[-1]),
        net_cash_flow=sum(booked.values(), Decimal(0)),
    )


def align_on_common_dates(
    dates: tuple[date, ...],
    returns: Floats,
    growth: Floats,
    benchmark: Sequence[tuple[date, Decimal | float]],
) -> tuple[tuple[date, ...], Floats, Floats]:
    """Common dates, then account and benchmark returns between consecutive common dates.

    ``returns`` and ``growth`` are the account's time-weighted returns and growth index on
    ``dates``. Sampling the growth at
    the common dates compounds the account's returns over dates the benchmark lacks, and the
    benchmark's ratio of values does the same over dates the account lacks, so both returns of
    a pair span the same interval. With identical dates the account's own returns are used.

    Raises:
        ValueError: bad benchmark values (see ``check_dated_values``).
    """
    bench_dates, _, bench_values = check_dated_values(benchmark, "benchmark")
    bench_returns: Floats
    if bench_dates == dates:
        bench_returns = bench_values[1:] / bench_values[:-1] - 1.0
        return dates, returns, bench_returns
    where = {when: i for i, when in enumerate(dates)}
    pairs = [(when, where[when], j) for j, when in enumerate(bench_dates) if when in where]
    account_index = growth[[i for _, i, _ in pairs]]
    bench_index = bench_values[[j for _, _, j in pairs]]
    account_returns: Floats = account_index[1:] / account_index[:-1] - 1.0
    bench_returns = bench_index[1:] / bench_index[:-1] - 1.0
    return tuple(when for when, _, _ in pairs), account_returns, bench_returns
