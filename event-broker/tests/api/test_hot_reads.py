"""The polled reads answered before FastAPI (``app.api.hot_reads``): the same answers as the
routes, and every case that is not a plain success left to FastAPI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.types import Message

pytestmark = pytest.mark.timeout(120)

Api = Any  # conftest.Api
ApiFactory = Any

ACCOUNT = "DUM959247"
DETAIL = f"/api/v1/accounts/{ACCOUNT}"


def _key(api: Api) -> str:
    return str(api.client.headers["X-API-Key"])


def _without_ages(value: Any) -> Any:
    # Ages are rendered in 0.1 s steps and may tick between two requests.
    if isinstance(value, dict):
        return {k: _without_ages(v) for k, v in value.items() if k != "age_secs"}
    if isinstance(value, list):
        return [_without_ages(v) for v in value]
    return value


async def _both_ways(api: Api, path: str) -> tuple[httpx.Response, httpx.Response]:
    """``path`` answered by the hot reads, then by FastAPI's route (hot reads switched off)."""
    app = api.server.app
    hot = await api.client.get(path)
    hot_reads, app.hot_reads = app.hot_reads, None
    try:
        routed = await api.client.get(path)
    finally:
        app.hot_reads = hot_reads
    return hot, routed


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k != "date"}


async def test_account_detail_from_hot_reads_equals_routes_answer(api: Api) -> None:
    preview = await api.client.post(f"{DETAIL}/calculate", json={})
    assert preview.status_code == 200, preview.text

    hot, routed = await _both_ways(api, DETAIL)

    assert hot.status_code == routed.status_code == 200
    assert _headers(hot) == _headers(routed)
    assert hot.headers["cache-control"] == "no-store"
    assert _without_ages(hot.json()) == _without_ages(routed.json())
    assert [h["symbol"] for h in hot.json()["holdings"]] != []


async def test_metrics_from_hot_reads_equal_routes_answer(api: Api) -> None:
    hot, routed = await _both_ways(api, "/metrics")

    assert hot.status_code == routed.status_code == 200
    assert _headers(hot) == _headers(routed)
    assert hot.text == routed.text


async def test_client_blocked_for_wrong_keys_gets_429_on_polled_read_with_right_key(
    make_api: ApiFactory,
) -> None:
    api = await make_api(api_auth_max_failures="2")
    async with api.anonymous() as client:
        wrong = [
            (await client.get(DETAIL, headers={"X-API-Key": f"guess-{i}"})).status_code
            for i in range(2)
        ]
        account = await client.get(DETAIL, headers={"X-API-Key": _key(api)})
        metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {_key(api)}"})

    assert wrong == [401, 401]
    assert account.status_code == metrics.status_code == 429
    assert account.json()["error"]["code"] == "too_many_failed_attempts"


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        (DETAIL, {"X-API-Key": "wrong"}, 401, "unauthorized"),
        (DETAIL, {"X-API-Key": "", "Authorization": "Basic abc"}, 401, "unauthorized"),
        ("/api/v1/accounts/DU0000000", {}, 404, "account_not_found"),
        ("/api/v1/accounts/DU%20bad", {}, 422, "validation_error"),
    ],
)
async def test_requests_not_plainly_successful_get_fastapis_error_answer(
    api: Api, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    response = await api.client.get(path, headers=headers)

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_wrong_header_key_wins_over_right_bearer_as_in_the_route(api: Api) -> None:
    async with api.anonymous() as client:
        both = await client.get(
            DETAIL, headers={"X-API-Key": "wrong", "Authorization": f"Bearer {_key(api)}"}
        )
        empty_header = await client.get(
            DETAIL, headers={"X-API-Key": "", "Authorization": f"bearer  {_key(api)}"}
        )

    assert both.status_code == 401
    assert empty_header.status_code == 200, empty_header.text


async def test_polled_read_from_configured_origin_gets_cors_headers(make_api: ApiFactory) -> None:
    api = await make_api(api_cors_origins="https://dash.example:8443")

    response = await api.client.get(DETAIL, headers={"Origin": "https://dash.example:8443"})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://dash.example:8443"


def _scope(api: Api, path: str = DETAIL, **changes: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"x-api-key", _key(api).encode())],
        "client": ("127.0.0.1", 40000),
    }
    scope.update(changes)
    return scope


async def _answered(api: Api, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    answered = await api.server.app.hot_reads.answer(scope, send)
    assert answered == bool(sent)
    return sent


_RIGHT = (b"x-api-key", b"<key>")  # "<key>" stands for the right key in the cases below


@pytest.mark.parametrize(
    ("changes", "headers"),
    [
        ({"method": "HEAD"}, [_RIGHT]),
        ({"query_string": b"fields=all"}, [_RIGHT]),
        ({"path": f"{DETAIL}/"}, [_RIGHT]),
        ({"path": "/api/v1/accounts/DU0000000"}, [_RIGHT]),
        ({"path": f"{DETAIL}\n"}, [_RIGHT]),
        ({"type": "websocket"}, [_RIGHT]),
        ({}, []),
        ({}, [(b"x-api-key", b"wrong")]),
        ({}, [(b"x-api-key", b"wrong"), (b"authorization", b"Bearer <key>")]),
        ({}, [(b"authorization", b"Basic <key>")]),
        ({}, [_RIGHT, (b"origin", b"https://dash.example")]),
    ],
    ids=[
        "head",
        "query",
        "trailing-slash",
        "unknown-account",
        "newline",
        "websocket",
        "no-key",
        "wrong-key",
        "wrong-key-right-bearer",
        "basic-scheme",
        "origin",
    ],
)
async def test_anything_but_a_plain_keyed_read_is_passed_on_unanswered(
    api: Api, changes: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    key = _key(api).encode()
    scope = _scope(api, **changes)
    scope["headers"] = [(name, value.replace(b"<key>", key)) for name, value in headers]

    assert await _answered(api, scope) == []


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (DETAIL, [_RIGHT]),
        (DETAIL, [(b"authorization", b"Bearer <key>")]),
        (DETAIL, [(b"x-api-key", b""), (b"authorization", b"bearer  <key>")]),
        ("/metrics", [(b"authorization", b"Bearer <key>")]),
    ],
    ids=["header", "bearer", "empty-header-then-bearer", "metrics"],
)
async def test_plain_keyed_read_is_answered_in_two_messages(
    api: Api, path: str, headers: list[tuple[bytes, bytes]]
) -> None:
    key = _key(api).encode()
    scope = _scope(api, path)
    scope["headers"] = [(name, value.replace(b"<key>", key)) for name, value in headers]

    sent = await _answered(api, scope)

    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[1]["body"])).encode()


async def test_passing_on_counts_no_failure_fastapi_counts_it_once(api: Api) -> None:
    guard = api.server.app.state.guard

    await _answered(api, _scope(api, headers=[(b"x-api-key", b"wrong")]))
    before = guard.failures_total
    async with api.anonymous() as client:
        await client.get(DETAIL, headers={"X-API-Key": "wrong"})

    assert before == 0
    assert guard.failures_total == 1
