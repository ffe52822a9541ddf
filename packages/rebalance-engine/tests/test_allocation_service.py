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
from rebalance_engine import MAX_ALLOCATION_SYMBOLS, AllocationService, AllocationServiceError
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


def _pinned(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {**_doc()["data"], "allocations": list(entries)}}


_INVALID: list[Any] = [
    pytest.param("not json at all", "is not valid JSON: Expecting value at line 1", id="non-json"),
    pytest.param(json.dumps([1, 2]), "document: a list is not a mapping", id="array"),
    pytest.param(
        {"status": "error", "data": _doc()["data"]},
        "status: 'error' is not one of success",
        id="status-error",
    ),
    pytest.param({"status": "success"}, "data: is required", id="no-data"),
    pytest.param(
        {"status": "success", "data": {"name": "s"}},
        "data.strategy_long_name: is required",
        id="no-long-name",
    ),
    pytest.param(_doc(name=""), "data.name: '' does not match", id="empty-name"),
    pytest.param(_doc(allocations="SPY"), "data.allocations: 'SPY' is not a list", id="str"),
    pytest.param(
        _doc({"SPY": 1.5}), "data.allocations[0].allocation: 1.5 is not within 0..1", id="above-1"
    ),
    pytest.param(
        _doc({"SPY": -0.1, "AGG": 1.1}),
        "data.allocations[0].allocation: -0.1 is not within 0..1",
        id="negative",
    ),
    pytest.param(
        _doc({"SPY": "abc"}), "allocations[0].allocation: 'abc' is text, not a number", id="text"
    ),
    pytest.param(
        _doc({"SPY": "0.5", "AGG": "0.5"}),
        "data.allocations[0].allocation: '0.5' is text, not a number (write it without quotes)",
        id="number-as-text",
    ),
    pytest.param(
        _doc({"SPY": True}),
        "data.allocations[0].allocation: True is a boolean, not a number",
        id="bool",
    ),
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
        "data.allocations[1].symbol: 'SPY' appears more than once (first at data.allocations[0])",
        id="duplicate",
    ),
    pytest.param(_doc({"SP$Y": 1}), "allocations[0].symbol: symbol 'SP$Y' is not a ticker", id="$"),
    pytest.param(
        {"status": "success", "data": {**_doc()["data"], "allocations": [{"symbol": "SPY"}]}},
        "data.allocations[0].allocation: is required",
        id="no-weight",
    ),
    pytest.param(
        {
            "status": "success",
            "data": {**_doc()["data"], "allocations": [{"symbol": "SPY", "alocation": 1}]},
        },
        "data.allocations[0].alocation: is not a known field (known: symbol, allocation, "
        "conid, isin); did you mean 'allocation'?",
        id="misspelt-field",
    ),
    pytest.param(
        {**_doc(), "extra": 1}, "extra: is not a known field (known: status, data)", id="unknown"
    ),
    pytest.param(
        _pinned({"symbol": "SPY", "allocation": 1, "conid": "756733"}),
        "data.allocations[0].conid: '756733' is text",
        id="conid-as-text",
    ),
    pytest.param(
        _pinned({"symbol": "SPY", "allocation": 1, "conid": 0}),
        "data.allocations[0].conid: 0",
        id="conid-zero",
    ),
    pytest.param(
        _pinned({"symbol": "SPY", "allocation": 1, "isin": "US78462F1031"}),
        "data.allocations[0].isin: ISIN 'US78462F1031' has check digit 1, expected 0",
        id="isin-check-digit",
    ),
    pytest.param(
        _doc(name="other-strategy"),
        "data.name: 'other-strategy' is another strategy than the one asked for ('s')",
        id="other-strategy",
    ),
    pytest.param(
        _doc({f"S{i}": 0.0001 for i in range(10_000)}),
        f"data.allocations: has 10000 entries, more than the limit of {MAX_ALLOCATION_SYMBOLS}",
        id="10000-symbols",
    ),
    pytest.param('{"status": "success", "status": "success"}', "'status' appears more", id="dup"),
    pytest.param(
        '{"status": "success", "data": {"allocations": [{"allocation": NaN}]}}',
        "NaN is not a number this document may hold",
        id="nan",
    ),
    pytest.param(
        b'{"status": "success", "data": {"name": "s\xff"}}',
        "allocations document is not UTF-8 text: byte 0xff at offset 41",
        id="not-utf8",
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


async def test_get_allocations_lines_pinned_by_conid_or_isin_become_instruments(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.documents["s"] = _pinned(
        {"symbol": "SPY", "allocation": 0.5, "conid": 756733},
        {"symbol": "ABC", "allocation": 0.3, "isin": "US0378331005", "conid": 9000001},
        {"symbol": "AGG", "allocation": 0.2},
    )

    result = await _service(allocations_api).get_allocations("s")

    assert [(i.symbol, i.con_id, i.isin) for i in result.instruments] == [
        ("SPY", 756733, None),
        ("ABC", 9000001, "US0378331005"),
    ]
    assert [a.symbol for a in result.allocations] == ["SPY", "ABC", "AGG"]


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


async def test_file_base_missing_document_raises_naming_path(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidInputError, match=r"nope/allocations\.json: allocations document not"
    ):
        await AllocationService(tmp_path.as_uri()).get_allocations("nope")


async def test_file_base_non_utf8_document_raises_naming_path_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "s" / "allocations.json"
    path.parent.mkdir()
    path.write_bytes(b'{"status": "succ\xe9ss"}')
    with pytest.raises(InvalidInputError) as caught:
        await AllocationService(tmp_path.as_uri()).get_allocations("s")
    assert caught.value.source == str(path)
    assert "is not UTF-8 text: byte 0xe9 at offset 16" in str(caught.value)


async def test_file_base_document_that_is_a_directory_raises_naming_path(tmp_path: Path) -> None:
    (tmp_path / "s" / "allocations.json").mkdir(parents=True)
    with pytest.raises(InvalidInputError, match=r"allocations\.json: allocations document is a d"):
        await AllocationService(tmp_path.as_uri()).get_allocations("s")


async def test_file_base_document_over_size_limit_raises_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "s" / "allocations.json"
    path.parent.mkdir()
    path.write_text(" " * 2000)
    with pytest.raises(InvalidInputError, match="is 2000 bytes, more than the limit of 1000"):
        await AllocationService(tmp_path.as_uri(), max_bytes=1000).get_allocations("s")


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/html", "Content-Type is 'text/html', expected application/json"),
        ("text/plain; charset=utf-8", "Content-Type is 'text/plain', expected application/json"),
        ("application/json; charset=latin-1", "charset is 'latin-1', expected utf-8"),
    ],
)
async def test_get_allocations_wrong_content_type_raises_naming_url_and_type(
    allocations_api: AllocationsAPI, content_type: str, message: str
) -> None:
    allocations_api.set_allocations("s", {"SPY": "1"})
    allocations_api.content_type = content_type
    with pytest.raises(InvalidInputError) as caught:
        await _service(allocations_api, retries=0).get_allocations("s")
    assert message in str(caught.value)
    assert caught.value.source == f"{allocations_api.base_url}/s/allocations"


