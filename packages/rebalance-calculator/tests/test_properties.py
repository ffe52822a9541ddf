"""Property-based tests: every invariant of the calculator over random portfolios.

Each portfolio is built from whole cents so the exact expectations below (affordability,
drift) are computed independently of the package, in ``Decimal``. Each draws a commission
schedule (or none: the IBKR default); the commissions themselves come from the schedule's
model, whose figures ``test_commissions.py`` checks against IB's worked examples.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    ContractPrice,
    Trade,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rebalance_calculator import (
    CommissionModel,
    TradeCalculationResult,
    TradeCalculator,
    commission_model,
    resolve_commission_schedule,
)
from rebalance_calculator.objective import plan_cash, plan_value
from rebalance_calculator.optimizer import search, solve
from rebalance_calculator.problem import build_problem

CENT = Decimal("0.01")
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Portfolio:
    snapshot: AccountSnapshot
    allocations: list[AllocationItem]
    quotes: list[ContractPrice]
    config: AccountConfig
    shuffle_seed: int = 0
    mid: dict[str, Decimal] = field(default_factory=dict)

    def run(self) -> TradeCalculationResult:
        return TradeCalculator().calculate_trades(
            account_snapshot=self.snapshot,
            target_allocations=self.allocations,
            market_prices=self.quotes,
            account_config=self.config,
        )

    @property
    def held(self) -> dict[str, Decimal]:
        return {p.symbol: p.quantity for p in self.snapshot.positions}

    @property
    def reserve(self) -> Decimal:
        return self.snapshot.total_value * self.config.cash_reserve_percent / 100

    def targets(self) -> dict[str, Decimal]:
        total = sum((a.allocation for a in self.allocations), Decimal(0))
        investable = self.snapshot.total_value - self.reserve
        return {a.symbol: a.allocation * investable / total for a in self.allocations}

    def value_price(self, symbol: str) -> Decimal:
        position = self.snapshot.position(symbol)
        return position.market_price if position is not None else self.mid[symbol]

    def quote(self, symbol: str) -> ContractPrice:
        return next(q for q in self.quotes if q.symbol == symbol)

    @property
    def commissions(self) -> CommissionModel:
        return commission_model(resolve_commission_schedule(self.config))


def buy_price(quote: ContractPrice) -> Decimal:
    assert quote.ask is not None
    return (quote.ask * Decimal("1.005")).quantize(CENT, rounding=ROUND_HALF_UP)


def _weights(draw: st.DrawFn, count: int) -> list[Decimal]:
    raw = draw(st.lists(st.integers(1, 100), min_size=count, max_size=count))
    if not raw:
        return []  # no targets: liquidate everything
    units = [w * 10_000 // sum(raw) for w in raw]
    units[units.index(max(units))] += 10_000 - sum(units)
    return [Decimal(u) / 10_000 for u in units]


@st.composite
def portfolios(draw: st.DrawFn, thresholds: bool = False) -> Portfolio:
    count = draw(st.integers(1, 7))
    symbols = [f"S{i}" for i in range(count)]
    quotes, mids, positions = [], {}, []
    for symbol in symbols:
        mid_cents = draw(st.integers(100, 300_000))
        spread = draw(st.integers(1, max(1, mid_cents // 100)))
        mid = Decimal(mid_cents) / 100
        mids[symbol] = mid
        quotes.append(
            ContractPrice(
                symbol=symbol,
                bid=max(CENT, mid - spread * CENT),
                ask=mid + spread * CENT,
                last=mid,
            )
        )
        if draw(st.booleans()):
            shares = Decimal(draw(st.integers(0, 400))) + draw(
                st.sampled_from([Decimal(0), Decimal(0), Decimal("0.5")])
            )
            if shares:
                positions.append(
                    AccountPosition(
                        symbol=symbol,
                        quantity=shares,
                        market_price=mid,
                        market_value=shares * mid,
                    )
                )
    targeted = [s for s in symbols if draw(st.booleans())]
    allocations = [
        AllocationItem(symbol=s, allocation=w)
        for s, w in zip(targeted, _weights(draw, len(targeted)), strict=True)
    ]
    cash = Decimal(draw(st.integers(-50_000, 5_000_000))) / 100
    total = cash + sum((p.market_value for p in positions), Decimal(0))
    # Sometimes the broker's total disagrees with cash plus positions (or there is nothing).
    total = total * Decimal(draw(st.sampled_from([100, 100, 100, 95, 105]))) / 100
    if total <= 0:
        total = Decimal(100)
    snapshot = AccountSnapshot(
        account_id="U1",
        total_value=total,
        cash_balance=cash,
        settled_cash=cash,
        positions=positions,
    )
    config = AccountConfig(
        account_id="U1",
        type="paper",
        strategy_name="s",
        cash_reserve_percent=draw(st.integers(0, 10)),
        min_trade_value=draw(st.integers(0, 2_000)) if thresholds else 0,
        drift_band_percent=draw(st.integers(0, 5)) if thresholds else 0,
        commission_schedule=draw(
            st.sampled_from([None, "zero", "ibkr_pro_fixed", "ibkr_pro_tiered", "ibkr_lite"])
        ),
    )
    return Portfolio(snapshot, allocations, quotes, config, draw(st.integers(0, 2**32)), mids)


def _cash_after(p: Portfolio, trades: list[Trade]) -> Decimal:
    """Cash once the trades are done, before their commissions."""
    cash = p.snapshot.cash_balance
    for trade in trades:
        cash -= trade.quantity * trade.price
    return cash


def _commissions(p: Portfolio, quantities: dict[str, int]) -> Decimal:
    """What the orders cost under the portfolio's schedule, at their planned prices."""
    total = Decimal(0)
    for symbol, q in quantities.items():
        if q == 0:
            continue
        quote = p.quote(symbol)
        price = buy_price(quote) if q > 0 else quote.bid
        assert price is not None
        total += p.commissions.estimate(q, price)
    return total


