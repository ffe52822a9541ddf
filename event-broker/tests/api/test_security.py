"""The API's guards, over real HTTP: key check and its failure limit, CSRF, JSON bodies."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(120)

Api = Any  # conftest.Api
ApiFactory = Any


def _key(api: Api) -> str:
    return str(api.client.headers["X-API-Key"])


async def test_wrong_keys_beyond_limit_block_that_address_even_with_right_key(
    make_api: ApiFactory,
) -> None:
    api = await make_api(api_auth_max_failures="3")
    async with api.anonymous() as attacker:
        wrong = [
            (await attacker.get("/api/v1/accounts", headers={"X-API-Key": f"guess-{i}"}))
            for i in range(3)
        ]
        blocked = await attacker.get("/api/v1/accounts", headers={"X-API-Key": _key(api)})

    assert [r.status_code for r in wrong] == [401, 401, 401]
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_failed_attempts"
    assert 0 < int(blocked.headers["Retry-After"]) <= 60


async def test_failed_key_limit_is_per_client_address(make_api: ApiFactory) -> None:
    api = await make_api(api_auth_max_failures="2")
    # Linux routes all of 127.0.0.0/8 to loopback: a client bound to 127.0.0.2 is another peer.
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with api.anonymous() as attacker, api.anonymous(transport=other) as neighbour:
        for i in range(2):
            await attacker.get("/api/v1/accounts", headers={"X-API-Key": f"guess-{i}"})
        blocked = await attacker.get("/api/v1/accounts", headers={"X-API-Key": _key(api)})
        allowed = await neighbour.get("/api/v1/accounts", headers={"X-API-Key": _key(api)})

    assert blocked.status_code == 429
    assert allowed.status_code == 200


async def test_bearer_token_is_accepted_like_the_header(api: Api) -> None:
    async with api.anonymous() as client:
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {_key(api)}"})

    assert response.status_code == 200
    assert "rebalancer_runs_total" in response.text or "rebalancer_runs" in response.text


async def test_without_api_key_configured_only_health_answers(make_api: ApiFactory) -> None:
    api = await make_api(api_key="")
    async with api.anonymous() as client:
        health = await client.get("/api/v1/health")
        accounts = await client.get("/api/v1/accounts", headers={"X-API-Key": "anything-at-all"})

    assert health.status_code == 200
    assert accounts.status_code == 401
    assert accounts.json()["error"]["code"] == "api_key_not_configured"


async def test_key_never_appears_in_logs_or_errors(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with api.anonymous() as client:
        near_miss = _key(api)[:-1] + "x"
        refused = await client.get("/api/v1/accounts", headers={"X-API-Key": near_miss})
    await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})

    assert refused.status_code == 401
    assert "wrong key from 127.0.0.1" in caplog.text
    assert _key(api) not in caplog.text
    assert near_miss not in caplog.text
    assert near_miss not in refused.text
    assert _key(api) not in repr(api.runtime.config.settings)


async def test_mutating_endpoints_refuse_get(api: Api) -> None:
    response = await api.client.get("/api/v1/accounts/DUM959247/rebalance")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert api.sim_orders("DUM959247") == []


@pytest.mark.parametrize(
    ("headers", "content", "status", "code"),
    [
        ({"Content-Type": "text/plain"}, b"{}", 415, "unsupported_media_type"),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"a=1",
            415,
            "unsupported_media_type",
        ),
        ({}, b"", 415, "unsupported_media_type"),
        (
            {"Content-Type": "application/json", "Origin": "https://evil.example"},
            b"{}",
            403,
            "cross_origin",
        ),
        (
            {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
            b"{}",
            403,
            "cross_origin",
        ),
        ({"Content-Type": "application/json"}, b"{not json", 422, "validation_error"),
        ({"Content-Type": "application/json"}, b"[]", 422, "validation_error"),
        ({"Content-Type": "application/json"}, b"{" + b" " * 70000 + b"}", 413, "body_too_large"),
    ],
)
async def test_rebalance_request_that_is_not_same_origin_json_is_refused_and_trades_nothing(
    api: Api, headers: dict[str, str], content: bytes, status: int, code: str
) -> None:
    response = await api.client.post(
        "/api/v1/accounts/DUM959247/rebalance", headers=headers, content=content
    )

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert api.sim_orders("DUM959247") == []


async def test_same_origin_request_with_json_passes_the_origin_check(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/accounts/DUM959247/calculate", json={}, headers={"Origin": api.url}
    )

    assert response.status_code == 200, response.text


async def test_configured_cors_origin_may_post_and_gets_cors_headers(
    make_api: ApiFactory,
) -> None:
    api = await make_api(api_cors_origins="https://dash.example:8443")
    origin = {"Origin": "https://dash.example:8443"}
    preflight = await api.client.options(
        "/api/v1/accounts",
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    listed = await api.client.get("/api/v1/accounts", headers=origin)
    posted = await api.client.post("/api/v1/accounts/DUM959247/calculate", json={}, headers=origin)

    assert preflight.status_code == 200
    assert listed.headers["access-control-allow-origin"] == "https://dash.example:8443"
    assert posted.status_code == 200, posted.text


async def test_no_cors_headers_unless_configured(api: Api) -> None:
    response = await api.client.get("/api/v1/accounts", headers={"Origin": "https://dash.example"})

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_every_answer_carries_hardening_headers(api: Api) -> None:
    async with api.anonymous() as client:
        page = await client.get("/")
        health = await client.get("/api/v1/health")

    for response in (page, health):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert health.headers["cache-control"] == "no-store"
    assert "server" not in health.headers
