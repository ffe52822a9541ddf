"""PDT protection: one executed rebalance per account per New York trading day, one completion
run after an incomplete one; the days live in the journal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

import pytest
from app.models import AccountExecutionResult, ExecMode, PDTCheckResult, RunStatus
from app.runs.pdt import (
    NEW_YORK,
    PDTProtectionService,
    completion_note,
    next_allowed_after,
    pdt_refusal_message,
)
from app.store.journal import Journal
from broker_connector_base import Trade
from broker_connector_base.types import trading_day


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    """A New York wall-clock time."""
    return datetime(year, month, day, hour, minute, sec, tzinfo=NEW_YORK)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "state" / "journal.sqlite3") as opened:
        yield opened


@pytest.fixture
def service(journal: Journal) -> PDTProtectionService:
    return PDTProtectionService(journal)


def test_pdt_account_never_executed_is_allowed(service: PDTProtectionService) -> None:
    check = service.is_execution_allowed("DU1", now=ny(2026, 11, 19, 10, 0))

    assert check.allowed
    assert check.next_allowed_time is None
    assert service.info("DU1") is None


def test_pdt_second_execution_same_day_is_refused_until_next_midnight_new_york(
    service: PDTProtectionService,
) -> None:
    service.record_execution("DU1", now=ny(2026, 11, 19, 9, 45))

    check = service.is_execution_allowed("DU1", now=ny(2026, 11, 19, 15, 30))

    assert not check.allowed
    assert check.next_allowed_time == "2026-11-20T00:00:00-05:00"


def test_pdt_other_account_is_not_affected(service: PDTProtectionService) -> None:
    service.record_execution("DU1", now=ny(2026, 11, 19, 9, 45))

    assert service.is_execution_allowed("DU2", now=ny(2026, 11, 19, 15, 30)).allowed


def test_pdt_day_boundary_is_new_york_midnight_not_utc_midnight(
    service: PDTProtectionService,
) -> None:
    # 18:00 New York is 23:00 UTC; 20:00 New York is already the next day in UTC.
    service.record_execution("DU1", now=ny(2026, 11, 19, 18, 0))

    assert not service.is_execution_allowed("DU1", now=ny(2026, 11, 19, 20, 0)).allowed
    assert not service.is_execution_allowed("DU1", now=ny(2026, 11, 19, 23, 59, 59)).allowed
    assert service.is_execution_allowed("DU1", now=ny(2026, 11, 20, 0, 0, 1)).allowed


def test_pdt_accepts_now_in_any_time_zone(service: PDTProtectionService) -> None:
    service.record_execution("DU1", now=datetime(2026, 11, 20, 4, 59, tzinfo=UTC))  # 23:59 NY

    assert not service.is_execution_allowed(
        "DU1", now=datetime(2026, 11, 20, 4, 59, 30, tzinfo=UTC)
    ).allowed
    assert service.is_execution_allowed(
        "DU1", now=datetime(2026, 11, 20, 5, 0, 1, tzinfo=UTC)
    ).allowed


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 19), "2026-11-20T00:00:00-05:00"),  # Thursday -> Friday
        (date(2026, 11, 20), "2026-11-23T00:00:00-05:00"),  # Friday -> Monday
        (date(2026, 11, 21), "2026-11-23T00:00:00-05:00"),  # Saturday -> Monday
        (date(2026, 3, 6), "2026-03-09T00:00:00-04:00"),  # weekend of the switch to EDT
        (date(2026, 10, 30), "2026-11-02T00:00:00-05:00"),  # weekend of the switch to EST
        (date(2026, 3, 7), "2026-03-09T00:00:00-04:00"),
    ],
)
def test_next_allowed_after_is_next_weekday_midnight_with_dst_offset(
    day: date, expected: str
) -> None:
    assert next_allowed_after(day).isoformat() == expected


def test_pdt_friday_execution_is_refused_over_weekend_and_allowed_monday(
    service: PDTProtectionService,
) -> None:
    service.record_execution("DU1", now=ny(2026, 3, 6, 10, 0))

    refused = service.is_execution_allowed("DU1", now=ny(2026, 3, 6, 16, 0))

    assert refused.next_allowed_time == "2026-03-09T00:00:00-04:00"
    assert service.is_execution_allowed("DU1", now=ny(2026, 3, 7, 10, 0)).allowed
    assert service.is_execution_allowed("DU1", now=ny(2026, 3, 9, 0, 0)).allowed


def test_pdt_state_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        PDTProtectionService(journal).record_execution("DU1", now=ny(2026, 11, 19, 9, 45))

    reopened = Journal(path)
    restarted = PDTProtectionService(reopened)

    assert not restarted.is_execution_allowed("DU1", now=ny(2026, 11, 19, 12, 0)).allowed
    info = restarted.info("DU1")
    assert info is not None
    assert info.last_executed == ny(2026, 11, 19, 9, 45)
    assert info.next_execution == ny(2026, 11, 20, 0, 0)
    reopened.close()


def test_pdt_earlier_record_does_not_replace_later_one(service: PDTProtectionService) -> None:
    service.record_execution("DU1", now=ny(2026, 11, 19, 15, 0))
    service.record_execution("DU1", now=ny(2026, 11, 18, 15, 0))

    assert service.last_execution("DU1") == ny(2026, 11, 19, 15, 0)


def test_pdt_clock_stepped_back_before_last_execution_still_refuses(
    service: PDTProtectionService,
) -> None:
    service.record_execution("DU1", now=ny(2026, 11, 20, 10, 0))

    check = service.is_execution_allowed("DU1", now=ny(2026, 11, 19, 23, 0))

    assert not check.allowed
    assert check.next_allowed_time == "2026-11-23T00:00:00-05:00"


def test_pdt_naive_time_is_refused(service: PDTProtectionService) -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        service.is_execution_allowed("DU1", now=datetime(2026, 11, 19, 10, 0))


def test_pdt_refusal_message_is_the_documented_text() -> None:
    message = pdt_refusal_message("DU789012", "2026-11-20T00:00:00-05:00")

    assert message == (
        "PDT Protection: Account DU789012 was already rebalanced earlier today so it was "
        "skipped to protect against PDT. You can manually rebalance after "
        "2026-11-20T00:00:00-05:00."
    )
    assert pdt_refusal_message("DU1", ny(2026, 11, 20, 0, 0)).endswith(
        "after 2026-11-20T00:00:00-05:00."
    )


def _trade(symbol: str = "SPY", quantity: int = -3, **fields: object) -> Trade:
    return Trade.model_validate(
        {
            "symbol": symbol,
            "quantity": quantity,
            "current_shares": 10,
            "target_value": "0",
            "current_value": "1800",
            "price": "600",
            **fields,
        }
    )


def _run(journal: Journal, run_id: str, *, orders: int = 1, mode: ExecMode = "rebalance") -> None:
    journal.start_run(run_id=run_id, account_id="DU1", mode=mode, client_id=1)
    for n in range(orders):
        journal.record_order(run_id=run_id, trade=_trade(symbol=["SPY", "TLT", "GLD"][n]))


def _finish(journal: Journal, run_id: str, status: RunStatus) -> None:
    now = datetime.now(UTC)
    result = AccountExecutionResult(
        account_id="DU1",
        run_id=run_id,
        mode="rebalance",
        status=status,
        success=status == "succeeded",
        error=None if status == "succeeded" else "stopped",
        started_at=now,
        finished_at=now,
    )
    journal.finish_run(run_id=run_id, result=result)


def test_pdt_day_is_recorded_with_the_run_s_first_order_in_the_journal(
    journal: Journal, service: PDTProtectionService
) -> None:
    _run(journal, "run-1", orders=0)
    assert service.is_execution_allowed("DU1") == PDTCheckResult(allowed=True)

    journal.record_order(run_id="run-1", trade=_trade())  # the intent, before it is sent

    [row] = journal.query("SELECT account_id, run_id, trading_day FROM pdt_days")
    assert (row["account_id"], row["run_id"]) == ("DU1", "run-1")
    assert row["trading_day"] == trading_day(datetime.now(UTC)).isoformat()


def test_pdt_complete_run_refuses_a_second_one_naming_it(
    journal: Journal, service: PDTProtectionService
) -> None:
    _run(journal, "run-1")
    _finish(journal, "run-1", "succeeded")

    check = service.is_execution_allowed("DU1")

    assert not check.allowed
    assert check.detail == "run run-1, succeeded"
    assert "(run run-1, succeeded)" in pdt_refusal_message("DU1", "x", detail=check.detail)


@pytest.mark.parametrize("status", ["failed", "timed_out", "abandoned", None])
def test_pdt_incomplete_run_allows_one_completion_run_then_refuses(
    journal: Journal, service: PDTProtectionService, status: str | None
) -> None:
    _run(journal, "run-1", orders=2)
    if status == "abandoned":
        journal.mark_run_abandoned("run-1", reason="daemon killed")
    elif status is not None:  # None: the process died and nobody recorded an end yet
        _finish(journal, "run-1", cast("RunStatus", status))

    allowed = service.is_execution_allowed("DU1")
    _run(journal, "run-2")
    _finish(journal, "run-2", "failed")  # even an incomplete completion run is the last
    refused = service.is_execution_allowed("DU1")

    assert allowed == PDTCheckResult(allowed=True, completion_of="run-1")
    assert "completion run after run run-1" in completion_note("run-1")
    assert not refused.allowed
    assert refused.detail == "run run-1, then completion run run-2"


def test_pdt_runs_that_placed_no_order_never_use_the_day(
    journal: Journal, service: PDTProtectionService
) -> None:
    _run(journal, "run-1", orders=0)
    _finish(journal, "run-1", "failed")
    _run(journal, "preview", orders=1, mode="print-rebalance")

    assert service.is_execution_allowed("DU1") == PDTCheckResult(allowed=True)


def test_pdt_completion_run_that_placed_nothing_leaves_the_completion_for_later(
    journal: Journal, service: PDTProtectionService
) -> None:
    _run(journal, "run-1")
    _finish(journal, "run-1", "timed_out")
    _run(journal, "run-2", orders=0)
    _finish(journal, "run-2", "failed")

    assert service.is_execution_allowed("DU1").completion_of == "run-1"