def _drift(p: Portfolio, quantities: dict[str, int], cash: Decimal) -> Decimal:
    targets = p.targets()
    held = p.held
    drift = Decimal(0)
    for symbol in held.keys() | targets.keys():
        shares = held.get(symbol, Decimal(0)) + quantities.get(symbol, 0)
        drift += abs(shares * p.value_price(symbol) - targets.get(symbol, Decimal(0)))
    return drift + abs(cash - p.reserve)


def _spread_paid(p: Portfolio, quantities: dict[str, int]) -> Decimal:
    """Spread the trades pay against the valuation price (what the calculator also counts)."""
    paid = Decimal(0)
    for symbol, q in quantities.items():
        quote, price = p.quote(symbol), p.value_price(symbol)
        if q > 0:
            paid += q * (buy_price(quote) - price)
        elif q < 0:
            assert quote.bid is not None
            paid += -q * (price - quote.bid)
    return paid


def _search_margin(p: Portfolio, quantities: dict[str, int]) -> Decimal:
    """How far the search's commission bound may exceed the estimates it bounds.

    The search keeps a cent per order for the rounding up of each estimate, and its per-share
    coefficients are rounded up to the micro-dollar (four of them at most).
    """
    if p.commissions.is_zero:
        return Decimal(0)
    orders = [abs(q) for q in quantities.values() if q]
    return len(orders) * Decimal("0.01") + sum(orders) * Decimal("0.000004")


@given(portfolios())
@PROFILE
def test_plan_never_shorts_and_buys_only_with_cash_above_the_reserve(p: Portfolio) -> None:
    result = p.run()

    held = p.held
    for trade in result.trades:
        if trade.quantity < 0:
            assert -trade.quantity <= math.floor(held.get(trade.symbol, Decimal(0)))
    if any(t.quantity > 0 for t in result.trades):
        commissions = _commissions(p, {t.symbol: t.quantity for t in result.trades})
        assert _cash_after(p, result.trades) - commissions >= p.reserve


