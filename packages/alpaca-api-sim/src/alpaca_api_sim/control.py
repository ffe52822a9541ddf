"""Control routes under ``/sim/`` on the API's own port, for tests and scripts in another process.

They ask for the same key headers as the API (any account's key pair); ``GET /sim/health``
alone answers without one. Invalid input answers 400 with the reason.

* ``GET /sim/health`` -> ``{"ok": true}``
* ``GET /sim/state`` -> everything (``AlpacaApiSimulator.snapshot()``)
* ``GET /sim/orders`` -> every order of every account
* ``POST /sim/prices`` ``{"SPY": {"bid": "590.00", "ask": "590.02"}}`` (``null`` clears a side)
* ``POST /sim/faults`` ``{"reject_symbols": ["QQQ"], ...}`` (names of the scenario's ``faults:``)
* ``POST /sim/clock`` ``{"market": "open" | "closed" | null}``, ``{"time": ISO | null}``,
  ``{"advance_secs": 3600}``, ``{"always_open": false}``
* ``POST /sim/accounts/{number}`` ``{"daytrade_count": 3, "pattern_day_trader": false,
  "trading_blocked": false}``
* ``POST /sim/auction`` runs the closing auction now (working ``cls`` orders fill)
* ``POST /sim/drop`` ``{"refuse_secs": 5}`` closes every connection and the listener that long
* ``POST /sim/reset`` back to the scenario's starting state
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from alpaca_api_sim.api import SIM_KEY, json_response

__all__ = ["add_control_routes"]

_QUOTE_FIELDS = frozenset({"bid", "ask", "last", "close"})
_ACCOUNT_FIELDS = frozenset({"daytrade_count", "pattern_day_trader", "trading_blocked"})


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = json.loads(await request.text(), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise _bad(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _bad("body must be a JSON object")
    return data


async def _health(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def _state(request: web.Request) -> web.Response:
    return json_response(request.app[SIM_KEY].snapshot())


async def _orders(request: web.Request) -> web.Response:
    return json_response([o.to_dict() for o in request.app[SIM_KEY].orders()])


async def _prices(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    for symbol, quote in (await _body(request)).items():
        if symbol not in sim.engine.symbols or not isinstance(quote, dict):
            raise _bad(f"unknown symbol or bad quote: {symbol}")
        unknown = set(quote) - _QUOTE_FIELDS
        if unknown:
            raise _bad(f"unknown quote fields {sorted(unknown)}")
        try:
            sim.set_price(
                symbol,
                **{k: Decimal(str(v)) for k, v in quote.items() if v is not None},
                clear=[k for k, v in quote.items() if v is None],
            )
        except (InvalidOperation, ValueError) as exc:
            raise _bad(f"bad quote for {symbol}: {exc}") from exc
    return json_response(sim.snapshot()["symbols"])


async def _faults(request: web.Request) -> web.Response:
    try:
        faults = request.app[SIM_KEY].set_faults(**await _body(request))
    except ValidationError as exc:
        raise _bad(str(exc)) from exc
    return json_response(faults.model_dump(mode="json"))


def _market(value: Any) -> bool | None:
    if value not in ("open", "closed", None):
        raise _bad(f"market must be 'open', 'closed' or null, got {value!r}")
    return None if value is None else value == "open"


async def _clock(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    body = await _body(request)
    try:
        if "always_open" in body:
            sim.set_always_open(bool(body["always_open"]))
        if "time" in body:
            raw = body["time"]
            sim.set_clock(None if raw is None else dt.datetime.fromisoformat(raw))
        if "advance_secs" in body:
            sim.advance_clock(dt.timedelta(seconds=float(body["advance_secs"])))
        if "market" in body:
            sim.set_market(_market(body["market"]))
    except (TypeError, ValueError) as exc:
        raise _bad(str(exc)) from exc
    return json_response(sim.snapshot()["clock"])


async def _account(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    number = request.match_info["number"]
    body = await _body(request)
    unknown = set(body) - _ACCOUNT_FIELDS
    if number not in sim.engine.accounts or unknown:
        raise _bad(f"unknown account {number!r} or fields {sorted(unknown)}")
    try:
        sim.set_account(number, **body)
    except (TypeError, ValueError) as exc:
        raise _bad(str(exc)) from exc
    return json_response(sim.snapshot()["accounts"][number])


async def _drop(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        refuse = float(body.get("refuse_secs", 0))
    except (TypeError, ValueError) as exc:
        raise _bad(f"refuse_secs must be a number: {exc}") from exc
    # Answer first: dropping closes this request's own connection too.
    response = json_response({"dropped": True, "refuse_secs": refuse})
    await response.prepare(request)
    await response.write_eof()
    request.app[SIM_KEY].drop_connections(refuse)
    return response


async def _auction(request: web.Request) -> web.Response:
    auctioned = request.app[SIM_KEY].close_auction()
    return json_response({"filled": [o.id for o in auctioned]})


async def _reset(request: web.Request) -> web.Response:
    request.app[SIM_KEY].reset()
    return json_response({"reset": True})


def add_control_routes(app: web.Application) -> None:
    """Register the ``/sim/`` routes on ``app``."""
    app.router.add_get("/sim/health", _health)
    app.router.add_get("/sim/state", _state)
    app.router.add_get("/sim/orders", _orders)
    app.router.add_post("/sim/prices", _prices)
    app.router.add_post("/sim/faults", _faults)
    app.router.add_post("/sim/clock", _clock)
    app.router.add_post("/sim/accounts/{number}", _account)
    app.router.add_post("/sim/auction", _auction)
    app.router.add_post("/sim/drop", _drop)
    app.router.add_post("/sim/reset", _reset)
