"""TradeCalculator: the four tests of Appendix E.6, then rules, thresholds and bad input."""

from __future__ import annotations

import itertools
from decimal import Decimal, localcontext

import pytest
import rebalance_calculator
from broker_connector_base import (
    AccountConfig,
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    ContractPrice,
    InvalidInputError,
    Trade,
)
from pydantic import ValidationError
from rebalance_calculator import TradeCalculationResult, TradeCalculator

# -- Appendix E.6 -----------------------------------------------------------------------------


def test_calculate_trades_basic(
    account_config: AccountConfig,
    account_snapshot: AccountSnapshot,
    target_allocations: list[AllocationItem],
    market_prices: list[ContractPrice],
) -> None:
    result = TradeCalculator().calculate_trades(
        account_snapshot=account_snapshot,
        target_allocations=target_allocations,
        market_prices=market_prices,
        account_config=account_config,
    )

    assert isinstance(result.trades, list)
    assert result.trades
    assert all(isinstance(t, Trade) for t in result.trades)


def test_calculate_trades_respects_cash_reserve(
    account_config: AccountConfig,
    account_snapshot: AccountSnapshot,
    target_allocations: list[AllocationItem],
    market_prices: list[ContractPrice],
) -> None:
    result = TradeCalculator().calculate_trades(
        account_snapshot=account_snapshot,
        target_allocations=target_allocations,
        market_prices=market_prices,
        account_config=account_config,
    )

    total_deployed = sum(abs(t.quantity) * t.price for t in result.trades if t.quantity > 0)
    assert total_deployed <= account_snapshot.total_value * Decimal("0.99")
    # Stronger: only the cash that exists (1000) minus the 1% reserve (100) can be spent.
    proceeds = sum(abs(t.quantity) * t.price for t in result.trades if t.quantity < 0)
    assert total_deployed <= account_snapshot.cash_balance + proceeds - Decimal(100)


def test_calculate_trades_handles_missing_positions(
    account_config: AccountConfig,
    target_allocations: list[AllocationItem],
    market_prices: list[ContractPrice],
) -> None:
    empty_snapshot = AccountSnapshot(
        account_id="TEST123",
        total_value=10000.0,
        cash_balance=10000.0,
        settled_cash=10000.0,
        positions=[],
    )

    result = TradeCalculator().calculate_trades(
        account_snapshot=empty_snapshot,
        target_allocations=target_allocations,
        market_prices=market_prices,
        account_config=account_config,
    )

    assert result.trades
    assert all(t.quantity > 0 for t in result.trades)


def test_calculate_trades_handles_liquidation(
    account_config: AccountConfig,
    account_snapshot: AccountSnapshot,
    market_prices: list[ContractPrice],
) -> None:
    result = TradeCalculator().calculate_trades(
        account_snapshot=account_snapshot,
        target_allocations=[],
        market_prices=market_prices,
        account_config=account_config,
    )

    assert all(t.quantity < 0 for t in result.trades)
    assert {(t.symbol, t.quantity) for t in result.trades} == {("AGG", -20), ("SPY", -10)}


# -- helpers ----------------------------------------------------------------------------------


def _config(**overrides: object) -> AccountConfig:
    fields: dict[str, object] = {
        "account_id": "U1",
        "type": "paper",
        "strategy_name": "s",
        "cash_reserve_percent": 0,
    }
    fields.update(overrides)
    return AccountConfig.model_validate(fields)


def _snapshot(cash: str, *holdings: tuple[str, str, str]) -> AccountSnapshot:
    """Snapshot whose total value is cash plus ``(symbol, shares, price)`` holdings."""
    positions = [
        AccountPosition(
            symbol=s,
            quantity=Decimal(q),
            market_price=Decimal(p),
            market_value=Decimal(q) * Decimal(p),
        )
        for s, q, p in holdings
    ]
    total = Decimal(cash) + sum((p.market_value for p in positions), Decimal(0))
    return AccountSnapshot(
        account_id="U1",
        total_value=total,
        cash_balance=Decimal(cash),
        settled_cash=Decimal(cash),
        positions=positions,
    )