@given(portfolios())
@PROFILE
def test_each_trade_carries_the_commission_its_schedule_estimates(p: Portfolio) -> None:
    result = p.run()

    assert result.commission_schedule == resolve_commission_schedule(p.config)
    for trade in result.trades:
        assert trade.estimated_commission == _commissions(p, {trade.symbol: trade.quantity})


@given(portfolios())
@PROFILE
def test_sells_at_bid_buys_at_buffered_ask_and_fields_describe_the_line(p: Portfolio) -> None:
    result = p.run()

    targets = p.targets()
    for trade in result.trades:
        quote = p.quote(trade.symbol)
        expected = buy_price(quote) if trade.quantity > 0 else quote.bid
        assert trade.price == expected
        assert trade.current_shares == p.held.get(trade.symbol, Decimal(0))
        assert trade.target_value == targets.get(trade.symbol, Decimal(0))
        assert trade.current_value == trade.current_shares * p.value_price(trade.symbol)


@given(portfolios())
@PROFILE
def test_sells_come_first_then_buys_each_sorted_by_symbol(p: Portfolio) -> None:
    trades = p.run().trades

    actions = [t.action for t in trades]
    assert actions == sorted(actions, key=lambda a: a == "BUY")
    for action in ("SELL", "BUY"):
        symbols = [t.symbol for t in trades if t.action == action]
        assert symbols == sorted(symbols)
    assert len({t.symbol for t in trades}) == len(trades)


@given(portfolios())
@PROFILE
def test_positions_without_a_target_are_sold_in_whole(p: Portfolio) -> None:
    trades = {t.symbol: t.quantity for t in p.run().trades}

    targets = p.targets()
    for symbol, shares in p.held.items():
        if targets.get(symbol, Decimal(0)) == 0 and shares >= 1:
            assert trades[symbol] == -math.floor(shares)


@given(portfolios())
@PROFILE
def test_same_input_in_any_order_gives_the_same_result(p: Portfolio) -> None:
    first = p.run()
    rng = random.Random(p.shuffle_seed)
    shuffled = Portfolio(
        snapshot=p.snapshot.model_copy(
            update={"positions": rng.sample(p.snapshot.positions, len(p.snapshot.positions))}
        ),
        allocations=rng.sample(p.allocations, len(p.allocations)),
        quotes=rng.sample(p.quotes, len(p.quotes)),
        config=p.config,
    )

    assert shuffled.run() == first


@given(portfolios())
@PROFILE
def test_no_single_share_change_would_bring_the_account_closer_to_target(p: Portfolio) -> None:
    # Leftover cash went where it reduces drift most: no affordable one-share buy (or one
    # share less, or one more sold) lowers the exact drift any further once the spread the
    # trade would pay and the commissions are counted (a trade that only burns the spread is
    # no improvement). The search prices commissions up to a cent above the estimate.
    result = p.run()
    quantities = {t.symbol: t.quantity for t in result.trades}
    cash = _cash_after(p, result.trades)
    drift = _drift(p, quantities, cash) + _spread_paid(p, quantities)
    drift += _commissions(p, quantities)
    targets = p.targets()
    held = p.held

    for symbol in targets.keys() | held.keys():
        if targets.get(symbol, Decimal(0)) == 0:
            continue  # liquidated: not a choice
        quote = p.quote(symbol)
        for step in (1, -1):
            q = quantities.get(symbol, 0)
            new = q + step
            if new < -math.floor(max(Decimal(0), held.get(symbol, Decimal(0)))):
                continue
            if new < 0 and quote.bid is None:
                continue  # never sold without a bid
            new_cash = cash
            new_cash -= (buy_price(quote) if q + (step > 0) > 0 else quote.bid or 0) * step
            moved = {**quantities, symbol: new}
            fees = _commissions(p, moved)
            margin = _search_margin(p, moved)
            if any(v > 0 for v in moved.values()) and new_cash - fees < p.reserve + margin:
                continue  # not affordable (as far as the search's commission bound knows)
            tolerance = p.snapshot.total_value * Decimal("1e-9") + Decimal("0.010001")
            moved_objective = _drift(p, moved, new_cash) + _spread_paid(p, moved) + fees
            assert moved_objective >= drift - tolerance, (symbol, step)


