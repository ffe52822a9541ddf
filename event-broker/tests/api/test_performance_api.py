"""Performance reports, snapshot drift and snapshots on demand through the real HTTP API.

Snapshots are written into the API's journal as the daemon writes them (``SnapshotBook``:
``Journal.finish_run`` of snapshot runs, from another connection, as the CLI would), or
taken through the API by a worker against the IB Gateway simulator.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(180)

Api = Any  # conftest.Api (importlib mode: test modules cannot import conftest)
Book = Any  # conftest.SnapshotBook
ACCOUNT = "DUM959247"
D = Decimal


def _at(day: str) -> datetime:
    """16:10 New York (21:10 UTC in November) of ``day``."""
    return datetime.fromisoformat(f"{day}T21:10:00+00:00")


def _four_days(book: Book) -> None:
    """100 000 -> 101 000 (+1 %) -> a 5 000 deposit, no gain -> 104 000 (-1.89 %)."""
    targets = {"SPY": "0.5"}
    book.take(
        ACCOUNT,
        _at("2026-11-02"),
        total="100000.00",
        cash="50000.00",
        positions={"SPY": ("100", "500")},
        targets=targets,
        spy="500",
    )
    book.take(
        ACCOUNT,
        _at("2026-11-03"),
        total="101000.00",
        cash="50000.00",
        positions={"SPY": ("100", "510")},
        targets=targets,
        spy="510",
    )
    book.take(
        ACCOUNT,
        _at("2026-11-04"),
        total="106000.00",
        cash="55000.00",
        positions={"SPY": ("100", "510")},
        targets=targets,
        spy="510",
    )
    book.take(
        ACCOUNT,
        _at("2026-11-05"),
        total="104000.00",
        cash="55000.00",
        positions={"SPY": ("100", "490")},
        targets=targets,
        spy="490",
    )


async def test_performance_of_account_with_snapshots_is_the_time_weighted_report(
    api: Api, book: Book
) -> None:
    _four_days(book)

    response = await api.client.get(f"/api/v1/accounts/{ACCOUNT}/performance")

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["format_version"], report["account_id"], report["days"]) == (1, ACCOUNT, 4)
    assert [(p["date"], p["value"], p["cash_flow"]) for p in report["equity_curve"]] == [
        ("2026-11-02", "100000.00", "0"),
        ("2026-11-03", "101000.00", "0"),
        ("2026-11-04", "106000.00", "5000.00"),
        ("2026-11-05", "104000.00", "0"),
    ]
    assert [(f["date"], f["amount"]) for f in report["cash_flows"]] == [("2026-11-04", "5000.00")]
    metrics = report["metrics"]
    # The deposit is not a gain: 1.01 * (101 000 / 101 000) * (104 000 / 106 000) - 1.
    assert metrics["total_return"] == pytest.approx(1.01 * 104000 / 106000 - 1)
    assert metrics["max_drawdown"]["depth"] == pytest.approx(1 - 104000 / 106000)
    assert metrics["max_drawdown"]["trough"] == "2026-11-05"
    assert (metrics["start_value"], metrics["end_value"]) == ("100000.00", "104000.00")
    assert metrics["net_cash_flow"] == "5000.00"
    assert report["equity_curve"][-1]["drawdown"] == pytest.approx(1 - 104000 / 106000)
    assert report["benchmark"]["benchmark_total_return"] == pytest.approx(490 / 500 - 1)
    spy = {line["symbol"]: line for line in report["drift"]["lines"]}["SPY"]
    assert (spy["value"], spy["weight"], spy["target_weight"]) == (
        "49000",
        "0.471154",
        "0.500000",
    )
    assert D(spy["drift"]) == D("-0.028846")
    assert [r["mode"] for r in report["runs"]] == ["snapshot"] * 4


async def test_performance_without_snapshots_is_an_empty_report_saying_why(api: Api) -> None:
    response = await api.client.get(f"/api/v1/accounts/{ACCOUNT}/performance")

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["snapshots"], report["days"]) == (0, 0)
    assert (report["metrics"], report["benchmark"], report["drift"]) == (None, None, None)
    assert (report["equity_curve"], report["cash_flows"]) == ([], [])
    assert any(f"no snapshot of account {ACCOUNT}" in note for note in report["notes"])


async def test_performance_follows_the_journal_a_cached_report_is_not_served_after_it_changed(
    api: Api, book: Book
) -> None:
    before = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}/performance")).json()
    _four_days(book)

    after = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}/performance")).json()
    again = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}/performance")).json()

    assert (before["days"], after["days"]) == (0, 4)
    assert again == after  # unchanged journal: the same (cached) report, same generated_at


async def test_performance_since_a_day_measures_from_that_day(api: Api, book: Book) -> None:
    _four_days(book)

    report = (
        await api.client.get(f"/api/v1/accounts/{ACCOUNT}/performance?since=2026-11-04")
    ).json()

    assert report["since"] == "2026-11-04"
    assert [p["date"] for p in report["equity_curve"]] == ["2026-11-04", "2026-11-05"]
    assert report["metrics"]["total_return"] == pytest.approx(104000 / 106000 - 1)
    assert report["cash_flows"][0]["date"] == "2026-11-04"


@pytest.mark.parametrize(
    ("since", "says"),
    [
        ("2026-13-01", "is not a date"),
        ("2026-02-30", "is not a date"),
        ("yesterday", "YYYY-MM-DD"),
        ("20261102", "YYYY-MM-DD"),
        ("2026-11-02T00:00", "at most 10 characters"),
        ("1762041600", "YYYY-MM-DD"),
        ("", "YYYY-MM-DD"),
    ],
)
async def test_performance_with_a_bad_since_is_422_naming_it_and_its_value(
    api: Api, since: str, says: str
) -> None:
    response = await api.client.get(
        f"/api/v1/accounts/{ACCOUNT}/performance", params={"since": since}
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == [
        {"field": "since", "value": since, "message": error["fields"][0]["message"]}
    ]
    assert says in error["fields"][0]["message"]
    assert repr(since) in error["message"]


async def test_performance_since_after_today_is_422(api: Api) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()

    response = await api.client.get(
        f"/api/v1/accounts/{ACCOUNT}/performance", params={"since": tomorrow}
    )

    assert response.status_code == 422
    assert "is after today" in response.json()["error"]["fields"][0]["message"]


async def test_performance_of_unknown_account_is_404(api: Api) -> None:
    response = await api.client.get("/api/v1/accounts/NOPE123/performance")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "account_not_found"


async def test_unreadable_stored_snapshot_is_500_naming_journal_and_account_detail_still_answers(
    api: Api, book: Book
) -> None:
    _four_days(book)
    with sqlite3.connect(api.runtime.journal.path) as conn:
        conn.execute("UPDATE snapshots SET total_value = 'lots' WHERE trading_date = '2026-11-05'")

    report = await api.client.get(f"/api/v1/accounts/{ACCOUNT}/performance")
    detail = await api.client.get(f"/api/v1/accounts/{ACCOUNT}")

    assert report.status_code == 500
    error = report.json()["error"]
    assert error["code"] == "report_failed"
    assert "'lots'" in error["message"]
    assert detail.status_code == 200
    assert detail.json()["snapshot"] is None
    assert any("'lots'" in warning for warning in detail.json()["warnings"])


async def test_account_without_preview_shows_latest_snapshot_drift_and_says_so(
    api: Api, book: Book
) -> None:
    _four_days(book)
    last_snapshot = book.journal.recent_runs(ACCOUNT, limit=1)[0].run_id

    detail = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}")).json()

    assert detail["holdings_source"] == "snapshot"
    assert detail["preview"] is None
    assert detail["snapshot"]["run_id"] == last_snapshot
    assert detail["snapshot"]["taken_at"] == "2026-11-05T21:10:00Z"
    assert detail["snapshot"]["age_secs"] > 0
    assert detail["holdings"] == [
        {
            "symbol": "SPY",
            "current_value": "49000",
            "current_weight": "0.471154",
            "target_value": "52000.00",
            "target_weight": "0.500000",
            "drift": "-0.028846",
            "trade_quantity": 0,
            "trade_value": "0",
            "direction": "HOLD",
            "strategies": None,
        }
    ]
    assert detail["drift"] == {"max_abs": "0.028846", "total": "0.014423"}
    listed = (await api.client.get("/api/v1/accounts")).json()["accounts"]
    assert {a["account_id"]: a["holdings_source"] for a in listed if a["holdings_source"]} == {
        ACCOUNT: "snapshot"
    }


async def test_snapshot_without_targets_shows_positions_and_no_drift(api: Api, book: Book) -> None:
    book.take(
        ACCOUNT, _at("2026-11-02"), total="1000.00", cash="500.00", positions={"SPY": ("1", "500")}
    )

    detail = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}")).json()

    assert detail["snapshot"]["targets_known"] is False
    assert detail["drift"] is None
    assert [(h["symbol"], h["current_weight"], h["target_weight"]) for h in detail["holdings"]] == [
        ("SPY", "0.500000", None)
    ]


async def test_newer_of_preview_and_snapshot_gives_the_holdings(api: Api, book: Book) -> None:
    book.take(ACCOUNT, _at("2026-11-02"), total="1000.00", cash="1000.00", targets={"SPY": "1"})
    await api.client.post(f"/api/v1/accounts/{ACCOUNT}/calculate", json={})
    preview_first = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}")).json()
    book.take(ACCOUNT, datetime.now(UTC), total="1000.00", cash="1000.00", targets={"SPY": "1"})

    snapshot_after = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}")).json()

    assert preview_first["holdings_source"] == "preview"
    assert any(h["direction"] == "BUY" for h in preview_first["holdings"])
    assert snapshot_after["holdings_source"] == "snapshot"
    assert snapshot_after["preview"]["run_id"] == preview_first["preview"]["run_id"]
    assert [(h["symbol"], h["drift"]) for h in snapshot_after["holdings"]] == [("SPY", "-1.000000")]


async def test_snapshot_now_runs_a_snapshot_worker_and_the_report_and_metrics_show_it(
    api: Api,
) -> None:
    response = await api.client.post(f"/api/v1/accounts/{ACCOUNT}/snapshot", json={})

    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["mode"], run["status"], run["source"]) == ("snapshot", "succeeded", "api")
    assert run["orders"] == []
    assert api.sim_orders(ACCOUNT) == []
    report = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}/performance")).json()
    assert report["snapshots"] == 1
    assert report["runs"][0]["run_id"] == run["run_id"]
    assert D(report["drift"]["total_value"]) == D(run["total_value"])
    assert report["drift"]["targets_known"] is True
    detail = (await api.client.get(f"/api/v1/accounts/{ACCOUNT}")).json()
    assert (detail["holdings_source"], detail["snapshot"]["run_id"]) == ("snapshot", run["run_id"])
    metrics = (await api.client.get("/metrics")).text
    age = re.search(
        rf'^rebalancer_last_snapshot_age_seconds{{account_id="{ACCOUNT}"}} (\S+)$',
        metrics,
        re.MULTILINE,
    )
    assert age is not None
    assert 0 <= float(age.group(1)) < 60


async def test_snapshot_now_of_an_untradable_account_is_409_and_runs_nothing(api: Api) -> None:
    response = await api.client.post("/api/v1/accounts/U1234567/snapshot", json={})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "account_not_tradable"
    assert api.runtime.reader.runs() == []


async def test_metrics_snapshot_age_follows_snapshots_written_by_another_process(
    api: Api, book: Book
) -> None:
    before = (await api.client.get("/metrics")).text
    _four_days(book)

    after = (await api.client.get("/metrics")).text

    assert "rebalancer_last_snapshot_age_seconds{" not in before
    line = next(
        line for line in after.splitlines() if line.startswith("rebalancer_last_snapshot_age")
    )
    age = float(line.split()[-1])
    expected = (datetime.now(UTC) - _at("2026-11-05")).total_seconds()
    assert line.startswith(f'rebalancer_last_snapshot_age_seconds{{account_id="{ACCOUNT}"}}')
    assert expected - 60 < age <= expected
