"""Notifications through real Apprise to a real aiohttp receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from app.models import AccountExecutionResult, Trade
from app.notify.notifier import NotificationService, format_account_result
from pydantic import SecretStr

TOKEN = "S3cretHookToken42"  # the receiver fixture's token (conftest.NOTIFY_TOKEN)
Receiver = Any  # conftest.Receiver (test modules cannot import conftest under importlib mode)
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def result(**fields: Any) -> AccountExecutionResult:
    values: dict[str, Any] = {
        "account_id": "DUM959247",
        "run_id": "run-7",
        "mode": "rebalance",
        "status": "succeeded",
        "success": True,
        "trades": [
            Trade(
                symbol="SPY",
                quantity=10,
                current_shares=0,
                target_value=1000,
                current_value=0,
                price="100.50",
                order_id="17",
                status="FILLED",
                filled_quantity=10,
                avg_fill_price="100.40",
            )
        ],
        "total_value": "12345.60",
        "cash_balance": "99.95",
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=4),
    }
    values.update(fields)
    return AccountExecutionResult.model_validate(values)


async def test_notify_delivers_title_body_and_type_to_json_receiver(receiver: Receiver) -> None:
    service = NotificationService([receiver.url()])

    delivered = await service.notify(title="Hello", body="World", level="warning")

    assert delivered
    (body,) = receiver.bodies
    assert (body["path"], body["title"], body["message"], body["type"]) == (
        f"/hook/{TOKEN}",
        "Hello",
        "World",
        "warning",
    )


async def test_notify_account_result_succeeded_rebalance_lists_orders_and_values(
    receiver: Receiver,
) -> None:
    service = NotificationService([receiver.url()])

    assert await service.notify_account_result(result())

    (body,) = receiver.bodies
    assert body["type"] == "success"
    assert body["title"] == "Rebalance finished: DUM959247 (1 order(s) placed)"
    assert "Account value $12,345.60, cash $99.95." in body["message"]
    assert "BUY 10 SPY @ 100.50 -> FILLED 10 @ 100.40" in body["message"]


def test_format_account_result_pdt_refusal_is_a_warning_with_the_reason() -> None:
    reason = "PDT Protection: Account DU789012 was already rebalanced earlier today ..."

    title, body, level = format_account_result(
        result(account_id="DU789012", status="refused", success=False, error=reason, trades=[])
    )

    assert (title, level) == ("Rebalance skipped: DU789012", "warning")
    assert reason in body


@pytest.mark.parametrize(
    ("status", "title"),
    [("failed", "Rebalance failed: DUM959247"), ("timed_out", "Rebalance timed out: DUM959247")],
)
def test_format_account_result_failure_carries_reason_and_orders_placed_before_it(
    status: str, title: str
) -> None:
    failed = result(status=status, success=False, error="gateway disconnected")

    got_title, body, level = format_account_result(failed)

    assert (got_title, level) == (title, "failure")
    assert "gateway disconnected" in body
    assert "BUY 10 SPY" in body


def test_format_account_result_preview_without_trades_says_none_needed() -> None:
    title, body, level = format_account_result(
        result(mode="print-rebalance", trades=[], total_value=None, cash_balance=None)
    )

    assert (title, level) == ("Preview finished: DUM959247 (0 proposed trade(s))", "info")
    assert "no trades needed" in body


async def test_notify_receiver_error_returns_false_and_logs_no_secret(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.status = 500
    service = NotificationService([receiver.url()])

    delivered = await service.notify_account_result(result())

    assert not delivered
    assert len(receiver.bodies) == 1
    assert "target #1 (json) failed" in caplog.text
    assert TOKEN not in caplog.text


async def test_notify_unreachable_target_returns_false_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = SecretStr(f"json://user:Pa55word99@127.0.0.1:{unused_port()}/hook/{TOKEN}")
    service = NotificationService([url])

    assert not await service.notify(title="t", body="b", level="failure")
    assert TOKEN not in caplog.text
    assert "Pa55word99" not in caplog.text


async def test_notify_one_failing_target_still_delivers_to_the_other(
    receiver: Receiver,
) -> None:
    dead = SecretStr(f"json://127.0.0.1:{unused_port()}/x")
    service = NotificationService([dead, receiver.url()])

    assert not await service.notify(title="t", body="b", level="info")
    assert len(receiver.bodies) == 1


async def test_notify_invalid_url_returns_false_and_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    service = NotificationService([SecretStr(f"nosuchscheme://{TOKEN}")])

    assert not await service.notify(title="t", body="b", level="info")
    assert "URL #1 (nosuchscheme) is not a valid Apprise URL" in caplog.text
    assert TOKEN not in caplog.text


async def test_notify_slow_receiver_times_out_and_returns_false(receiver: Receiver) -> None:
    receiver.hold = asyncio.Event()
    service = NotificationService([receiver.url()], timeout_secs=0.5)

    assert not await service.notify(title="t", body="b", level="info")


async def test_notify_without_urls_returns_false_and_sends_nothing() -> None:
    service = NotificationService(())

    assert not service.enabled
    assert not await service.notify(title="t", body="b", level="info")


def test_notification_service_repr_hides_urls() -> None:
    service = NotificationService([SecretStr(f"json://127.0.0.1:1/{TOKEN}")])

    assert TOKEN not in repr(service)


def _attributed(symbol: str, quantity: int, shares: dict[str, str], order_id: str) -> Trade:
    return Trade.model_validate(
        {
            "symbol": symbol,
            "quantity": quantity,
            "current_shares": max(-quantity, 0),
            "target_value": "1000",
            "current_value": "0",
            "price": "100.00",
            "order_id": order_id,
            "status": "FILLED",
            "filled_quantity": quantity,
            "avg_fill_price": "100.00",
            "attribution": {"shares": shares},
        }
    )


async def test_notify_account_result_of_two_strategies_attributes_each_order_and_sums_per_strategy(
    receiver: Receiver,
) -> None:
    service = NotificationService([receiver.url()])
    trades = [
        _attributed("SPY", 12, {"growth": "0.6", "income": "0.4"}, "17"),
        _attributed("TLT", -5, {"income": "1"}, "18"),
        _attributed("GLD", -1, {}, "19"),
    ]

    assert await service.notify_account_result(result(trades=trades))

    (body,) = receiver.bodies
    lines = body["message"].splitlines()
    assert "BUY 12 SPY @ 100.00 -> FILLED 12 @ 100.00 for growth 60% / income 40%" in lines
    assert "SELL 5 TLT @ 100.00 -> FILLED 5 @ 100.00 for income 100%" in lines
    assert "SELL 1 GLD @ 100.00 -> FILLED 1 @ 100.00 for no strategy" in lines
    # SPY's 1,200.00 split 720/480; TLT's 500.00 sale is income's; GLD's is no strategy's.
    assert (
        "By strategy (planned values): growth buys 720.00, sells 0.00; income buys 480.00, "
        "sells 500.00; no strategy buys 0.00, sells 100.00."
    ) in lines


def test_format_account_result_of_one_strategy_leaves_attribution_out() -> None:
    trades = [_attributed("SPY", 12, {"growth": "1"}, "17")]

    _, body, _ = format_account_result(result(trades=trades))

    assert "BUY 12 SPY @ 100.00 -> FILLED 12 @ 100.00" in body.splitlines()
    assert "growth" not in body
