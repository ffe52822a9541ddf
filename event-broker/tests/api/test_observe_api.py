"""Following the daemon through the API: live progress (SSE), metrics, status, journal."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

Api = Any  # conftest.Api
ApiFactory = Any


async def _sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    kind = None
    async for line in lines:
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind is not None:
            yield kind, json.loads(line.removeprefix("data: "))
            kind = None


async def test_stream_reports_start_each_order_fill_and_end_of_an_api_rebalance(api: Api) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    connected = asyncio.Event()

    async def listen() -> None:
        async with api.client.stream("GET", "/api/v1/stream?account_id=DUM959247") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == ": connected"
            connected.set()
            async for kind, data in _sse_events(lines):
                seen.append((kind, data))
                if kind == "run_finished":
                    return

    listener = asyncio.create_task(listen())
    await connected.wait()
    run = (await api.client.post("/api/v1/accounts/DUM959247/rebalance", json={})).json()
    await asyncio.wait_for(listener, 30)

    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "run_started"
    assert kinds[-1] == "run_finished"
    assert seen[0][1]["source"] == "api"
    assert {data["run_id"] for _, data in seen} == {run["run_id"]}
    filled = {d["order_id"]: d for k, d in seen if k == "order" and d["status"] == "FILLED"}
    assert set(filled) == {o["order_id"] for o in run["orders"]}
    assert all(d["filled_quantity"] == d["quantity"] for d in filled.values())
    assert seen[-1][1]["status"] == "succeeded"
    assert seen[-1][1]["orders"] == len(run["orders"])


async def test_stream_of_one_account_leaves_out_the_others(api: Api) -> None:
    async with (
        api.runtime.feed.subscribe("DU789012") as other,
        api.runtime.feed.subscribe() as all_,
    ):
        await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})
        first = await all_.next(5)
        nothing = await other.next(0.2)

    assert first is not None
    assert first.account_id == "DUM959247"
    assert nothing is None


async def test_metrics_count_runs_by_source_and_orders_by_status(api: Api) -> None:
    await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})
    run = (await api.client.post("/api/v1/accounts/DUM959247/rebalance", json={})).json()

    text = (await api.client.get("/metrics")).text

    assert (
        'rebalancer_runs_total{mode="print-rebalance",source="api",status="succeeded"} 1.0' in text
    )
    assert 'rebalancer_runs_total{mode="rebalance",source="api",status="succeeded"} 1.0' in text
    buys = sum(1 for o in run["orders"] if o["side"] == "BUY")
    assert f'rebalancer_orders_total{{side="BUY",status="FILLED"}} {float(buys)}' in text
    assert 'rebalancer_run_duration_seconds_count{mode="rebalance"} 1.0' in text
    assert "rebalancer_realtime_connected 0.0" in text
    assert not [
        line for line in text.splitlines() if line.startswith("rebalancer_run_failures_total{")
    ]


async def test_metrics_count_a_refused_run_as_a_failure(api: Api) -> None:
    await api.client.post("/api/v1/accounts/DU789012/rebalance", json={})
    refused = await api.client.post("/api/v1/accounts/DU789012/rebalance", json={})

    text = (await api.client.get("/metrics")).text

    assert refused.status_code == 409
    assert 'rebalancer_run_failures_total{mode="rebalance",status="refused"} 1.0' in text


async def test_metrics_realtime_gauge_follows_the_link_state(api: Api) -> None:
    api.realtime["state"] = "connected"
    up = (await api.client.get("/metrics")).text
    api.realtime["state"] = "disconnected"
    down = (await api.client.get("/metrics")).text

    assert "rebalancer_realtime_connected 1.0" in up
    assert "rebalancer_realtime_connected 0.0" in down


async def test_metrics_live_gauges_change_within_the_second_they_were_rendered_in(
    api: Api,
) -> None:
    api.server.app.state.metrics.clock = lambda: 1_800_000_000.5  # one second throughout
    api.realtime["state"] = "connected"
    first = (await api.client.get("/metrics")).text
    async with api.anonymous() as client:
        refused = await client.get("/metrics", headers={"X-API-Key": "wrong"})
    second = (await api.client.get("/metrics")).text
    api.realtime["state"] = "disconnected"
    third = (await api.client.get("/metrics")).text

    assert refused.status_code == 401
    assert "rebalancer_api_auth_failures_total 0.0" in first
    assert "rebalancer_api_auth_failures_total 1.0" in second
    assert "rebalancer_realtime_connected 1.0" in second
    assert "rebalancer_realtime_connected 0.0" in third


async def test_connection_status_probes_gateway_and_shows_link_and_last_signal(
    api: Api,
) -> None:
    api.realtime["state"] = "connected"
    api.runtime.journal.record_event(
        event_id="sig-1:0", channel="etf-blend-301-20", payload='{"exec": "print-rebalance"}'
    )

    status = (await api.client.get("/api/v1/connection/status")).json()

    alpaca, ibkr = status["brokers"]
    assert ibkr["broker"] == "ibkr"
    assert ibkr["address"] == f"127.0.0.1:{api.stack.sim.port}"
    assert ibkr["reachable"] is True
    # The demo's Alpaca account trades at the stand-in (ALPACA_BASE_URL): it is probed too.
    assert alpaca["broker"] == "alpaca"
    assert alpaca["address"] == f"127.0.0.1:{api.stack.alpaca.port}"
    assert alpaca["reachable"] is True
    assert status["realtime"] == {
        "state": "connected",
        # DU345678 follows etf-blend-100-20 and income-core-20: each is a channel.
        "channels": ["etf-blend-100-20", "etf-blend-301-20", "income-core-20"],
    }
    assert status["last_signal"]["event_id"] == "sig-1:0"
    assert status["last_signal"]["channel"] == "etf-blend-301-20"


async def test_connection_status_says_unreachable_gateway(make_api: ApiFactory) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    api = await make_api(ib_gateway_port=str(port))

    brokers = (await api.client.get("/api/v1/connection/status")).json()["brokers"]

    ibkr = next(b for b in brokers if b["broker"] == "ibkr")
    assert ibkr["reachable"] is False
    assert ibkr["error"]


async def test_runs_and_events_list_newest_first_with_source_and_paging(api: Api) -> None:
    first = (await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})).json()
    second = (await api.client.post("/api/v1/accounts/DU789012/calculate", json={})).json()

    page = (await api.client.get("/api/v1/runs", params={"limit": 1})).json()
    rest = (
        await api.client.get("/api/v1/runs", params={"limit": 1, "before": page["next_before"]})
    ).json()
    mine = (await api.client.get("/api/v1/runs", params={"account_id": "DUM959247"})).json()
    events = (await api.client.get("/api/v1/events")).json()

    assert [r["run_id"] for r in page["runs"]] == [second["run_id"]]
    assert [r["run_id"] for r in rest["runs"]] == [first["run_id"]]
    assert rest["next_before"] is None
    assert [r["run_id"] for r in mine["runs"]] == [first["run_id"]]
    assert [(e["channel"], e["source"], e["outcome"]) for e in events["events"]] == [
        ("api", "api", "ran 1 accounts: succeeded"),
        ("api", "api", "ran 1 accounts: succeeded"),
    ]
    assert json.loads(events["events"][0]["payload"])["account_id"] == "DU789012"


async def test_unknown_run_is_404(api: Api) -> None:
    response = await api.client.get("/api/v1/runs/no-such-run")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "run_not_found"


async def test_openapi_document_needs_the_key_and_is_openapi_3_1(api: Api) -> None:
    async with api.anonymous() as client:
        refused = await client.get("/openapi.json")
    document = (await api.client.get("/openapi.json")).json()

    assert refused.status_code == 401
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/accounts/{account_id}/rebalance" in document["paths"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["APIKeyHeader"]["description"],
    }
    money = document["components"]["schemas"]["RunSummary"]["properties"]["total_value"]
    assert {"type": "string"} in money["anyOf"] or money.get("type") == "string"
    performance = document["paths"]["/api/v1/accounts/{account_id}/performance"]["get"]
    answer = performance["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/AccountReport"}
    assert [p["name"] for p in performance["parameters"]] == ["account_id", "since"]
    schemas = document["components"]["schemas"]
    curve_value = schemas["EquityPoint"]["properties"]["value"]
    assert curve_value.get("type") == "string" or {"type": "string"} in curve_value["anyOf"]
    assert "/api/v1/accounts/{account_id}/snapshot" in document["paths"]


async def test_connection_status_of_alpaca_itself_has_no_address_to_probe(
    make_api: ApiFactory,
) -> None:
    api = await make_api(alpaca_base_url="")  # "" drops it: Alpaca's own API

    brokers = (await api.client.get("/api/v1/connection/status")).json()["brokers"]

    alpaca = next(b for b in brokers if b["broker"] == "alpaca")
    assert (alpaca["address"], alpaca["reachable"]) == (None, None)
