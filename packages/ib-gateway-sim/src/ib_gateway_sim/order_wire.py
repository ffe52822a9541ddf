"""placeOrder (3) as ``ib_async`` writes it at server version 178, read field by field.

The fixed part (order id to ``hidden``, indices 1-34) never moves; after it, several blocks
are present only when a field before them says so (BAG legs, delta-neutral, scale, hedge,
delta-neutral contract, algo parameters, PEG BENCH). Walking them in the client's order is
the only way to find ``algoStrategy``, its parameters and ``whatIf`` at the right index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from ib_gateway_sim.wire import dec, integer

__all__ = ["PlacedOrder", "parse_place_order"]

# Blocks of always-present fields, by their length, between the conditional ones.
_AFTER_HIDDEN = 7  # "", discretionaryAmt, goodAfterTime, goodTillDate, faGroup/Method/Percentage
_BEFORE_DELTA_NEUTRAL = 22  # modelCode .. volatilityType
_BEFORE_SCALE_INCREMENT = 6  # continuousUpdate .. scaleSubsLevelSize
_SCALE_EXTRA = 7
_BEFORE_HEDGE = 3  # scaleTable, activeStartTime, activeStopTime
_BEFORE_DNC = 4  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
_PEG_BENCH_EXTRA = 5


@dataclass(frozen=True)
class PlacedOrder:
    """What the simulator reads from one placeOrder message."""

    order_id: int
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    action: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    outside_rth: bool
    algo_strategy: str
    algo_params: tuple[tuple[str, str], ...]
    what_if: bool
    condition_count: int


class _Cursor:
    def __init__(self, fields: list[str], start: int) -> None:
        self._fields: Iterator[str] = iter(fields[start:])

    def take(self) -> str:
        return next(self._fields)

    def skip(self, count: int) -> None:
        for _ in range(count):
            next(self._fields)


def _skip_combo_blocks(cursor: _Cursor) -> None:
    cursor.skip(8 * int(cursor.take()))  # contract legs
    cursor.skip(int(cursor.take()))  # order combo leg prices
    cursor.skip(2 * int(cursor.take()))  # smart combo routing params


def _skip_to_algo(cursor: _Cursor) -> None:
    cursor.skip(_AFTER_HIDDEN + _BEFORE_DELTA_NEUTRAL)
    if cursor.take():  # deltaNeutralOrderType
        cursor.skip(9)  # deltaNeutralAuxPrice + 8 delta-neutral fields
    else:
        cursor.skip(1)
    cursor.skip(_BEFORE_SCALE_INCREMENT)
    # dec() reads "" and TWS's UNSET_DOUBLE as unset: only a real increment adds the block.
    increment = dec(cursor.take(), Decimal(0)) or Decimal(0)
    if increment > 0:
        cursor.skip(_SCALE_EXTRA)
    cursor.skip(_BEFORE_HEDGE)
    if cursor.take():  # hedgeType
        cursor.skip(1)
    cursor.skip(_BEFORE_DNC)
    if cursor.take() == "1":  # delta-neutral contract
        cursor.skip(3)


def parse_place_order(fields: list[str]) -> PlacedOrder:
    """Read a placeOrder message.

    Raises:
        ValueError: the message is shorter or other than ib_async writes it.
    """
    try:
        return _parse(fields)
    except StopIteration:
        raise ValueError(f"placeOrder message ends early ({len(fields)} fields)") from None


def _parse(fields: list[str]) -> PlacedOrder:
    sec_type, order_type = fields[4], fields[18]
    cursor = _Cursor(fields, 35)
    if sec_type == "BAG":
        _skip_combo_blocks(cursor)
    _skip_to_algo(cursor)
    algo = cursor.take()
    params: list[tuple[str, str]] = []
    if algo:
        for _ in range(int(cursor.take())):
            params.append((cursor.take(), cursor.take()))
    cursor.skip(1)  # algoId
    what_if = cursor.take() == "1"
    cursor.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if order_type in ("PEG BENCH", "PEGBENCH"):
        cursor.skip(_PEG_BENCH_EXTRA)
    conditions = int(cursor.take() or "0")
    return PlacedOrder(
        order_id=int(fields[1]),
        con_id=integer(fields[2]),
        symbol=fields[3],
        sec_type=sec_type,
        exchange=fields[9],
        action=fields[16],
        quantity=Decimal(fields[17] or "0"),
        order_type=order_type,
        limit_price=dec(fields[19]),
        tif=fields[21],
        account=fields[23],
        order_ref=fields[26],
        transmit=fields[27] != "0",
        outside_rth=fields[33] == "1",
        algo_strategy=algo,
        algo_params=tuple(params),
        what_if=what_if,
        condition_count=conditions,
    )
