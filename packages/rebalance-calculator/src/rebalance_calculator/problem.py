"""The integer rebalancing problem, built and validated from the calculator's inputs.

Notation (also what ``bench/calculator.py`` hands to an exact MILP solver):

* ``V`` is ``account_snapshot.total_value``; ``R = V * cash_reserve_percent / 100`` is the cash
  reserve; ``C`` is ``account_snapshot.cash_balance``.
* Allocations ``a_s`` are scaled to sum to exactly 1 (they must already sum to 1 +/- 0.01), and
  the target value of symbol ``s`` is ``T_s = a_s * (V - R)``. A held symbol absent from the
  targets has ``T_s = 0`` (it is liquidated).
* ``m_s``, the valuation price, is the position's ``market_price`` when held and positive, else
  the quote's mid ``(bid + ask) / 2`` when both are positive, else ``last``, else ``close``.
* ``h_s`` is the held quantity (a ``Decimal``: brokers may report fractions). Only whole shares
  trade, so at most ``floor(h_s)`` shares can be sold; nothing is ever sold short.
* A trade of ``q_s`` shares (an integer; negative sells) leaves ``n_s = h_s + q_s`` shares. A sell
  raises ``|q_s| * bid_s``; a buy costs ``q_s * buy_price_s`` where ``buy_price_s`` is
  ``ask_s * 1.005`` rounded half-up to the cent (the seed's ``Trade.price`` rule).
* Cash after the trades is ``C' = C + sell proceeds - buy cost``. When anything is bought,
  ``C' >= R`` must hold, so the buys never spend cash that the sells did not raise or that the
  reserve keeps.
* Each order pays an estimated commission ``k_s(q_s)`` (:mod:`.commissions`: the account's
  schedule, per-order minimums included; ``k_s(0) = 0``). When anything is bought,
  ``C' - sum_s k_s >= R`` must hold: the reserve survives the commissions too.
* The objective is the residual drift plus what the trades cost:
  ``sum_s |n_s * m_s - T_s| + |C' - R| + sum_s spread_s + sum_s k_s``, where ``spread_s`` is
  what the trade pays against the valuation price (``q_s * (buy_price_s - m_s)`` for a buy,
  ``|q_s| * (m_s - bid_s)`` for a sell). ``C'`` is taken before commissions so that a
  commission counts once, as a cost, and never as "leftover cash put to work".

This module only builds the problem (exact ``Decimal`` values per symbol) and rejects inputs
from which no safe plan can be computed; :mod:`rebalance_calculator.optimizer` solves it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import NamedTuple

from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    CommissionScheduleName,
    ContractPrice,
    InvalidInputError,
)
from broker_connector_base.types import to_cents

from rebalance_calculator.commissions import (
    ZERO,
    CommissionModel,
    commission_model,
    resolve_commission_schedule,
)

__all__ = [
    "ALLOCATION_SUM_TOLERANCE",
    "BUY_PRICE_BUFFER",
    "ProblemLine",
    "RebalanceProblem",
    "build_problem",
    "buy_price",
    "valuation_price",
]

ALLOCATION_SUM_TOLERANCE = Decimal("0.01")
"""Allocations must sum to 1 within this tolerance (they are then scaled to exactly 1)."""

BUY_PRICE_BUFFER = Decimal("1.005")
"""Buys are planned at ``ask * 1.005`` so that a market order's cost stays within the plan."""

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class ProblemLine(NamedTuple):
    """One symbol of the problem (an immutable named tuple: the calculator builds one per
    symbol of every plan, at a third of a frozen dataclass's cost).

    Attributes:
        symbol: The ticker.
        held: ``h_s``, the shares held now (may be fractional; negative is a short position).
        value_price: ``m_s``, the price the position is valued at.
        target_value: ``T_s``.
        bid: The sell price, or ``None`` when the quote has no positive bid.
        buy_price: ``round_cent(ask * 1.005)``, or ``None`` when there is no positive ask.
        max_sell: Whole shares that may be sold (``floor(held)``, 0 when none or short).
        frozen: True when a threshold (the drift band) leaves the symbol untouched.
        no_sell: True when the held shares must not be sold now (bought earlier the same
            trading day: selling them would be a day trade, or a good-faith violation in a
            cash account). The symbol may still be bought.
        no_buy: True when the symbol must not be bought now (the same rebalance run sold it:
            buying it back only pays the spread and commissions twice). It may still be sold.
    """

    symbol: str
    held: Decimal
    value_price: Decimal
    target_value: Decimal
    bid: Decimal | None
    buy_price: Decimal | None
    max_sell: int
    frozen: bool = False
    no_sell: bool = False
    no_buy: bool = False

    @property
    def current_value(self) -> Decimal:
        """``h_s * m_s``."""
        return self.held * self.value_price

    @property
    def min_quantity(self) -> int:
        """Most negative trade allowed: ``-max_sell`` when the symbol can be sold, else 0."""
        return 0 if self.frozen or self.no_sell or self.bid is None else -self.max_sell

    @property
    def max_quantity(self) -> int | None:
        """Largest trade allowed; ``None`` when buys are unbounded (but for the cash).

        A symbol without a target (``T_s = 0``) is liquidated: its trade is exactly
        ``min_quantity``. A frozen symbol, or one without a positive ask, is not bought.
        """
        if self.target_value == 0:
            return self.min_quantity
        return None if self.can_buy else 0

    @property
    def can_buy(self) -> bool:
        """True when the symbol may be bought (a positive ask, a target, not frozen or
        ``no_buy``)."""
        return (
            not self.frozen
            and not self.no_buy
            and self.buy_price is not None
            and self.target_value > 0
        )


