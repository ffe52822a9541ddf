"""Accounts, previews and rebalances through the real HTTP API on the IB Gateway simulator."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(180)

Api = Any  # conftest.Api (importlib mode: test modules cannot import conftest)


def _journal(api: Api, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(api.runtime.journal.path) as conn:
        return list(conn.execute(sql))


async def test_health_answers_without_key_and_says_nothing_private(api: Api) -> None:
    async with api.anonymous() as anonymous:
        response = await anonymous.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "1.0.0", "accepting": True}


@pytest.mark.parametrize(
    "path", ["/api/v1/accounts", "/api/v1/runs", "/api/v1/events", "/metrics", "/openapi.json"]
)
async def test_endpoint_without_key_is_401_json_error(api: Api, path: str) -> None:
    async with api.anonymous() as anonymous:
        missing = await anonymous.get(path)
        wrong = await anonymous.get(path, headers={"X-API-Key": "not-the-key-at-all"})

    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert "X-API-Key" in response.json()["error"]["message"]


async def test_accounts_lists_configured_accounts_with_tradability(api: Api) -> None:
    response = await api.client.get("/api/v1/accounts")

    assert response.status_code == 200
    body = response.json()
    assert body["trading_mode"] == "paper"
    listed = {a["account_id"]: (a["tradable"], a["total_value"]) for a in body["accounts"]}
    assert listed == {
        "DUM959247": (True, None),
        "DU789012": (True, None),
        "DU345678": (True, None),
        "PA3DEMO00001": (True, None),
        "U1234567": (False, None),
    }
    strategies = {a["account_id"]: a["strategies"] for a in body["accounts"]}
    assert strategies["DUM959247"] == [{"name": "etf-blend-301-20", "weight": "1"}]
    assert strategies["DU345678"] == [
        {"name": "etf-blend-100-20", "weight": "0.6"},
        {"name": "income-core-20", "weight": "0.4"},
    ]


async def test_two_strategy_account_preview_holdings_and_orders_say_whom_each_line_is_for(
    api: Api,
) -> None:
    growth, income = "etf-blend-100-20", "income-core-20"
    preview = (await api.client.post("/api/v1/accounts/DU345678/calculate", json={})).json()
    detail = (await api.client.get("/api/v1/accounts/DU345678")).json()
    run = (await api.client.post("/api/v1/accounts/DU345678/rebalance", json={})).json()

    assert detail["strategy_name"] == f"{growth}+{income}"
    proposed = {t["symbol"]: t["strategies"] for t in preview["proposed_trades"]}
    assert proposed["DBC"] == {growth: "1"}
    assert proposed["IEF"] == {income: "1"}
    holdings = {
        h["symbol"]: {name: Decimal(share) for name, share in h["strategies"].items()}
        for h in detail["holdings"]
    }
    # TLT: 0.6 x 30 % for etf-blend-100-20 and 0.4 x 30 % for income-core-20.
    assert holdings["TLT"] == {growth: Decimal("0.6"), income: Decimal("0.4")}
    assert holdings["VNQ"] == {income: 1}
    assert set(holdings) == {"DBC", "GLD", "IEF", "SPY", "TLT", "VNQ"}
    placed = {o["symbol"]: o["strategies"] for o in run["orders"]}
    assert run["status"] == "succeeded"
    assert placed == {symbol: proposed[symbol] for symbol in placed}
    assert set(placed) == {o.symbol for o in api.sim_orders("DU345678")}


async def test_calculate_previews_through_run_path_journals_source_api_places_nothing(
    api: Api,
) -> None:
    response = await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})

    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["mode"], run["status"], run["source"]) == ("print-rebalance", "succeeded", "api")
    trades = {t["symbol"]: t for t in run["proposed_trades"]}
    assert set(trades) >= {"QQQ", "GLD", "DBC"}
    assert trades["QQQ"]["side"] == "BUY"
    assert isinstance(trades["QQQ"]["price"], str)  # money travels as decimal text
    assert Decimal(run["total_value"]) > 0
    assert api.sim_orders("DUM959247") == []
    assert _journal(api, "SELECT channel, outcome FROM events") == [
        ("api", "ran 1 accounts: succeeded")
    ]
    assert _journal(api, "SELECT run_id, mode, status FROM runs") == [
        (run["run_id"], "print-rebalance", "succeeded")
    ]


async def test_account_detail_shows_drift_from_latest_preview_and_how_old_it_is(
    api: Api,
) -> None:
    preview = (await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})).json()

    detail = (await api.client.get("/api/v1/accounts/DUM959247")).json()

    assert detail["preview"]["run_id"] == preview["run_id"]
    assert detail["preview"]["source"] == "api"
    assert detail["preview"]["stale"] is False
    assert 0 <= detail["preview"]["age_secs"] < 60
    holdings = {h["symbol"]: h for h in detail["holdings"]}
    qqq = holdings["QQQ"]
    # Not held, targeted: all of its target is drift, underweight.
    assert Decimal(qqq["current_weight"]) == 0
    assert Decimal(qqq["drift"]) == -Decimal(qqq["target_weight"]) < 0
    assert qqq["direction"] == "BUY"
    drifts = [abs(Decimal(h["drift"])) for h in detail["holdings"]]
    assert Decimal(detail["drift"]["max_abs"]) == max(drifts)
    assert Decimal(detail["total_value"]) == Decimal(preview["total_value"])
    assert detail["last_run"]["run_id"] == preview["run_id"]


async def test_rebalance_places_orders_at_simulator_and_run_lists_them(api: Api) -> None:
    await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})

    response = await api.client.post("/api/v1/accounts/DUM959247/rebalance", json={})

    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["mode"], run["status"], run["source"]) == ("rebalance", "succeeded", "api")
    placed = api.sim_orders("DUM959247")
    assert {o.symbol for o in placed} == {o["symbol"] for o in run["orders"]}
    assert {o.order_ref for o in placed} == {run["run_id"]}
    assert all(o["status"] == "FILLED" for o in run["orders"])
    fetched = (await api.client.get(f"/api/v1/runs/{run['run_id']}")).json()
    assert [o["order_id"] for o in fetched["orders"]] == [o["order_id"] for o in run["orders"]]
    # The execution report: each order against its arrival quote, decimals as text.
    execution = fetched["execution"]
    lines = {o["order_id"]: o for o in execution["orders"]}
    assert set(lines) == {o["order_id"] for o in run["orders"]}
    for order in run["orders"]:
        line = lines[order["order_id"]]
        assert Decimal(line["avg_fill_price"]) == Decimal(order["avg_fill_price"])
        assert Decimal(line["arrival_bid"]) <= Decimal(line["arrival_mid"])
        assert Decimal(line["commission"]) > 0  # IB's commission report, per order
    assert Decimal(execution["commission"]) == sum(
        (Decimal(o["commission"]) for o in execution["orders"]), Decimal(0)
    )
    assert isinstance(execution["slippage_bps"], str)
    assert Decimal(execution["drift_after"]) < Decimal("0.01")
    detail = (await api.client.get("/api/v1/accounts/DUM959247")).json()
    assert detail["preview"]["stale"] is True  # the rebalance came after the preview
    assert detail["last_run"]["run_id"] == run["run_id"]


async def test_calculate_with_given_allocations_uses_them_instead_of_strategy(api: Api) -> None:
    body = {
        "allocations": [
            {"symbol": "SPY", "allocation": "0.7"},
            {"symbol": "TLT", "allocation": 0.3},
        ]
    }

    response = await api.client.post("/api/v1/accounts/DUM959247/calculate", json=body)

    assert response.status_code == 200, response.text
    symbols = {t["symbol"] for t in response.json()["proposed_trades"]}
    assert symbols <= {"SPY", "TLT"}
    assert "SPY" in symbols
    (payload,) = _journal(api, "SELECT payload FROM events WHERE channel = 'api'")
    assert json.loads(payload[0])["allocations"] == [
        {"symbol": "SPY", "allocation": "0.7"},
        {"symbol": "TLT", "allocation": "0.3"},
    ]


@pytest.mark.parametrize(
    ("body", "field", "value", "message"),
    [
        (
            {"allocations": [{"symbol": "SPY", "allocation": "0.3"}]},
            "allocations",
            "0.3",
            "more than 0.01 away from 1",
        ),
        (
            {"allocations": [{"symbol": "SPY", "allocation": 1.5}]},
            "allocations[0].allocation",
            1.5,
            "less than or equal to 1",
        ),
        (
            {
                "allocations": [
                    {"symbol": "SPY", "allocation": "0.5"},
                    {"symbol": "SPY", "allocation": "0.5"},
                ]
            },
            "allocations[1].symbol",
            "SPY",
            "appears more than once",
        ),
        (
            {"allocations": [{"symbol": "spy;drop", "allocation": "1"}]},
            "allocations[0].symbol",
            "spy;drop",
            "",
        ),
        ({"allocations": []}, "allocations", [], "must not be empty"),
        ({"allocation": []}, "allocation", [], "Extra inputs are not permitted"),
        ({"allocations": [{"symbol": "SPY"}]}, "allocations[0].allocation", None, "required"),
    ],
)
async def test_calculate_with_bad_allocations_is_422_naming_field_and_value_and_runs_nothing(
    api: Api, body: dict[str, Any], field: str, value: Any, message: str
) -> None:
    response = await api.client.post("/api/v1/accounts/DUM959247/calculate", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    problem = next(f for f in error["fields"] if f["field"] == field)
    assert problem.get("value") == value
    assert message in problem["message"]
    assert _journal(api, "SELECT COUNT(*) FROM runs") == [(0,)]
    assert api.sim_orders("DUM959247") == []


async def test_rebalance_with_allocations_is_refused_orders_only_for_strategy_targets(
    api: Api,
) -> None:
    body = {"allocations": [{"symbol": "SPY", "allocation": "1"}]}

    response = await api.client.post("/api/v1/accounts/DUM959247/rebalance", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "allocations"
    assert api.sim_orders("DUM959247") == []


@pytest.mark.parametrize(
    ("account", "status", "code"),
    [("NOPE123", 404, "account_not_found"), ("U1234567", 409, "account_not_tradable")],
)
async def test_unknown_or_untradable_account_is_refused_before_any_run(
    api: Api, account: str, status: int, code: str
) -> None:
    response = await api.client.post(f"/api/v1/accounts/{account}/rebalance", json={})

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert account in response.json()["error"]["message"]
    assert _journal(api, "SELECT COUNT(*) FROM runs") == [(0,)]


async def test_second_concurrent_rebalance_of_same_account_is_409_and_orders_go_once(
    api: Api,
) -> None:
    api.stack.sim.set_faults(fill_delay_secs=1.5)
    first = asyncio.create_task(api.client.post("/api/v1/accounts/DUM959247/rebalance", json={}))
    async with api.runtime.feed.subscribe("DUM959247") as events:
        while (event := await events.next(60)) is None or event.kind != "run_started":
            pass
    second = await api.client.post("/api/v1/accounts/DUM959247/rebalance", json={})
    done = await first

    assert done.status_code == 200, done.text
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "account_busy"
    assert done.json()["run_id"] in second.json()["error"]["message"]
    assert {o.order_ref for o in api.sim_orders("DUM959247")} == {done.json()["run_id"]}


async def test_second_rebalance_of_pdt_account_same_day_is_409_with_refused_run(
    api: Api,
) -> None:
    first = await api.client.post("/api/v1/accounts/DU789012/rebalance", json={})
    placed = len(api.sim_orders("DU789012"))

    second = await api.client.post("/api/v1/accounts/DU789012/rebalance", json={})

    assert first.status_code == 200, first.text
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "run_refused"
    assert "PDT Protection" in error["message"]
    assert error["run"]["status"] == "refused"
    assert len(api.sim_orders("DU789012")) == placed


async def test_preview_after_rebalance_lists_every_symbol_on_target_from_the_plan(
    api: Api,
) -> None:
    run = (await api.client.post("/api/v1/accounts/DUM959247/rebalance", json={})).json()
    await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})

    detail = (await api.client.get("/api/v1/accounts/DUM959247")).json()

    assert detail["preview"]["plan_source"] == "plan"
    assert detail["preview"]["stale"] is False
    holdings = {h["symbol"]: h for h in detail["holdings"]}
    assert set(holdings) >= {o["symbol"] for o in run["orders"]}
    assert {h["direction"] for h in holdings.values()} == {"HOLD"}
    assert Decimal(detail["drift"]["max_abs"]) < Decimal("0.01")
    weights = sum(Decimal(h["current_weight"]) for h in holdings.values())
    assert Decimal("0.95") < weights <= 1


async def test_preview_with_given_allocations_does_not_replace_the_accounts_drift(
    api: Api,
) -> None:
    own = (await api.client.post("/api/v1/accounts/DUM959247/calculate", json={})).json()
    body = {"allocations": [{"symbol": "SPY", "allocation": "1"}]}
    other = await api.client.post("/api/v1/accounts/DUM959247/calculate", json=body)

    detail = (await api.client.get("/api/v1/accounts/DUM959247")).json()

    assert other.status_code == 200
    assert detail["preview"]["run_id"] == own["run_id"]
    assert detail["last_run"]["run_id"] == other.json()["run_id"]
