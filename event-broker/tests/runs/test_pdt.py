"""PDT protection: one executed rebalance per account per New York trading day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from app.runs.pdt import (
    NEW_YORK,
    PDTProtectionService,
    next_allowed_after,
    pdt_refusal_message,
)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    """A New York wall-clock time."""
    return datetime(year, month, day, hour, minute, sec, tzinfo=NEW_YORK)


@pytest.fixture
def service(tmp_path: Path) -> PDTProtectionService:
    return PDTProtectionService(tmp_path / "state" / "pdt.sqlite3")


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
    path = tmp_path / "pdt.sqlite3"
    PDTProtectionService(path).record_execution("DU1", now=ny(2026, 11, 19, 9, 45))

    restarted = PDTProtectionService(path)

    assert not restarted.is_execution_allowed("DU1", now=ny(2026, 11, 19, 12, 0)).allowed
    info = restarted.info("DU1")
    assert info is not None
    assert info.last_executed == ny(2026, 11, 19, 9, 45)
    assert info.next_execution == ny(2026, 11, 20, 0, 0)


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