@dataclass(frozen=True, slots=True)
class RebalanceProblem:
    """The whole integer problem. ``lines`` are sorted by symbol; ``commissions`` prices orders."""

    total_value: Decimal
    reserve: Decimal
    cash: Decimal
    lines: tuple[ProblemLine, ...]
    warnings: tuple[str, ...] = ()
    commissions: CommissionModel = ZERO

    @property
    def budget(self) -> Decimal:
        """``C - R``: cash available for buys before any sell (may be negative)."""
        return self.cash - self.reserve


def buy_price(ask: Decimal) -> Decimal:
    """The planned buy price: ``ask * 1.005`` rounded half-up to the cent."""
    return to_cents(ask * BUY_PRICE_BUFFER)


def _positive(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value > 0 else None


def valuation_price(
    position: AccountPosition | None, quote: ContractPrice | None
) -> Decimal | None:
    """``m_s``: market price of a held position, else quote mid, else last, else close."""
    if position is not None and position.market_price > 0:
        return position.market_price
    if quote is None:
        return None
    bid, ask = _positive(quote.bid), _positive(quote.ask)
    if bid is not None and ask is not None:
        return (bid + ask) / 2
    return _positive(quote.last) or _positive(quote.close)


def _index_allocations(items: Sequence[AllocationItem]) -> tuple[dict[str, Decimal], Decimal]:
    """Positive weights by symbol, and the sum the targets are scaled by."""
    weights: dict[str, Decimal] = {}
    duplicates: list[str] = []
    for item in items:
        if item.symbol in weights:
            duplicates.append(item.symbol)
        weights[item.symbol] = item.allocation
    if duplicates:
        raise InvalidInputError(
            f"symbols appear more than once: {', '.join(sorted(set(duplicates)))}",
            source="allocations",
        )
    if not weights:
        return weights, Decimal(1)  # an empty list means "liquidate everything"
    total = sum(weights.values(), _ZERO)
    if abs(total - 1) > ALLOCATION_SUM_TOLERANCE:
        raise InvalidInputError(
            f"allocations sum to {total}, not 1 (tolerance {ALLOCATION_SUM_TOLERANCE})",
            source="allocations",
        )
    # Multiply before dividing (in the caller) so 0.333 / 0.999 of 3000 is exactly 1000.
    return {symbol: weight for symbol, weight in weights.items() if weight > 0}, total


def _index_quotes(quotes: Sequence[ContractPrice]) -> dict[str, ContractPrice]:
    indexed: dict[str, ContractPrice] = {}
    duplicates: list[str] = []
    for quote in quotes:
        if quote.symbol in indexed:
            duplicates.append(quote.symbol)
        indexed[quote.symbol] = quote
    if duplicates:
        raise InvalidInputError(
            f"more than one quote for: {', '.join(sorted(set(duplicates)))}",
            source="market prices",
        )
    return indexed


@dataclass(frozen=True, slots=True)
class _Inputs:
    investable: Decimal
    weight_sum: Decimal
    band_value: Decimal
    weights: dict[str, Decimal]
    positions: dict[str, AccountPosition]
    quotes: dict[str, ContractPrice]
    no_sell: frozenset[str]
    no_buy: frozenset[str]


def _line(symbol: str, inputs: _Inputs, errors: list[str]) -> ProblemLine | None:
    """Build one line, appending to ``errors`` when a price the plan needs is missing."""
    position = inputs.positions.get(symbol)
    quote = inputs.quotes.get(symbol)
    held = position.quantity if position is not None else _ZERO
    target = inputs.weights.get(symbol, _ZERO) * inputs.investable / inputs.weight_sum
    price = valuation_price(position, quote)
    if price is None:
        fields = "no quote" if quote is None else f"quote {_describe(quote)}"
        errors.append(f"{symbol}: no positive price to value it ({fields})")
        return None
    bid = _positive(quote.bid) if quote is not None else None
    ask = _positive(quote.ask) if quote is not None else None
    current = held * price
    frozen = inputs.band_value > 0 and abs(current - target) <= inputs.band_value
    max_sell = max(0, math.floor(held))
    no_sell = symbol in inputs.no_sell
    if not frozen:
        # The nearest whole-share trade shows which side the symbol must trade on; the price
        # for that side must exist (a plan is never computed at a guessed price). The other
        # side is merely not offered to the optimiser when its price is missing.
        needed = max(-max_sell, _nearest_int((target - current) / price))
        if needed < 0 and bid is None and not no_sell:
            errors.append(
                f"{symbol}: must sell about {-needed} share(s) but bid is "
                f"{_field(quote, 'bid')}; a positive bid is required"
            )
        if needed > 0 and ask is None and symbol not in inputs.no_buy:
            errors.append(
                f"{symbol}: must buy about {needed} share(s) but ask is "
                f"{_field(quote, 'ask')}; a positive ask is required"
            )
    return ProblemLine(
        symbol=symbol,
        held=held,
        value_price=price,
        target_value=target,
        bid=bid,
        buy_price=buy_price(ask) if ask is not None else None,
        max_sell=max_sell,
        frozen=frozen,
        no_sell=no_sell,
        no_buy=symbol in inputs.no_buy,
    )


def _nearest_int(value: Decimal) -> int:
    return int((value + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR))


def _field(quote: ContractPrice | None, name: str) -> str:
    return "missing (no quote)" if quote is None else repr(getattr(quote, name))


def _describe(quote: ContractPrice) -> str:
    return f"bid={quote.bid} ask={quote.ask} last={quote.last} close={quote.close}"


def build_problem(
    *,
    account_snapshot: AccountSnapshot,
    target_allocations: Sequence[AllocationItem],
    market_prices: Sequence[ContractPrice],
    account_config: AccountConfig,
    no_sell_symbols: Collection[str] = (),
    commission_schedule: CommissionScheduleName | None = None,
    no_buy_symbols: Collection[str] = (),
) -> RebalanceProblem:
    """Validate the inputs and build the integer problem.

    ``no_sell_symbols`` are held symbols that must not be sold now (see ``ProblemLine.no_sell``),
    ``no_buy_symbols`` symbols that must not be bought now (``ProblemLine.no_buy``).
    Orders are priced with ``commission_schedule``, else the account's, else its broker's
    default (:func:`.commissions.resolve_commission_schedule`).

    Raises:
        InvalidInputError: Allocations that do not sum to 1 +/- 0.01 (an empty list is allowed
            and liquidates everything), duplicate symbols in allocations or quotes, a
            non-positive account value, a symbol that must trade without the price it needs
            (every such symbol is named in one message, with the offending field and value),
            or an account without a commission schedule whose broker has no default.
    """
    commissions = commission_model(resolve_commission_schedule(account_config, commission_schedule))
    total_value = account_snapshot.total_value
    if total_value <= 0:
        raise InvalidInputError(
            f"total_value is {total_value}; a positive account value is required",
            source="account snapshot",
        )
    weights, weight_sum = _index_allocations(target_allocations)
    quotes = _index_quotes(market_prices)
    reserve = total_value * account_config.cash_reserve_percent / _HUNDRED
    inputs = _Inputs(
        investable=total_value - reserve,
        weight_sum=weight_sum,
        band_value=total_value * account_config.drift_band_percent / _HUNDRED,
        weights=weights,
        positions={p.symbol: p for p in account_snapshot.positions if p.quantity != 0},
        quotes=quotes,
        no_sell=frozenset(no_sell_symbols),
        no_buy=frozenset(no_buy_symbols),
    )
    errors: list[str] = []
    lines = []
    for symbol in sorted(inputs.positions.keys() | weights.keys()):
        line = _line(symbol, inputs, errors)
        if line is not None:
            lines.append(line)
    if errors:
        raise InvalidInputError("; ".join(errors), source="market prices")
    return RebalanceProblem(
        total_value=total_value,
        reserve=reserve,
        cash=account_snapshot.cash_balance,
        lines=tuple(lines),
        warnings=tuple(_snapshot_warnings(account_snapshot, lines)),
        commissions=commissions,
    )


def _snapshot_warnings(snapshot: AccountSnapshot, lines: Sequence[ProblemLine]) -> list[str]:
    warnings: list[str] = []
    components = snapshot.cash_balance + sum((line.current_value for line in lines), _ZERO)
    gap = components - snapshot.total_value
    if abs(gap) > snapshot.total_value / _HUNDRED:
        warnings.append(
            f"account total_value {snapshot.total_value} differs from cash plus positions "
            f"{components.quantize(Decimal('0.01'))} by more than 1%; targets use total_value"
        )
    for line in lines:
        if line.target_value == 0 and line.held > line.max_sell and line.held > 0:
            warnings.append(
                f"{line.symbol}: {line.held - line.max_sell} fractional share(s) cannot be "
                "sold as whole shares and stay in the account"
            )
        if line.held < 0:
            warnings.append(f"{line.symbol}: short position of {line.held} shares")
        if line.no_sell and line.max_sell > 0 and _overweight_by_a_share(line):
            warnings.append(
                f"{line.symbol}: over its target, but bought earlier today; it is not sold "
                "before the next trading day (selling would be a day trade)"
            )
    return warnings


def _overweight_by_a_share(line: ProblemLine) -> bool:
    return line.current_value - line.target_value >= line.value_price
