"""The exact value of a plan: its cash, its commissions, its residual drift and its objective.

Everything here is exact ``Decimal`` arithmetic on the problem of :mod:`.problem`; the
calculator uses it to check the plan the optimiser found, the benchmark to score plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from rebalance_calculator.problem import ProblemLine, RebalanceProblem

__all__ = [
    "PlanCash",
    "PlanValue",
    "order_commission",
    "plan_cash",
    "plan_value",
    "planned_drift",
    "planned_objective",
    "trade_price",
]

_ZERO = Decimal(0)


def trade_price(line: ProblemLine, quantity: int) -> Decimal:
    """The planned price of a trade: the buy price for a buy, the bid for a sell."""
    price = line.buy_price if quantity > 0 else line.bid
    if price is None:  # the optimiser only trades a side whose price exists
        raise RuntimeError(f"internal error: {line.symbol} traded without a price")
    return price


def order_commission(problem: RebalanceProblem, line: ProblemLine, quantity: int) -> Decimal:
    """The estimated commission of the order ``quantity`` of ``line`` (0 for no order)."""
    if quantity == 0:
        return _ZERO
    return problem.commissions.estimate(quantity, trade_price(line, quantity))


@dataclass(frozen=True, slots=True)
class PlanCash:
    """What a plan leaves in cash and costs in commissions (``PlanValue`` without the drift).

    Attributes:
        cash_before_commissions: ``C'``: cash plus sell proceeds minus buy cost.
        commissions: Sum of the orders' estimated commissions.
        buys: True when the plan buys anything.
        order_commissions: Each line's estimated commission (0 without an order).
    """

    cash_before_commissions: Decimal
    commissions: Decimal
    buys: bool
    order_commissions: tuple[Decimal, ...]

    @property
    def cash_after(self) -> Decimal:
        """Cash once the trades are done and the commissions paid."""
        return self.cash_before_commissions - self.commissions


def plan_cash(problem: RebalanceProblem, quantities: Sequence[int]) -> PlanCash:
    """The exact :class:`PlanCash` of ``quantities`` (one per ``problem.lines`` entry): what
    the calculator checks a plan with (the drift is the search's business)."""
    cash = problem.cash
    orders = []
    for line, q in zip(problem.lines, quantities, strict=True):
        orders.append(order_commission(problem, line, q))
        if q:
            cash -= q * trade_price(line, q)
    return PlanCash(
        cash_before_commissions=cash,
        commissions=sum(orders, _ZERO),
        buys=any(q > 0 for q in quantities),
        order_commissions=tuple(orders),
    )


@dataclass(frozen=True, slots=True)
class PlanValue:
    """What a plan leaves and costs.

    Attributes:
        cash_before_commissions: ``C'``: cash plus sell proceeds minus buy cost.
        commissions: Sum of the orders' estimated commissions.
        spread: What the trades pay against the valuation prices.
        drift: ``sum_s |n_s m_s - T_s| + |C' - R|``.
        buys: True when the plan buys anything.
        order_commissions: Each line's estimated commission (0 without an order).
    """

    cash_before_commissions: Decimal
    commissions: Decimal
    spread: Decimal
    drift: Decimal
    buys: bool
    order_commissions: tuple[Decimal, ...]

    @property
    def cash_after(self) -> Decimal:
        """Cash once the trades are done and the commissions paid."""
        return self.cash_before_commissions - self.commissions

    @property
    def objective(self) -> Decimal:
        """What the calculator minimises: drift, spread and commissions."""
        return self.drift + self.spread + self.commissions


def plan_value(problem: RebalanceProblem, quantities: Sequence[int]) -> PlanValue:
    """The exact :class:`PlanValue` of ``quantities`` (one per ``problem.lines`` entry)."""
    cash = plan_cash(problem, quantities)
    spread = drift = _ZERO
    for line, q in zip(problem.lines, quantities, strict=True):
        drift += abs((line.held + q) * line.value_price - line.target_value)
        if q:
            # Both signs: what the trade gives up against the valuation price.
            spread += q * (trade_price(line, q) - line.value_price)
    return PlanValue(
        cash_before_commissions=cash.cash_before_commissions,
        commissions=cash.commissions,
        spread=spread,
        drift=drift + abs(cash.cash_before_commissions - problem.reserve),
        buys=cash.buys,
        order_commissions=cash.order_commissions,
    )


def planned_drift(problem: RebalanceProblem, quantities: Sequence[int]) -> Decimal:
    """Exact residual drift of a plan: ``sum |n_s m_s - T_s| + |C' - R|``."""
    return plan_value(problem, quantities).drift


def planned_objective(problem: RebalanceProblem, quantities: Sequence[int]) -> Decimal:
    """Exact objective of a plan: residual drift plus spread plus commissions."""
    return plan_value(problem, quantities).objective
