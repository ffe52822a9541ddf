"""``order_type`` and ``order_options`` of an account: defaults, strictness, the round trip
through JSON (what a worker receives)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import AccountConfig
from pydantic import ValidationError


def _account(**fields: Any) -> AccountConfig:
    return AccountConfig(account_id="DU1", type="paper", strategy_name="s", **fields)


def test_default_order_type_is_market_with_no_options_set() -> None:
    config = _account()
    assert (config.order_type, config.broker_order_type) == ("market", "MARKET")
    assert config.order_options.model_fields_set == set()


@pytest.mark.parametrize(
    ("order_type", "broker_type"),
    [("limit", "LIMIT"), ("midprice", "MIDPRICE"), ("moc", "MOC"), ("adaptive", "ADAPTIVE")],
)
def test_each_order_type_names_the_contracts_type(order_type: str, broker_type: str) -> None:
    assert _account(order_type=order_type).broker_order_type == broker_type


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"order_type": "stop"}, "order_type"),
        (
            {"order_type": "limit", "order_options": {"adaptive_priority": "Urgent"}},
            "order_options adaptive_priority do not apply to order_type 'limit'",
        ),
        (
            {"order_options": {"limit_offset_bps": 10}},
            "order_options limit_offset_bps do not apply to order_type 'market' (its options: "
            "none)",
        ),
        (
            {"order_type": "midprice", "order_options": {"limit_reprices": 2}},
            "limit_reprices do not apply to order_type 'midprice'",
        ),
        ({"order_type": "limit", "order_options": {"limit_offset_bps": 501}}, "less than or"),
        ({"order_type": "limit", "order_options": {"limit_timeout_secs": 0}}, "greater than 0"),
        ({"order_type": "limit", "order_options": {"limit_fallback": "stop"}}, "limit_fallback"),
        ({"order_type": "adaptive", "order_options": {"adaptive_priority": "Fast"}}, "Patient"),
        ({"order_type": "limit", "order_options": {"limit_offst_bps": 5}}, "limit_offst_bps"),
    ],
)
def test_bad_order_settings_are_refused_naming_them(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _account(**fields)


def test_order_options_survive_the_workers_json_round_trip_as_given() -> None:
    config = _account(
        order_type="limit", order_options={"limit_offset_bps": 2.5, "limit_fallback": "cancel"}
    )
    again = AccountConfig.model_validate_json(config.model_dump_json())
    assert again == config
    assert again.order_options.limit_offset_bps == Decimal("2.5")
    assert again.order_options.model_fields_set == {"limit_offset_bps", "limit_fallback"}
    market = _account()
    assert AccountConfig.model_validate_json(market.model_dump_json()) == market