def _quote(symbol: str, bid: str | None, ask: str | None) -> ContractPrice:
    return ContractPrice(
        symbol=symbol,
        bid=Decimal(bid) if bid is not None else None,
        ask=Decimal(ask) if ask is not None else None,
    )


def _allocations(**weights: str) -> list[AllocationItem]:
    return [AllocationItem(symbol=s, allocation=Decimal(w)) for s, w in weights.items()]


def _run(
    snapshot: AccountSnapshot,
    allocations: list[AllocationItem],
    quotes: list[ContractPrice],
    config: AccountConfig | None = None,
) -> TradeCalculationResult:
    return TradeCalculator().calculate_trades(
        account_snapshot=snapshot,
        target_allocations=allocations,
        market_prices=quotes,
        account_config=config or _config(),
    )


def _drift(
    snapshot: AccountSnapshot,
    allocations: list[AllocationItem],
    quotes: list[ContractPrice],
    trades: dict[str, int],
) -> Decimal:
    """Residual drift computed from scratch (mid prices, reserve 0)."""
    prices = {q.symbol: q for q in quotes}
    weights = {a.symbol: a.allocation for a in allocations}
    held = {p.symbol: p.quantity for p in snapshot.positions}
    cash = snapshot.cash_balance
    drift = Decimal(0)
    for symbol in prices:
        quote = prices[symbol]
        assert quote.bid is not None
        assert quote.ask is not None
        mid = (quote.bid + quote.ask) / 2
        q = trades.get(symbol, 0)
        if q > 0:
            cash -= q * (quote.ask * Decimal("1.005")).quantize(Decimal("0.01"))
        else:
            cash -= q * quote.bid
        target = weights.get(symbol, Decimal(0)) * snapshot.total_value
        drift += abs((held.get(symbol, Decimal(0)) + q) * mid - target)
    return drift + abs(cash)


# -- pricing, rounding, order -----------------------------------------------------------------


def test_prices_sell_at_bid_and_buy_at_ask_plus_half_percent_rounded_half_up_to_cent() -> None:
    snapshot = _snapshot("5000", ("OLD", "10", "50"))
    quotes = [_quote("OLD", "49.97", "50.03"), _quote("NEW", "100.00", "100.10")]

    result = _run(snapshot, _allocations(NEW="1"), quotes)

    sell, buy = result.trades
    assert (sell.symbol, sell.quantity, sell.price) == ("OLD", -10, Decimal("49.97"))
    # 100.10 * 1.005 = 100.6005 -> 100.60
    assert (buy.symbol, buy.price) == ("NEW", Decimal("100.60"))
    assert buy.quantity == 54  # 5000 + 499.70 of proceeds buys 54 at 100.60, not 55


def test_trades_list_sells_then_buys_each_sorted_by_symbol() -> None:
    snapshot = _snapshot("1000", ("ZZZ", "10", "100"), ("AAA", "10", "100"))
    quotes = [_quote(s, "99.99", "100.01") for s in ("AAA", "ZZZ", "MMM", "BBB")]

    result = _run(snapshot, _allocations(MMM="0.5", BBB="0.5"), quotes)

    assert [(t.symbol, t.action) for t in result.trades] == [
        ("AAA", "SELL"),
        ("ZZZ", "SELL"),
        ("BBB", "BUY"),
        ("MMM", "BUY"),
    ]


def test_trade_fields_describe_the_position_and_its_target() -> None:
    snapshot = _snapshot("0", ("AAA", "10.5", "100"))
    quotes = [_quote("AAA", "99.99", "100.01"), _quote("BBB", "49.99", "50.01")]

    result = _run(snapshot, _allocations(AAA="0.5", BBB="0.5"), quotes)

    sell = next(t for t in result.trades if t.symbol == "AAA")
    assert sell.current_shares == Decimal("10.5")
    assert sell.current_value == Decimal("1050.0")
    assert sell.target_value == Decimal("525.00")


