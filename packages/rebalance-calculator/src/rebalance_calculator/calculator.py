"""``TradeCalculator``: target allocations to whole-share trades.

The calculator is pure (no I/O, no logging handlers) and deterministic. The problem it solves is
described in :mod:`rebalance_calculator.problem`; in short, it chooses whole-share trades that
leave the account as close as possible to ``a_s * (V - R)`` per symbol with ``R`` (the cash
reserve) in cash, never selling more than is held and never buying more than the cash that
exists after the sells, minus the reserve.

Input errors and warnings:

* Allocations not summing to 1 +/- 0.01, duplicate symbols (allocations or quotes), a
  non-positive ``total_value``, or a symbol that must trade without the price that side needs
  (a positive bid to sell, a positive ask to buy, a positive valuation price for anything
  held or targeted) raise ``InvalidInputError``: no plan is computed at a guessed price.
* An empty allocation list liquidates every position.
* Allocations summing to 0.99-1.01 (but not 1) are scaled to 1, with a warning.
* Quotes for symbols that neither are held nor targeted are ignored.
* Warnings: fractional shares that cannot be sold, a short position, a snapshot whose
  ``total_value`` disagrees with cash plus positions by more than 1%, a cash reserve that
  cannot be met even after the sells (nothing is bought), and trades skipped because they are
  below ``min_trade_value``.
* Trades below ``min_trade_value`` are skipped (the rest is re-planned without them), except
  liquidations of symbols without a target, which are always closed.
* ``no_sell_symbols`` (bought earlier the same trading day) are never sold, even when the
  strategy dropped them; a warning names each that is over its target by a share or more.
* ``no_buy_symbols`` (sold earlier in the same rebalance run) are never bought: their trade
  is bounded above by 0, so a later round cannot buy back what the run just sold.
* Symbols within the drift band (``drift_band_percent`` of ``V``) are left alone, silently:
  that is what the band is for.
* Orders are priced with a commission schedule (:mod:`.commissions`): the argument, else the
  account's ``commission_schedule``, else its broker's default (``ibkr_pro_fixed`` for
  ``ibkr``, ``zero`` for ``alpaca``; any other broker must name one). Commissions count in
  the objective and in the cash, and each trade carries its ``estimated_commission``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Context, Decimal, localcontext

from broker_connector_base import (
    AccountConfig,
    AccountSnapshot,
    AllocationItem,
    CommissionScheduleName,
    ContractPrice,
    Trade,
)

from rebalance_calculator.models import TradeCalculationResult
from rebalance_calculator.objective import PlanCash, plan_cash, trade_price
from rebalance_calculator.optimizer import solve
from rebalance_calculator.problem import ProblemLine, RebalanceProblem, build_problem

__all__ = ["TradeCalculator"]

# Money arithmetic never depends on the caller's thread-local decimal context.
_CONTEXT = Context(prec=28)
_ZERO = Decimal(0)


class TradeCalculator:
    """Computes the trades that rebalance one account. Stateless and thread-safe."""

    def calculate_trades(
        self,
        *,
        account_snapshot: AccountSnapshot,
        target_allocations: Sequence[AllocationItem],
        market_prices: Sequence[ContractPrice],
        account_config: AccountConfig,
        no_sell_symbols: Collection[str] = (),
        commission_schedule: CommissionScheduleName | None = None,
        no_buy_symbols: Collection[str] = (),
    ) -> TradeCalculationResult:
        """Whole-share trades moving ``account_snapshot`` towards ``target_allocations``.

        Args:
            account_snapshot: Balances and positions now; ``total_value`` is ``V``.
            target_allocations: Fractions of ``V`` minus the cash reserve, summing to 1
                +/- 0.01. Empty means "sell everything". Held symbols that are absent are
                sold entirely.
            market_prices: Quotes; sells are planned at the bid, buys at ``ask * 1.005``
                rounded to the cent.
            account_config: ``cash_reserve_percent``, ``min_trade_value`` and
                ``drift_band_percent`` are used.
            no_sell_symbols: Held symbols whose shares must not be sold now, because they
                were bought earlier the same trading day (a day trade; in a cash account a
                good-faith violation). They may still be bought; a warning names any that
                is over its target by a share or more.
            no_buy_symbols: Symbols that must not be bought now, because the same rebalance
                run sold them (buying them back pays the spread and commissions twice). They
                may still be sold; a missing ask is then no error.
            commission_schedule: The schedule orders are priced with; ``None`` takes
                ``account_config.commission_schedule``, else the broker's default
                (``rebalance_calculator.default_commission_schedule``).

        Returns:
            Sells (by symbol) then buys (by symbol), each with its ``estimated_commission``,
            the schedule used, and warnings for the operator.

        Raises:
            InvalidInputError: The inputs cannot give a safe plan; the message names every
                offending symbol, field and value. Also raised (``source`` "account config")
                when no schedule is named and the account's broker has no default.
        """
        with localcontext(_CONTEXT):
            problem = build_problem(
                account_snapshot=account_snapshot,
                target_allocations=target_allocations,
                market_prices=market_prices,
                account_config=account_config,
                no_sell_symbols=no_sell_symbols,
                commission_schedule=commission_schedule,
                no_buy_symbols=no_buy_symbols,
            )
            warnings = list(problem.warnings)
            warnings.extend(_allocation_sum_warning(target_allocations))
            quantities, skipped = _solve_with_minimum(problem, account_config.min_trade_value)
            if skipped:
                warnings.append(
                    f"skipped {len(skipped)} trade(s) below min_trade_value "
                    f"{account_config.min_trade_value}: {', '.join(skipped)}"
                )
            value = plan_cash(problem, quantities)
            warnings.extend(_reserve_warning(problem, value))
            _check_affordable(problem, quantities, value)
            return TradeCalculationResult(
                trades=_trades(problem, quantities, value.order_commissions),
                warnings=warnings,
                commission_schedule=problem.commissions.name,
            )


def _allocation_sum_warning(items: Sequence[AllocationItem]) -> list[str]:
    total = sum((item.allocation for item in items), _ZERO)
    if items and total != 1:
        return [f"allocations sum to {total}, not 1; they were scaled to sum to 1"]
    return []


def _notional(line: ProblemLine, quantity: int) -> Decimal:
    return abs(quantity) * trade_price(line, quantity)


def _solve_with_minimum(problem: RebalanceProblem, minimum: Decimal) -> tuple[list[int], list[str]]:
    """Solve, freezing symbols whose trade is below ``minimum`` and solving again.

    Liquidations (symbols without a target) are exempt: a position the strategy no longer
    holds is closed however small it is.
    """
    skipped: list[str] = []
    while True:
        quantities = solve(problem)
        if minimum <= 0:
            return quantities, skipped
        small = {
            index
            for index, (line, q) in enumerate(zip(problem.lines, quantities, strict=True))
            if q != 0 and line.target_value > 0 and _notional(line, q) < minimum
        }
        if not small:
            return quantities, skipped
        skipped.extend(f"{problem.lines[i].symbol} ({quantities[i]:+d})" for i in sorted(small))
        lines = tuple(
            _frozen(line) if index in small else line for index, line in enumerate(problem.lines)
        )
        problem = RebalanceProblem(
            total_value=problem.total_value,
            reserve=problem.reserve,
            cash=problem.cash,
            lines=lines,
            warnings=problem.warnings,
            commissions=problem.commissions,
        )


def _frozen(line: ProblemLine) -> ProblemLine:
    return line._replace(frozen=True)


def _reserve_warning(problem: RebalanceProblem, value: PlanCash) -> list[str]:
    if (
        not value.buys
        and value.cash_after < problem.reserve
        and any(line.target_value > 0 for line in problem.lines)
    ):
        return [
            f"cash after sells {value.cash_after} is below the cash reserve {problem.reserve}; "
            "nothing is bought"
        ]
    return []


def _check_affordable(
    problem: RebalanceProblem, quantities: Sequence[int], value: PlanCash
) -> None:
    """Exact re-check of the plan: a failure here is a bug, never a trade to place."""
    if value.buys and value.cash_after < problem.reserve:
        raise RuntimeError(
            f"internal error: planned buys leave cash {value.cash_after} (commissions "
            f"{value.commissions} paid) below the reserve {problem.reserve}"
        )
    for line, q in zip(problem.lines, quantities, strict=True):
        if q < 0 and -q > line.max_sell:
            raise RuntimeError(f"internal error: {line.symbol} sells {-q} of {line.held}")


def _trades(
    problem: RebalanceProblem, quantities: Sequence[int], commissions: Sequence[Decimal]
) -> list[Trade]:
    sells: list[Trade] = []
    buys: list[Trade] = []
    for line, q, commission in zip(problem.lines, quantities, commissions, strict=True):
        if q == 0:
            continue
        trade = Trade(
            symbol=line.symbol,
            quantity=q,
            current_shares=line.held,
            target_value=line.target_value,
            current_value=line.current_value,
            price=trade_price(line, q),
            estimated_commission=commission,
        )
        (buys if q > 0 else sells).append(trade)
    return sells + buys  # lines are sorted by symbol, so each group is too