async def test_get_allocations_vendor_json_type_is_accepted(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.set_allocations("s", {"SPY": "1"})
    allocations_api.content_type = "application/vnd.api+json; charset=UTF-8"
    result = await _service(allocations_api).get_allocations("s")
    assert [a.symbol for a in result.allocations] == ["SPY"]


async def test_get_allocations_redirect_raises_naming_where_it_pointed(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.statuses = [302]
    allocations_api.headers = {"Location": "https://elsewhere.example/v2/s/allocations"}
    with pytest.raises(AllocationServiceError) as caught:
        await _service(allocations_api, retries=3).get_allocations("s")
    assert caught.value.status == 302
    assert "redirecting to 'https://elsewhere.example/v2/s/allocations'" in str(caught.value)
    assert len(allocations_api.requests) == 1  # neither followed nor retried


async def test_get_allocations_body_over_size_limit_raises_naming_url(
    allocations_api: AllocationsAPI,
) -> None:
    allocations_api.documents["s"] = b" " * 5000
    with pytest.raises(InvalidInputError) as caught:
        await _service(allocations_api, max_bytes=1000).get_allocations("s")
    # Refused on the declared length, before the body is read.
    assert "is 5000 bytes (Content-Length), more than the limit of 1000" in str(caught.value)
    assert caught.value.source == f"{allocations_api.base_url}/s/allocations"


async def test_get_allocations_endless_body_is_refused_once_past_the_limit_not_read_to_the_end(
    allocations_api: AllocationsAPI,
) -> None:
    # Chunked, no Content-Length, never ending: only counting while reading can stop it.
    allocations_api.endless = True
    service = _service(allocations_api, max_bytes=100_000, retries=0, timeout_secs=10)
    with pytest.raises(InvalidInputError) as caught:
        await service.get_allocations("s")
    assert "allocations document is more than the limit of 100000 bytes" in str(caught.value)
    assert caught.value.source == f"{allocations_api.base_url}/s/allocations"


def test_constructor_unsupported_scheme_raises_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="ftp"):
        AllocationService("ftp://example.invalid/x")