def _objective(
    snapshot: AccountSnapshot,
    allocations: list[AllocationItem],
    quotes: list[ContractPrice],
    trades: dict[str, int],
) -> Decimal:
    """Drift plus the spread the trades pay against the mid: what the calculator minimises."""
    paid = Decimal(0)
    for quote in quotes:
        assert quote.bid is not None
        assert quote.ask is not None
        mid = (quote.bid + quote.ask) / 2
        q = trades.get(quote.symbol, 0)
        if q > 0:
            paid += q * ((quote.ask * Decimal("1.005")).quantize(Decimal("0.01")) - mid)
        elif q < 0:
            paid += -q * (mid - quote.bid)
    return _drift(snapshot, allocations, quotes, trades) + paid


@pytest.mark.parametrize(
    ("cash", "prices"),
    [
        ("10000", {"AAA": "900", "BBB": "300"}),
        ("2000", {"AAA": "1450", "BBB": "610", "CCC": "95"}),
        ("3000", {"AAA": "2900", "BBB": "55.5", "CCC": "1200"}),
        ("750", {"AAA": "260", "BBB": "140", "CCC": "33"}),
    ],
)
def test_leftover_cash_reaches_the_exact_optimum_on_small_accounts(
    cash: str, prices: dict[str, str]
) -> None:
    # Brute force over every whole-share plan that the cash can pay for.
    quotes = [
        _quote(s, str(Decimal(p) - Decimal("0.01")), str(Decimal(p) + Decimal("0.01")))
        for s, p in prices.items()
    ]
    weight = str(Decimal(1) / len(prices))
    allocations = _allocations(**dict.fromkeys(prices, weight))
    allocations = [
        *allocations[:-1],
        AllocationItem(
            symbol=allocations[-1].symbol,
            allocation=1 - sum(a.allocation for a in allocations[:-1]),
        ),
    ]
    snapshot = _snapshot(cash)
    buy_prices = {
        q.symbol: (q.ask * Decimal("1.005")).quantize(Decimal("0.01"))
        for q in quotes
        if q.ask is not None
    }
    ranges = [range(int(Decimal(cash) // buy_prices[s]) + 1) for s in prices]
    best = min(
        _objective(snapshot, allocations, quotes, dict(zip(prices, plan, strict=True)))
        for plan in itertools.product(*ranges)
        if sum(n * buy_prices[s] for s, n in zip(prices, plan, strict=True)) <= Decimal(cash)
    )

    # The drift objective alone (no commission): test_commissions.py has the same brute force
    # with IBKR's commissions counted.
    result = _run(snapshot, allocations, quotes, _config(commission_schedule="zero"))

    trades = {t.symbol: t.quantity for t in result.trades}
    assert _objective(snapshot, allocations, quotes, trades) == best


def test_leftover_cash_beats_flooring_every_line() -> None:
    # AAA's target is 5.56 shares, BBB's 16.6: flooring both leaves 653 idle. One more BBB
    # share brings the account closer to target; a second would only move 300 of idle cash
    # into a BBB overweight while paying the spread, which is no improvement. (Without
    # commissions: with them, 6 AAA and 15 BBB tie with this plan, both paying two minimums.)
    snapshot = _snapshot("10000")
    quotes = [_quote("AAA", "899.99", "900.01"), _quote("BBB", "299.99", "300.01")]
    allocations = _allocations(AAA="0.5", BBB="0.5")

    result = _run(snapshot, allocations, quotes, _config(commission_schedule="zero"))

    trades = {t.symbol: t.quantity for t in result.trades}
    floored = {"AAA": 5, "BBB": 16}
    assert _drift(snapshot, allocations, quotes, trades) < _drift(
        snapshot, allocations, quotes, floored
    )
    assert trades == {"AAA": 5, "BBB": 17}


# -- thresholds -------------------------------------------------------------------------------


def test_min_trade_value_skips_small_trades_and_says_which() -> None:
    # AAA is 5.5 shares over its target, BBB 5.5 under: sell 5 AAA and buy BBB with the
    # proceeds (about $500 each), both below a $600 minimum.
    snapshot = _snapshot("100", ("AAA", "55", "100"), ("BBB", "44", "100"))
    quotes = [_quote("AAA", "99.99", "100.01"), _quote("BBB", "99.99", "100.01")]
    allocations = _allocations(AAA="0.5", BBB="0.5")

    unfiltered = _run(snapshot, allocations, quotes)
    filtered = _run(snapshot, allocations, quotes, _config(min_trade_value=600))

    assert [(t.symbol, t.action) for t in unfiltered.trades] == [("AAA", "SELL"), ("BBB", "BUY")]
    assert all(t.notional < 600 for t in unfiltered.trades)
    assert filtered.trades == []
    assert any("min_trade_value 600" in w and "BBB" in w for w in filtered.warnings)


def test_min_trade_value_never_keeps_a_position_without_a_target() -> None:
    snapshot = _snapshot("1000", ("OLD", "1", "10"))
    quotes = [_quote("OLD", "9.99", "10.01"), _quote("AAA", "99.99", "100.01")]

    result = _run(snapshot, _allocations(AAA="1"), quotes, _config(min_trade_value=100))

    assert [(t.symbol, t.quantity) for t in result.trades] == [("OLD", -1), ("AAA", 10)]


def test_drift_band_leaves_symbols_within_band_alone() -> None:
    # AAA is 2.5% of V over target, BBB 2.5% under: a 3% band leaves both alone, 2% does not.
    snapshot = _snapshot("0", ("AAA", "105", "100"), ("BBB", "95", "100"))
    quotes = [_quote("AAA", "99.99", "100.01"), _quote("BBB", "99.99", "100.01")]
    allocations = _allocations(AAA="0.5", BBB="0.5")

    wide = _run(snapshot, allocations, quotes, _config(drift_band_percent=3))
    narrow = _run(snapshot, allocations, quotes, _config(drift_band_percent=2))

    assert wide.trades == []
    assert [(t.symbol, t.action) for t in narrow.trades] == [("AAA", "SELL"), ("BBB", "BUY")]


# -- symbols bought earlier today ---------------------------------------------------------------


def _no_sell(
    snapshot: AccountSnapshot,
    allocations: list[AllocationItem],
    quotes: list[ContractPrice],
    no_sell: set[str],
) -> TradeCalculationResult:
    return TradeCalculator().calculate_trades(
        account_snapshot=snapshot,
        target_allocations=allocations,
        market_prices=quotes,
        account_config=_config(),
        no_sell_symbols=no_sell,
    )


def test_symbols_bought_today_are_not_sold_but_others_are_and_a_warning_says_why() -> None:
    # AAA and BBB are 20 shares over target; CCC is 40 under.
    snapshot = _snapshot("0", ("AAA", "120", "10"), ("BBB", "120", "10"), ("CCC", "60", "10"))
    quotes = [_quote(s, "9.99", "10.01") for s in ("AAA", "BBB", "CCC")]
    allocations = _allocations(AAA="0.3333", BBB="0.3333", CCC="0.3334")

    free = _run(snapshot, allocations, quotes)
    held_back = _no_sell(snapshot, allocations, quotes, {"AAA"})

    assert {t.symbol for t in free.trades if t.quantity < 0} == {"AAA", "BBB"}
    assert {t.symbol for t in held_back.trades if t.quantity < 0} == {"BBB"}
    assert any(t.symbol == "CCC" and t.quantity > 0 for t in held_back.trades)
    assert [w for w in held_back.warnings if "AAA" in w] == [
        "AAA: over its target, but bought earlier today; it is not sold before the next "
        "trading day (selling would be a day trade)"
    ]
    assert not any("BBB" in w for w in held_back.warnings)


def test_a_symbol_bought_today_may_be_bought_again() -> None:
    snapshot = _snapshot("1000", ("AAA", "10", "10"))
    result = _no_sell(snapshot, _allocations(AAA="1"), [_quote("AAA", "9.99", "10.01")], {"AAA"})

    assert [(t.symbol, t.action) for t in result.trades] == [("AAA", "BUY")]
    assert result.warnings == []


def test_a_dropped_symbol_bought_today_is_kept_until_tomorrow_without_needing_a_bid() -> None:
    snapshot = _snapshot("0", ("OLD", "10", "50"), ("NEW", "0", "50"))
    quotes = [ContractPrice(symbol="OLD", bid=None, ask=None, last=Decimal(50))]

    result = _no_sell(snapshot, [], quotes, {"OLD"})

    assert result.trades == []
    assert any(
        w.startswith("OLD: over its target, but bought earlier today") for w in result.warnings
    )


# -- symbols sold earlier in the same run -------------------------------------------------------


def test_symbols_the_run_sold_are_not_bought_back_and_the_cash_goes_elsewhere() -> None:
    # AAA and BBB are both 20 shares under target, with cash for both: a symbol the run sold
    # is bounded above by what is held; the cash buys the other.
    snapshot = _snapshot("400", ("AAA", "80", "10"), ("BBB", "80", "10"))
    quotes = [_quote(s, "9.99", "10.01") for s in ("AAA", "BBB")]
    allocations = _allocations(AAA="0.5", BBB="0.5")

    free = _run(snapshot, allocations, quotes)
    held_back = TradeCalculator().calculate_trades(
        account_snapshot=snapshot,
        target_allocations=allocations,
        market_prices=quotes,
        account_config=_config(),
        no_buy_symbols={"AAA"},
    )

    assert {t.symbol for t in free.trades if t.quantity > 0} == {"AAA", "BBB"}
    assert [(t.symbol, t.action) for t in held_back.trades] == [("BBB", "BUY")]


def test_symbols_the_run_sold_may_still_be_sold_and_need_no_ask() -> None:
    # AAA is over target, BBB and CCC under; the run sold AAA and BBB. BBB has no ask (it would
    # be an error to plan buying it), but it is not to be bought: AAA funds CCC alone.
    snapshot = _snapshot("0", ("AAA", "30", "10"), ("BBB", "5", "10"), ("CCC", "5", "10"))
    quotes = [
        _quote("AAA", "9.99", "10.01"),
        ContractPrice(symbol="BBB", bid=Decimal("9.99")),
        _quote("CCC", "9.99", "10.01"),
    ]
    allocations = _allocations(AAA="0.4", BBB="0.3", CCC="0.3")

    with pytest.raises(InvalidInputError, match="BBB: must buy about 7 share"):
        _run(snapshot, allocations, quotes)
    result = TradeCalculator().calculate_trades(
        account_snapshot=snapshot,
        target_allocations=allocations,
        market_prices=quotes,
        account_config=_config(),
        no_buy_symbols={"AAA", "BBB"},
    )

    assert [(t.symbol, t.action) for t in result.trades] == [("AAA", "SELL"), ("CCC", "BUY")]


# -- warnings ---------------------------------------------------------------------------------


def test_fractional_holding_absent_from_targets_sells_whole_shares_and_warns() -> None:
    snapshot = _snapshot("0", ("OLD", "10.25", "10"))
    quotes = [_quote("OLD", "9.99", "10.01")]

    result = _run(snapshot, [], quotes)

    assert [(t.symbol, t.quantity) for t in result.trades] == [("OLD", -10)]
    assert any("OLD" in w and "0.25" in w for w in result.warnings)


def test_cash_below_reserve_after_sells_buys_nothing_and_warns() -> None:
    # Overdrawn cash (-500) that selling AAA down to its target cannot bring back above the
    # 10% reserve: BBB is underweight but nothing may be bought.
    snapshot = AccountSnapshot(
        account_id="U1",
        total_value=Decimal(1000),
        cash_balance=Decimal(-500),
        settled_cash=Decimal(-500),
        positions=[
            AccountPosition(symbol="AAA", quantity=5, market_price=100, market_value=500),
        ],
    )
    quotes = [_quote("AAA", "99.99", "100.01"), _quote("BBB", "9.99", "10.01")]

    result = _run(
        snapshot, _allocations(AAA="0.5", BBB="0.5"), quotes, _config(cash_reserve_percent=10)
    )

    assert all(t.quantity < 0 for t in result.trades)
    assert any("below the cash reserve 100" in w for w in result.warnings)


def test_allocations_within_tolerance_are_scaled_to_one_with_a_warning() -> None:
    snapshot = _snapshot("3000")
    quotes = [_quote(s, "9.99", "10.01") for s in ("AAA", "BBB", "CCC")]

    result = _run(snapshot, _allocations(AAA="0.333", BBB="0.333", CCC="0.333"), quotes)

    assert {t.target_value for t in result.trades} == {Decimal(1000)}
    assert any("0.999" in w and "scaled" in w for w in result.warnings)


def test_snapshot_total_disagreeing_with_cash_plus_positions_warns(
    account_config: AccountConfig,
    account_snapshot: AccountSnapshot,
    target_allocations: list[AllocationItem],
    market_prices: list[ContractPrice],
) -> None:
    result = _run(account_snapshot, target_allocations, market_prices, account_config)

    assert any("10000" in w and "7700" in w for w in result.warnings)


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [("0.5", "0.48"), ("0.6", "0.42"), ("0", "0")])
def test_allocations_not_summing_to_one_raise_naming_the_sum(weights: tuple[str, str]) -> None:
    snapshot = _snapshot("1000")
    quotes = [_quote("AAA", "9.99", "10.01"), _quote("BBB", "9.99", "10.01")]

    with pytest.raises(InvalidInputError) as caught:
        _run(snapshot, _allocations(AAA=weights[0], BBB=weights[1]), quotes)

    assert caught.value.source == "allocations"
    assert str(sum(Decimal(w) for w in weights)) in str(caught.value)


def test_duplicate_allocation_symbols_raise() -> None:
    allocations = [
        AllocationItem(symbol="AAA", allocation=Decimal("0.5")),
        AllocationItem(symbol="aaa", allocation=Decimal("0.5")),
    ]

    with pytest.raises(InvalidInputError, match="AAA") as caught:
        _run(_snapshot("1000"), allocations, [_quote("AAA", "9.99", "10.01")])

    assert caught.value.source == "allocations"


def test_duplicate_quotes_raise() -> None:
    quotes = [_quote("AAA", "9.99", "10.01"), _quote("AAA", "9.98", "10.02")]

    with pytest.raises(InvalidInputError, match="AAA") as caught:
        _run(_snapshot("1000"), _allocations(AAA="1"), quotes)

    assert caught.value.source == "market prices"


@pytest.mark.parametrize("bid", [None, "0"])
def test_sell_without_positive_bid_raises_naming_symbol_field_and_value(bid: str | None) -> None:
    snapshot = _snapshot("0", ("OLD", "10", "50"))
    quotes = [ContractPrice(symbol="OLD", bid=bid, ask=Decimal("50.01"), last=Decimal(50))]

    with pytest.raises(InvalidInputError) as caught:
        _run(snapshot, [], quotes)

    message = str(caught.value)
    assert "OLD" in message
    assert f"bid is {Decimal(bid)!r}" in message if bid else "bid is None" in message


@pytest.mark.parametrize("ask", [None, "0"])
def test_buy_without_positive_ask_raises_naming_symbol_field_and_value(ask: str | None) -> None:
    quotes = [ContractPrice(symbol="NEW", bid=Decimal("9.99"), ask=ask, last=Decimal(10))]

    with pytest.raises(InvalidInputError) as caught:
        _run(_snapshot("1000"), _allocations(NEW="1"), quotes)

    assert "NEW" in str(caught.value)
    assert "ask is" in str(caught.value)
    assert caught.value.source == "market prices"


def test_target_without_any_quote_raises_and_names_every_such_symbol() -> None:
    quotes = [_quote("AAA", "9.99", "10.01")]

    with pytest.raises(InvalidInputError) as caught:
        _run(_snapshot("1000"), _allocations(AAA="0.4", BBB="0.3", CCC="0.3"), quotes)

    assert "BBB" in str(caught.value)
    assert "CCC" in str(caught.value)


def test_non_positive_total_value_raises() -> None:
    snapshot = AccountSnapshot(
        account_id="U1", total_value=0, cash_balance=0, settled_cash=0, positions=[]
    )

    with pytest.raises(InvalidInputError, match="total_value") as caught:
        _run(snapshot, _allocations(AAA="1"), [_quote("AAA", "9.99", "10.01")])

    assert caught.value.source == "account snapshot"


def test_missing_bid_is_fine_when_the_symbol_is_only_bought() -> None:
    quotes = [ContractPrice(symbol="NEW", ask=Decimal("10.01"), last=Decimal(10))]

    result = _run(_snapshot("1000"), _allocations(NEW="1"), quotes)

    assert [(t.symbol, t.quantity) for t in result.trades] == [("NEW", 99)]


def test_zero_allocation_symbol_not_held_needs_no_price_and_unknown_quotes_are_ignored() -> None:
    quotes = [_quote("AAA", "9.99", "10.01"), _quote("XYZ", None, None)]

    result = _run(_snapshot("1000"), _allocations(AAA="1", ZERO="0"), quotes)

    assert [t.symbol for t in result.trades] == ["AAA"]


# -- determinism and contract -----------------------------------------------------------------


def test_same_trades_whatever_the_order_of_inputs_or_the_callers_decimal_context() -> None:
    holdings = [("AAA", "12", "31.5"), ("BBB", "3", "410"), ("CCC", "40", "7.25")]
    quotes = [
        _quote("AAA", "31.49", "31.52"),
        _quote("BBB", "409.5", "410.4"),
        _quote("CCC", "7.24", "7.26"),
        _quote("DDD", "88.1", "88.3"),
    ]
    allocations = _allocations(AAA="0.1", BBB="0.45", DDD="0.45")
    first = _run(_snapshot("2500", *holdings), allocations, quotes, _config(cash_reserve_percent=2))

    with localcontext() as context:
        context.prec = 4
        second = _run(
            _snapshot("2500", *reversed(holdings)),
            list(reversed(allocations)),
            list(reversed(quotes)),
            _config(cash_reserve_percent=2),
        )

    assert second == first
    assert first.trades


def test_result_model_is_frozen_and_forbids_unknown_fields() -> None:
    result = TradeCalculationResult(trades=[])

    with pytest.raises(ValidationError):
        TradeCalculationResult.model_validate({"trades": [], "extra": 1})
    with pytest.raises(ValidationError):
        result.warnings = ["x"]  # type: ignore[misc]


def test_package_exports_the_seed_names() -> None:
    assert rebalance_calculator.__version__ == "1.0.0"
    assert {"TradeCalculator", "TradeCalculationResult", "Trade", "AllocationItem"} <= set(
        rebalance_calculator.__all__
    )
    assert rebalance_calculator.AccountConfig is AccountConfig
