"""The plan vocabulary (``RebalancePlan``, ``PositionDelta``, ``StrategyAttribution``) and the
strategies of an ``AccountConfig``: consistency rules, exact values, JSON round trips."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import (
    AccountConfig,
    PositionDelta,
    RebalancePlan,
    StrategyAttribution,
)
from pydantic import ValidationError


def _line(**changes: Any) -> RebalancePlan:
    fields: dict[str, Any] = {
        "symbol": "SPY",
        "current_weight": "0.2",
        "target_weight": "0.3",
        "current_value": "20000",
        "target_value": "30000",
        "trade_quantity": 17,
        "trade_amount": "10015.04",
        "direction": "BUY",
        "needs_rebalance": True,
    }
    return RebalancePlan.model_validate({**fields, **changes})


def test_plan_line_keeps_exact_decimals_and_round_trips_through_json() -> None:
    line = _line(current_weight=0.1, attribution={"shares": {"A": "0.75", "B": "0.25"}})
    assert line.current_weight == Decimal("0.1")
    assert line.weight_diff == Decimal("0.2")
    assert RebalancePlan.model_validate_json(line.model_dump_json()) == line


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"direction": "SELL"}, "direction SELL contradicts a trade of 17"),
        ({"direction": "HOLD"}, "direction HOLD contradicts a trade of 17"),
        ({"needs_rebalance": False}, "needs_rebalance=False contradicts a trade of 17"),
        ({"trade_amount": "-5"}, "trade_amount -5 has not the sign of the trade of 17"),
        (
            {"trade_quantity": 0, "trade_amount": "0", "direction": "HOLD"},
            "needs_rebalance=True contradicts a trade of 0",
        ),
    ],
)
def test_plan_line_contradicting_its_trade_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _line(**changes)


def test_plan_line_hold_has_no_trade() -> None:
    line = _line(trade_quantity=0, trade_amount="0", direction="HOLD", needs_rebalance=False)
    assert (line.direction, line.needs_rebalance) == ("HOLD", False)


def test_plan_line_delta_is_its_trade_in_shares_with_a_message() -> None:
    line = _line(current_qty="12.5", attribution={"shares": {"A": "0.75", "B": "0.25"}})
    delta = line.delta()
    assert (delta.current_qty, delta.delta, delta.target_qty) == (
        Decimal("12.5"),
        17,
        Decimal("29.5"),
    )
    assert (delta.action, delta.quantity) == ("buy_more", 17)
    assert delta.message == "SPY: buy 17 shares (12.5 held); for A 75.0%, B 25.0%"
    sell = _line(
        current_qty="40",
        target_value="0",
        trade_quantity=-40,
        trade_amount="-23564.00",
        direction="SELL",
        attribution={"shares": {}},
    ).delta()
    assert (sell.action, sell.target_qty) == ("sell_excess", Decimal(0))
    assert sell.message == (
        "SPY: sell 40 of 40 shares (target 0: liquidated); no strategy of the account targets it"
    )


def test_position_delta_target_is_current_plus_whole_share_delta() -> None:
    delta = PositionDelta(
        symbol="TLT",
        current_qty=Decimal("100.5"),
        target_qty=Decimal("0.5"),
        delta=-100,
        action="sell_excess",
        quantity=100,
        message="TLT: sell 100 of 100.5 shares",
    )
    assert PositionDelta.model_validate_json(delta.model_dump_json()) == delta
    with pytest.raises(ValidationError, match=r"is not current_qty 100\.5 \+ delta -99"):
        PositionDelta.model_validate({**delta.model_dump(), "delta": -99, "quantity": 99})
    with pytest.raises(ValidationError, match="action buy_more / quantity 100 contradict"):
        PositionDelta.model_validate({**delta.model_dump(), "action": "buy_more"})


def test_attribution_of_contributions_sums_exactly_to_one_and_drops_zeros() -> None:
    third = Decimal(1) / 3
    attribution = StrategyAttribution.of({"A": third, "B": third, "C": third, "D": Decimal(0)})
    assert attribution.strategies == ("A", "B", "C")
    assert sum(attribution.shares.values()) == 1
    assert StrategyAttribution.of({}).shares == {}
    assert StrategyAttribution.of({"A": Decimal(0)}).strategies == ()


def test_attribution_split_divides_a_value_by_the_shares() -> None:
    attribution = StrategyAttribution(shares={"A": Decimal("0.75"), "B": Decimal("0.25")})
    assert attribution.split(Decimal("1000.00")) == {
        "A": Decimal("750.0000"),
        "B": Decimal("250.0000"),
    }


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ({"A": "0.5", "B": "0.4"}, "must sum to 1, got 0.9"),
        ({"A": "1.5", "B": "-0.5"}, "must be in \\(0, 1\\]"),
        ({"a/b": "1"}, "should match pattern"),
    ],
)
def test_attribution_with_bad_shares_is_refused(shares: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StrategyAttribution.model_validate({"shares": shares})


# ------------------------------------------------------------------------------------------
# AccountConfig: one strategy or several
# ------------------------------------------------------------------------------------------


def _account(**changes: Any) -> AccountConfig:
    return AccountConfig.model_validate({"account_id": "DU1", "type": "paper", **changes})


def test_single_strategy_name_is_one_strategy_of_weight_one() -> None:
    config = _account(strategy_name="etf-blend")
    assert config.strategy_name == "etf-blend"
    assert config.strategy_names == ("etf-blend",)
    assert [(s.name, s.weight) for s in config.strategies] == [("etf-blend", Decimal(1))]


def test_several_strategies_keep_exact_weights_and_a_label_name() -> None:
    config = _account(strategies=[{"name": "A", "weight": 0.6}, {"name": "B", "weight": "0.4"}])
    assert [(s.name, s.weight) for s in config.strategies] == [
        ("A", Decimal("0.6")),
        ("B", Decimal("0.4")),
    ]
    assert config.strategy_names == ("A", "B")
    # Never a valid strategy name, so it cannot be sent to an allocations API by mistake.
    assert config.strategy_name == "A+B"


@pytest.mark.parametrize(
    "changes",
    [
        {"strategy_name": "etf-blend"},
        {"strategies": [{"name": "A", "weight": "0.25"}, {"name": "B", "weight": "0.75"}]},
    ],
)
def test_account_config_round_trips_through_json_in_either_form(changes: dict[str, Any]) -> None:
    config = _account(**changes)
    assert "strategy_name" not in config.model_dump()
    again = AccountConfig.model_validate_json(config.model_dump_json())
    assert again == config
    assert again.strategy_name == config.strategy_name


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"strategies": [{"name": "A", "weight": "0.6"}, {"name": "B", "weight": "0.3"}]},
            r"strategy weights must sum to exactly 1, got 0.9 \(A 0.6 \+ B 0.3\)",
        ),
        (
            {"strategies": [{"name": "A", "weight": "0.5"}, {"name": "A", "weight": "0.5"}]},
            "strategy names must be unique; repeated: A",
        ),
        ({"strategies": [{"name": "A", "weight": "1.2"}]}, "less than or equal to 1"),
        ({"strategies": [{"name": "A", "weight": "0"}, {"name": "B", "weight": "1"}]}, "greater"),
        ({"strategies": []}, "must list at least one strategy"),
        ({"strategies": [{"name": "a b", "weight": "1"}]}, "should match pattern"),
        (
            {"strategy_name": "A", "strategies": [{"name": "A", "weight": "1"}]},
            "give strategy_name .* or strategies .*, not both",
        ),
        ({}, r"strategy_name \(one strategy\) or strategies \(several, with weights\) is required"),
        ({"strategy_name": "a/b"}, "strategy_name 'a/b' is not a strategy name"),
    ],
)
def test_account_config_bad_strategies_are_refused_naming_the_values(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _account(**changes)
