"""HTTP control endpoint (JSON) for reading and steering the simulator from another process.

Routes (all JSON):

* ``GET /health`` -> ``{"ok": true}``
* ``GET /state`` -> the full snapshot (``GatewaySimulator.snapshot()``)
* ``GET /orders`` -> list of orders; ``GET /positions`` -> account -> symbol -> quantity;
  ``GET /accounts`` -> account -> cash, settled cash, positions
* ``POST /prices`` ``{"SPY": {"bid": "590.00", "ask": "590.02"}}`` (``null`` clears a side)
* ``POST /faults`` ``{"reject_symbols": ["QQQ"], ...}`` (names of the scenario's ``faults:``)
* ``POST /fills`` ``{"midprice_rounding": "favour", ...}`` (names of the scenario's ``fills:``)
* ``POST /clock`` ``{"time": "2026-11-23T20:00:00+00:00"}`` or ``{"time": null}`` (real time),
  ``{"advance_secs": 3600}``, ``{"always_open": false}``
* ``POST /drop`` ``{"refuse_secs": 5}`` drops every API connection
* ``POST /restart`` ``{"refuse_secs": 5}`` (optional) restarts the gateway (``restart()``)
* ``POST /auction`` runs the closing auction now (``close_auction()``)
* ``POST /reset`` back to the scenario's starting state
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

if TYPE_CHECKING:
    from ib_gateway_sim.server import GatewaySimulator

_SIM_KEY: web.AppKey[GatewaySimulator] = web.AppKey("sim")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _sim(request: web.Request) -> GatewaySimulator:
    return request.app[_SIM_KEY]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


async def _health(request: web.Request) -> web.Response:
    return _json({"ok": True, "accepting": _sim(request).accepting})


async def _state(request: web.Request) -> web.Response:
    return _json(_sim(request).snapshot())


async def _orders(request: web.Request) -> web.Response:
    return _json([o.to_dict() for o in _sim(request).orders()])


async def _positions(request: web.Request) -> web.Response:
    sim = _sim(request)
    return _json(
        {name: {s: str(q) for s, q in sim.positions(name).items()} for name in sim.engine.accounts}
    )


async def _accounts(request: web.Request) -> web.Response:
    return _json(_sim(request).snapshot()["accounts"])


async def _prices(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _body(request)
    for symbol, quote in body.items():
        if symbol not in sim.engine.symbols or not isinstance(quote, dict):
            raise web.HTTPBadRequest(text=f"unknown symbol or bad quote: {symbol}")
        unknown = set(quote) - {"bid", "ask", "last", "close"}
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown quote fields {sorted(unknown)}")
        try:
            sim.set_price(
                symbol,
                **{k: str(v) for k, v in quote.items() if v is not None},
                clear=[k for k, v in quote.items() if v is None],
            )
        except (ArithmeticError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"bad quote for {symbol}: {exc}") from exc
    return _json(sim.snapshot()["symbols"])


async def _faults(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        faults = _sim(request).set_faults(**body)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return _json(faults.model_dump(mode="json"))


async def _fills(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        fills = _sim(request).set_fills(**body)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return _json(fills.model_dump(mode="json"))


async def _clock(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _body(request)
    try:
        if "always_open" in body:
            sim.set_always_open(bool(body["always_open"]))
        if "time" in body:
            raw = body["time"]
            sim.set_clock(None if raw is None else dt.datetime.fromisoformat(raw))
        if "advance_secs" in body:
            sim.advance_clock(dt.timedelta(seconds=float(body["advance_secs"])))
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return _json(sim.snapshot()["clock"])


async def _drop(request: web.Request) -> web.Response:
    body = await _body(request) if request.can_read_body else {}
    _sim(request).drop_connections(float(body.get("refuse_secs", 0)))
    return _json({"dropped": True})


async def _optional_secs(request: web.Request, name: str) -> float | None:
    body = await _body(request) if request.can_read_body else {}
    unknown = set(body) - {name}
    if unknown:
        raise web.HTTPBadRequest(text=f"unknown fields {sorted(unknown)}")
    raw = body.get(name)
    try:
        secs = None if raw is None else float(raw)
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"{name} must be a number of seconds, not {raw!r}") from exc
    if secs is not None and secs < 0:
        raise web.HTTPBadRequest(text=f"{name} must not be negative, got {secs}")
    return secs


async def _restart(request: web.Request) -> web.Response:
    refuse = await _optional_secs(request, "refuse_secs")
    _sim(request).restart(refuse)
    return _json({"restarted": True})


async def _auction(request: web.Request) -> web.Response:
    auctioned = _sim(request).close_auction()
    return _json([o.to_dict() for o in auctioned])


async def _reset(request: web.Request) -> web.Response:
    _sim(request).reset()
    return _json({"reset": True})


def build_app(sim: GatewaySimulator) -> web.Application:
    """The aiohttp application serving the control routes."""
    app = web.Application()
    app[_SIM_KEY] = sim
    app.router.add_get("/health", _health)
    app.router.add_get("/state", _state)
    app.router.add_get("/orders", _orders)
    app.router.add_get("/positions", _positions)
    app.router.add_get("/accounts", _accounts)
    app.router.add_post("/prices", _prices)
    app.router.add_post("/faults", _faults)
    app.router.add_post("/fills", _fills)
    app.router.add_post("/clock", _clock)
    app.router.add_post("/drop", _drop)
    app.router.add_post("/restart", _restart)
    app.router.add_post("/auction", _auction)
    app.router.add_post("/reset", _reset)
    return app


async def start_control(sim: GatewaySimulator, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start the control endpoint; returns the runner (for cleanup) and the bound port."""
    runner = web.AppRunner(build_app(sim), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])