@given(portfolios(thresholds=True))
@PROFILE
def test_thresholds_skip_small_trades_and_symbols_within_the_band(p: Portfolio) -> None:
    result = p.run()

    band = p.snapshot.total_value * p.config.drift_band_percent / 100
    targets = p.targets()
    for trade in result.trades:
        if trade.target_value > 0:  # liquidations are exempt from the minimum
            assert trade.notional >= p.config.min_trade_value
        current = p.held.get(trade.symbol, Decimal(0)) * p.value_price(trade.symbol)
        if band > 0:
            assert abs(current - targets.get(trade.symbol, Decimal(0))) > band
    if any(t.quantity > 0 for t in result.trades):
        commissions = _commissions(p, {t.symbol: t.quantity for t in result.trades})
        assert _cash_after(p, result.trades) - commissions >= p.reserve


@given(portfolios())
@PROFILE
def test_no_order_costs_more_than_the_drift_it_removes(p: Portfolio) -> None:
    # Dropping any one order (liquidations aside) never lowers drift + spread + commissions:
    # an order whose commission exceeds what it removes is not placed.
    result = p.run()
    quantities = {t.symbol: t.quantity for t in result.trades}
    cash = _cash_after(p, result.trades)
    objective = _drift(p, quantities, cash) + _spread_paid(p, quantities)
    objective += _commissions(p, quantities)
    targets = p.targets()

    for trade in result.trades:
        if targets.get(trade.symbol, Decimal(0)) == 0:
            continue  # liquidated: not a choice
        without = {**quantities, trade.symbol: 0}
        new_cash = cash + trade.quantity * trade.price
        fees = _commissions(p, without)
        margin = _search_margin(p, without)
        if any(v > 0 for v in without.values()) and new_cash - fees < p.reserve + margin:
            continue  # the rest of the plan needs this order's cash
        dropped = _drift(p, without, new_cash) + _spread_paid(p, without) + fees
        tolerance = p.snapshot.total_value * Decimal("1e-9") + Decimal("0.010001")
        assert dropped >= objective - tolerance, trade.symbol


@given(portfolios(thresholds=True), st.booleans())
@PROFILE
def test_plan_where_no_line_may_trade_is_the_searchs_own_answer(
    p: Portfolio, freeze_all: bool
) -> None:
    # ``solve`` answers "no trade" without searching when every line is bounded to [0, 0]
    # (the drift band froze it, or it cannot trade): the search must give the same answer.
    problem = build_problem(
        account_snapshot=p.snapshot,
        target_allocations=p.allocations,
        market_prices=p.quotes,
        account_config=p.config,
    )
    if freeze_all:
        problem = dataclasses.replace(
            problem, lines=tuple(line._replace(frozen=True) for line in problem.lines)
        )
    bounded = all(line.min_quantity == line.max_quantity == 0 for line in problem.lines)

    assert solve(problem) == search(problem)
    if bounded:
        assert search(problem) == [0] * len(problem.lines)


@given(portfolios(thresholds=True))
@PROFILE
def test_the_cash_the_calculator_checks_plans_with_is_the_plans_exact_value(p: Portfolio) -> None:
    # The calculator checks its plan with ``plan_cash`` (no drift); the benchmark scores plans
    # with ``plan_value``: both must agree on the cash and the commissions.
    problem = build_problem(
        account_snapshot=p.snapshot,
        target_allocations=p.allocations,
        market_prices=p.quotes,
        account_config=p.config,
    )
    quantities = search(problem)
    cash, value = plan_cash(problem, quantities), plan_value(problem, quantities)

    assert cash.cash_before_commissions == value.cash_before_commissions
    assert cash.commissions == value.commissions == sum(value.order_commissions, Decimal(0))
    assert cash.order_commissions == value.order_commissions
    assert cash.buys == value.buys == any(q > 0 for q in quantities)
    assert cash.cash_after == value.cash_after
