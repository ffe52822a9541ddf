"""AllocationService against a real aiohttp server on 127.0.0.1, and file:// documents."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from broker_connector_base import InvalidInputError
from pydantic import SecretStr
from rebalance_engine import AllocationService, AllocationServiceError
from rebalance_engine.testing import API_KEY, AllocationsAPI, allocation_document

pytestmark = pytest.mark.timeout(30)


def _service(api: AllocationsAPI, **kwargs: Any) -> AllocationService:
    kwargs.setdefault("backoff_secs", 0.01)
    return AllocationService(api.base_url, SecretStr(API_KEY), **kwargs)


async def test_get_allocations_valid_document_returns_exact_decimals_and_sends_key(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.set_allocations("etf-blend", {"SPY": "0.6", "AGG": "0.3", "GLD": "0.1"})
    result = await _service(allocations_api).get_allocations("etf-blend")
    assert result.name == "etf-blend"
    assert result.strategy_long_name == "etf-blend long name"
    assert result.last_rebalance_on == "2026-11-20"
    assert [(a.symbol, a.allocation) for a in result.allocations] == [
        ("SPY", Decimal("0.6")),
        ("AGG", Decimal("0.3")),
        ("GLD", Decimal("0.1")),
    ]
    assert allocations_api.requests[0]["x-api-key"] == API_KEY


async def test_get_allocations_5xx_then_success_retries_and_succeeds(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.set_allocations("s", {"SPY": "1"})
    allocations_api.statuses = [503, 502]
    result = await _service(allocations_api, retries=3).get_allocations("s")
    assert [a.symbol for a in result.allocations] == ["SPY"]
    assert len(allocations_api.requests) == 3


async def test_get_allocations_5xx_beyond_retries_raises_service_error_with_status(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.set_allocations("s", {"SPY": "1"})
    allocations_api.statuses = [500, 500, 500]
    with pytest.raises(AllocationServiceError) as caught:
        await _service(allocations_api, retries=2).get_allocations("s")
    assert caught.value.status == 500
    assert "3 attempts" in str(caught.value)
    assert len(allocations_api.requests) == 3


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_get_allocations_4xx_raises_at_once_without_retry(
    allocations_api: AllocationsAPI, status: int
) -> None:
    allocations_api.statuses = [status]
    with pytest.raises(AllocationServiceError) as caught:
        await _service(allocations_api, retries=3).get_allocations("s")
    assert caught.value.status == status
    assert len(allocations_api.requests) == 1


async def test_get_allocations_wrong_key_error_and_logs_never_contain_the_key(
    allocations_api: AllocationsAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    allocations_api.statuses = [500]
    allocations_api.set_allocations("s", {"SPY": "1"})
    secret = "sk-wrong-key-do-not-print"
    service = AllocationService(
        allocations_api.base_url, SecretStr(secret), retries=1, backoff_secs=0.01
    )
    with pytest.raises(AllocationServiceError) as caught:
        await service.get_allocations("s")
    assert caught.value.status == 401
    assert secret not in str(caught.value)
    assert secret not in repr(service)
    assert secret not in caplog.text


async def test_get_allocations_stalled_server_times_out_retries_then_raises(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.hang = True
    service = _service(allocations_api, retries=1, timeout_secs=0.2)
    with pytest.raises(AllocationServiceError, match=r"no answer within 0\.2 s"):
        await service.get_allocations("s")
    assert len(allocations_api.requests) == 2


async def test_get_allocations_server_down_retries_then_raises_service_error() -> None:
    service = AllocationService(
        "http://127.0.0.1:9/v1", SecretStr(API_KEY), retries=1, backoff_secs=0.01, timeout_secs=2
    )
    with pytest.raises(AllocationServiceError, match="2 attempts"):
        await service.get_allocations("s")


def _doc(weights: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    document = allocation_document("s", {"SPY": "0.5", "AGG": "0.5"})
    if weights is not None:
        document["data"]["allocations"] = [
            {"symbol": s, "allocation": w} for s, w in weights.items()
        ]
    document["data"].update(data)
    return document


_INVALID: list[Any] = [
    pytest.param("not json at all", "not JSON", id="non-json"),
    pytest.param(json.dumps([1, 2]), "JSON object", id="array"),
    pytest.param(
        {"status": "error", "data": {}},
        "'status' must be 'success', got 'error'",
        id="status-error",
    ),
    pytest.param({"status": "success"}, "'data' is missing", id="no-data"),
    pytest.param(
        {"status": "success", "data": {"name": "s"}},
        "'data.strategy_long_name' is missing",
        id="no-long-name",
    ),
    pytest.param(_doc(name=""), "'data.name' must not be empty", id="empty-name"),
    pytest.param(_doc(allocations="SPY"), "'data.allocations' must be a list", id="alloc-str"),
    pytest.param(
        _doc({"SPY": 1.5}),
        "allocations[0].allocation' of SPY must be between 0 and 1, got 1.5",
        id="above-one",
    ),
    pytest.param(
        _doc({"SPY": -0.1, "AGG": 1.1}), "of SPY must be between 0 and 1, got -0.1", id="negative"
    ),
    pytest.param(_doc({"SPY": "abc"}), "of SPY must be a number, got 'abc'", id="text-weight"),
    pytest.param(_doc({"SPY": True}), "of SPY must be a number, got True", id="bool-weight"),
    pytest.param(_doc({"SPY": 0.5, "AGG": 0.48}), "sum to 0.98", id="sum-low"),
    pytest.param(_doc({"SPY": 0.6, "AGG": 0.6}), "sum to 1.2", id="sum-high"),
    pytest.param(
        {
            "status": "success",
            "data": {
                **_doc()["data"],
                "allocations": [
                    {"symbol": "SPY", "allocation": 0.5},
                    {"symbol": "spy", "allocation": 0.5},
                ],
            },
        },
        "symbol SPY appears more than once",
        id="duplicate",
    ),
    pytest.param(
        _doc({"SP$Y": 1}), "'data.allocations[0].symbol' 'SP$Y' is invalid", id="bad-symbol"
    ),
    pytest.param(
        {"status": "success", "data": {**_doc()["data"], "allocations": [{"symbol": "SPY"}]}},
        "'data.allocations[0].allocation' is missing",
        id="no-weight",
    ),
]


@pytest.mark.parametrize(("document", "message"), _INVALID)
async def test_get_allocations_invalid_document_raises_naming_field_and_value(
    allocations_api: AllocationsAPI, document: Any, message: str
) -> None:
    allocations_api.documents["s"] = document
    with pytest.raises(InvalidInputError) as caught:
        await _service(allocations_api, retries=0).get_allocations("s")
    assert message in str(caught.value)
    assert allocations_api.base_url in str(caught.value)  # the source is named
    assert len(allocations_api.requests) == 1  # invalid documents are not retried


async def test_get_allocations_sum_within_tolerance_is_accepted(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.documents["s"] = _doc({"SPY": 0.5, "AGG": 0.495})
    result = await _service(allocations_api).get_allocations("s")
    assert sum(a.allocation for a in result.allocations) == Decimal("0.995")


@pytest.mark.parametrize("name", ["..", ".", "a/b", "", "x" * 129])
async def test_get_allocations_bad_strategy_name_raises_before_any_request(
    allocations_api: AllocationsAPI, name: str
) -> None:
    with pytest.raises(InvalidInputError, match="strategy name"):
        await _service(allocations_api).get_allocations(name)
    assert allocations_api.requests == []


async def test_file_base_reads_strategy_document_from_directory(tmp_path: Path) -> None:
    folder = tmp_path / "etf-blend"
    folder.mkdir()
    (folder / "allocations.json").write_text(
        '{"status": "success", "data": {"name": "etf-blend", "strategy_long_name": "L", '
        '"last_rebalance_on": "2026-11-20", "allocations": [{"symbol": "SPY", '
        '"allocation": 0.7}, {"symbol": "AGG", "allocation": 0.3}]}}'
    )
    result = await AllocationService(tmp_path.as_uri()).get_allocations("etf-blend")
    assert [(a.symbol, a.allocation) for a in result.allocations] == [
        ("SPY", Decimal("0.7")),
        ("AGG", Decimal("0.3")),
    ]


async def test_file_base_missing_document_raises_service_error_naming_path(
    tmp_path: Path,
) -> None:
    with pytest.raises(AllocationServiceError, match=r"nope/allocations\.json"):
        await AllocationService(tmp_path.as_uri()).get_allocations("nope")


def test_constructor_unsupported_scheme_raises_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="ftp"):
        AllocationService("ftp://example.invalid/x")
