"""Daemon models: events, results and PDT values."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import broker_connector_base.models
import pytest
from app.models import (
    AccountConfig,
    AccountExecutionResult,
    EventData,
    PDTCheckResult,
    PDTExecutionInfo,
    StrategyExecutionResult,
    Trade,
)
from broker_connector_base import InvalidInputError
from broker_connector_base.documents import validate_document
from pydantic import ValidationError

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def trade(**fields: Any) -> Trade:
    values: dict[str, Any] = {
        "symbol": "SPY",
        "quantity": 10,
        "current_shares": 0,
        "target_value": "1000",
        "current_value": "0",
        "price": "100.50",
    }
    values.update(fields)
    return Trade.model_validate(values)


def result(**fields: Any) -> AccountExecutionResult:
    values: dict[str, Any] = {
        "account_id": "DU1",
        "run_id": "run-1",
        "mode": "rebalance",
        "status": "succeeded",
        "success": True,
        "trades": [trade()],
        "total_value": "10000.00",
        "cash_balance": "100.00",
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=5),
    }
    values.update(fields)
    return AccountExecutionResult.model_validate(values)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"acount_id": "DU1"}, "acount_id: is not a known field (known: exec, account_id, "),
        ({"acount_id": "DU1"}, "did you mean 'account_id'?"),
        ({"accountId": "DU1"}, "accountId: is not a known field"),
        ({"accountId": "DU1"}, "did you mean 'account_id'?"),
        ({"account_id": 959247}, "account_id: 959247 is a number; write it in quotes"),
        ({"account_id": "DU 1"}, "account_id: 'DU 1' does not match"),
        ({"times_queued": "3"}, "times_queued: '3' is text, not a whole number"),
        ({"times_queued": True}, "times_queued: true is not a whole number"),
        ({"created_at": "yesterday"}, "created_at: 'yesterday' is not an ISO-8601 date and time"),
        ({"created_at": 1e300}, "created_at: 1e+300 is not a Unix time in seconds"),
        ({"data": [1]}, "data: a list is not a mapping"),
    ],
)
def test_event_data_strict_refuses_unknown_fields_and_coercions_naming_field_and_value(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_document(EventData, {"exec": "rebalance", **data}, document="event", source="ch")

    assert message in str(caught.value)
    assert str(caught.value).startswith("ch: event: ")


def test_event_data_extra_publisher_fields_go_in_data() -> None:
    event = validate_document(
        EventData,
        {"exec": "rebalance", "data": {"strategy": "etf-blend-301-20", "new_field": [1, 2]}},
        document="event",
        source="ch",
    )

    assert event.data == {"strategy": "etf-blend-301-20", "new_field": [1, 2]}


def test_event_data_unknown_exec_is_refused() -> None:
    with pytest.raises(ValidationError, match="exec"):
        EventData.model_validate({"exec": "liquidate"})


@pytest.mark.parametrize("created_at", ["2026-11-20T15:00:00Z", "2026-11-20T15:00:00", 1795186800])
def test_event_data_created_at_is_aware_utc(created_at: object) -> None:
    event = EventData.model_validate({"exec": "print-rebalance", "created_at": created_at})

    assert event.created_at == T0


def test_event_data_negative_times_queued_is_refused() -> None:
    with pytest.raises(ValidationError, match="times_queued"):
        EventData.model_validate({"exec": "rebalance", "times_queued": -1})


def test_account_execution_result_keeps_money_exact_and_pickles() -> None:
    value = result(total_value=0.1)

    copy = pickle.loads(pickle.dumps(value))

    assert copy == value
    assert copy.total_value == Decimal("0.1")
    assert copy.traded_notional == Decimal("1005.00")
    assert copy.duration_secs == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "failed", "success": True}, "contradicts"),
        ({"status": "failed", "success": False}, "needs an error"),
        ({"finished_at": T0 - timedelta(seconds=1)}, "is before"),
        ({"status": "exploded", "success": False, "error": "x"}, "status"),
        ({"extra": 1}, "extra"),
    ],
)
def test_account_execution_result_inconsistent_values_are_refused(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        result(**fields)


def test_account_execution_result_refused_carries_reason() -> None:
    value = result(status="refused", success=False, error="PDT Protection: ...", trades=[])

    assert not value.success
    assert value.error == "PDT Protection: ..."


def test_strategy_execution_result_all_succeeded_reflects_results() -> None:
    failed = result(status="failed", success=False, error="boom", account_id="DU2")
    value = StrategyExecutionResult(
        strategy="s",
        timestamp=T0,
        event="rebalance",
        accounts_processed=2,
        results=[result(), failed],
    )

    assert not value.all_succeeded


def test_pdt_check_result_refusal_needs_time_with_offset() -> None:
    with pytest.raises(ValidationError, match="must say when"):
        PDTCheckResult(allowed=False)
    with pytest.raises(ValidationError, match="no UTC offset"):
        PDTCheckResult(allowed=False, next_allowed_time="2026-11-23T00:00:00")

    ok = PDTCheckResult(allowed=False, next_allowed_time="2026-11-23T00:00:00-05:00")
    assert ok.next_allowed_time == "2026-11-23T00:00:00-05:00"


def test_pdt_execution_info_naive_times_are_utc() -> None:
    info = PDTExecutionInfo(
        last_executed=datetime(2026, 11, 20, 15), next_execution=datetime(2026, 11, 21, 5)
    )

    assert info.last_executed == T0


def test_models_reexport_base_models() -> None:
    assert AccountConfig is broker_connector_base.models.AccountConfig


def test_account_result_plan_and_attributed_trades_survive_the_worker_json_round_trip() -> None:
    # The worker writes model_dump_json() on stdout; the daemon reads model_validate_json().
    attribution = {"shares": {"growth": "0.75", "income": "0.25"}}
    line = {
        "symbol": "SPY",
        "current_qty": "12.5",
        "current_weight": "0.0736",
        "target_weight": "0.396",
        "current_value": "7363.75",
        "target_value": "39600.00",
        "trade_quantity": 55,
        "trade_amount": "32561.60",
        "direction": "BUY",
        "needs_rebalance": True,
        "attribution": attribution,
    }
    sent = result(trades=[trade(attribution=attribution)], plan=[line])

    received = AccountExecutionResult.model_validate_json(sent.model_dump_json())

    assert received == sent
    assert received.plan[0].target_weight == Decimal("0.396")
    assert received.plan[0].delta().target_qty == Decimal("67.5")
    assert received.trades[0].attribution == received.plan[0].attribution
