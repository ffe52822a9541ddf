"""``trusted`` builds the same instance as pydantic's ``model_construct`` (and as validation, for
valid values) for every model the hot paths build with it; anything else goes through
``model_construct`` itself."""

from __future__ import annotations

import pickle
from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import (
    AccountPosition,
    AccountSnapshot,
    ContractPrice,
    RebalancePlan,
    StrategyAttribution,
)
from broker_connector_base.trusted import trusted
from pydantic import BaseModel, ValidationError

POSITION = {
    "symbol": "SPY",
    "quantity": Decimal(10),
    "market_price": Decimal("470.10"),
    "market_value": Decimal("4701.00"),
    "avg_cost": None,
}
CASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (
        ContractPrice,
        {
            "symbol": "SPY",
            "bid": Decimal("470.05"),
            "ask": Decimal("470.15"),
            "last": Decimal("470.10"),
            "close": Decimal("470.10"),
        },
    ),
    (AccountPosition, POSITION),
    (
        AccountSnapshot,
        {
            "account_id": "BT",
            "total_value": Decimal("5701.00"),
            "cash_balance": Decimal("1000.00"),
            "settled_cash": Decimal("1000.00"),
            "positions": [AccountPosition(**POSITION)],
        },
    ),
    (
        RebalancePlan,
        {
            "symbol": "SPY",
            "current_qty": Decimal(10),
            "current_weight": Decimal("0.8245"),
            "target_weight": Decimal("0.6"),
            "current_value": Decimal("4701.00"),
            "target_value": Decimal("3420.60"),
            "trade_quantity": -3,
            "trade_amount": Decimal("-1410.15"),
            "direction": "SELL",
            "needs_rebalance": True,
            "attribution": StrategyAttribution(shares={"growth": Decimal(1)}),
        },
    ),
]


def _hash(model: BaseModel) -> int | str:
    try:
        return hash(model)
    except TypeError as unhashable:  # a list or dict field: pydantic says so the same way
        return str(unhashable)


@pytest.mark.parametrize(("model", "values"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_trusted_instance_is_what_model_construct_and_validation_make(
    model: type[BaseModel], values: dict[str, Any]
) -> None:
    built = trusted(model, **values)
    constructed = model.model_construct(**values)
    validated = model.model_validate(values)

    for other in (constructed, validated):
        assert type(built) is model
        assert built == other
        assert built.model_fields_set == other.model_fields_set
        assert repr(built) == repr(other)
        assert built.model_dump() == other.model_dump()
        assert built.model_dump_json() == other.model_dump_json()
        assert _hash(built) == _hash(other)
    assert pickle.loads(pickle.dumps(built)) == built
    assert built.__pydantic_extra__ is None
    assert built.__pydantic_private__ is None
    field = next(iter(values))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(built, field, values[field])
    assert built.model_fields_set is not trusted(model, **values).model_fields_set


def test_values_out_of_field_order_or_missing_go_through_model_construct() -> None:
    values = dict(reversed(CASES[0][1].items()))
    built = trusted(ContractPrice, **values)
    assert built == ContractPrice.model_construct(**values)
    assert list(built.__dict__) == list(ContractPrice.__pydantic_fields__)  # model_construct's
    partial = trusted(AccountPosition, symbol="SPY", quantity=Decimal(1))
    assert partial.model_fields_set == {"symbol", "quantity"}
    assert partial.avg_cost is None  # the default model_construct fills in
