"""The Alpaca routes: Trading API v2 (``/v2/account``, ``/v2/orders`` ...) and Market Data v2
(``/v2/stocks/quotes/latest``, ``/v2/stocks/trades/latest``) on one server.

Every route asks for an API key pair in ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``: none or
an unknown key id answers 401, a known key id with the wrong secret 403. The key pair selects
the account. Errors are Alpaca's ``{"code": ..., "message": ...}`` bodies.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from alpaca_api_sim import shapes
from alpaca_api_sim.clock import NEW_YORK
from alpaca_api_sim.order_input import INVALID_PARAMS, parse_new_order
from alpaca_api_sim.state import AccountState, ApiError, SimOrder

if TYPE_CHECKING:
    from alpaca_api_sim.server import AlpacaApiSimulator

__all__ = ["SIM_KEY", "account_for", "add_api_routes", "error_middleware", "json_response"]

SIM_KEY: web.AppKey[AlpacaApiSimulator] = web.AppKey("alpaca_sim")
_ACCOUNT_KEY: web.RequestKey[AccountState] = web.RequestKey("alpaca_account", AccountState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MAX_ORDERS_LIMIT = 500
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9./-]{0,19}$")


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer; decimals are written as strings."""
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def _error(exc: ApiError) -> web.Response:
    return json_response(exc.body(), status=exc.status)


def _sim(request: web.Request) -> AlpacaApiSimulator:
    return request.app[SIM_KEY]


def account_for(request: web.Request) -> AccountState:
    """The account whose key pair the request carries (set by the middleware)."""
    return request[_ACCOUNT_KEY]


def _authenticate(sim: AlpacaApiSimulator, request: web.Request) -> AccountState:
    key_id = request.headers.get("APCA-API-KEY-ID", "")
    secret = request.headers.get("APCA-API-SECRET-KEY", "")
    for account in sim.engine.accounts.values():
        if secrets.compare_digest(key_id.encode(), account.key_id.encode()):
            if secrets.compare_digest(secret.encode(), account.secret_key.encode()):
                return account
            raise ApiError(403, 40310000, "forbidden")
    raise ApiError(401, 40110000, "request is not authorized")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Key check and request faults for ``/v2`` and ``/sim`` routes; ``ApiError`` → JSON."""
    sim = _sim(request)
    if request.path == "/sim/health":
        return await handler(request)
    try:
        request[_ACCOUNT_KEY] = _authenticate(sim, request)
        if request.path.startswith("/v2/"):
            await _request_faults(sim)
            sim.engine.sync_market()
        return await handler(request)
    except ApiError as exc:
        return _error(exc)
    except web.HTTPNotFound:
        return _error(ApiError(404, 40410000, f"endpoint not found: {request.path}"))
    except web.HTTPMethodNotAllowed:
        return _error(ApiError(405, 40510000, f"method {request.method} not allowed"))


async def _request_faults(sim: AlpacaApiSimulator) -> None:
    sim.api_requests += 1
    sim.notify_changed()
    faults = sim.engine.faults
    if faults.response_delay_secs > 0:
        # A stalled API: the answer comes this late (tests bound their clients' timeouts).
        await sim.stall(faults.response_delay_secs)
    if faults.rate_limit_requests > 0:
        sim.engine.faults = faults.model_copy(
            update={"rate_limit_requests": faults.rate_limit_requests - 1}
        )
        raise ApiError(429, 42910000, "rate limit exceeded")
    if faults.server_error_requests > 0:
        sim.engine.faults = faults.model_copy(
            update={"server_error_requests": faults.server_error_requests - 1}
        )
        raise ApiError(500, 50010000, "internal server error")


# -- account ---------------------------------------------------------------------------------


async def _account(request: web.Request) -> web.Response:
    sim = _sim(request)
    account = account_for(request)
    return json_response(
        shapes.account_body(account, sim.engine.orders.values(), sim.engine.symbols)
    )


async def _positions(request: web.Request) -> web.Response:
    sim = _sim(request)
    account = account_for(request)
    return json_response(
        [
            shapes.position_body(account, symbol, sim.engine.symbols[symbol])
            for symbol in sorted(account.positions)
        ]
    )


async def _position(request: web.Request) -> web.Response:
    sim = _sim(request)
    account = account_for(request)
    symbol = request.match_info["symbol"].upper()
    if symbol not in account.positions:
        raise ApiError(404, 40410000, "position does not exist")
    return json_response(shapes.position_body(account, symbol, sim.engine.symbols[symbol]))


# -- orders ----------------------------------------------------------------------------------


def _order_json(sim: AlpacaApiSimulator, order: SimOrder) -> dict[str, Any]:
    session = sim.engine.clock.session(order.created_at.astimezone(NEW_YORK).date())
    return shapes.order_body(order, session[1] if session is not None else None)


async def _create_order(request: web.Request) -> web.Response:
    sim = _sim(request)
    try:
        body = json.loads(await request.text(), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ApiError(400, INVALID_PARAMS, f"request body is not JSON: {exc}") from exc
    order = sim.engine.place(account_for(request), parse_new_order(body))
    faults = sim.engine.faults
    if faults.lose_order_answers > 0 and request.transport is not None:
        sim.engine.faults = faults.model_copy(
            update={"lose_order_answers": faults.lose_order_answers - 1}
        )
        request.transport.close()  # placed, but the answer never arrives
    response = json_response(_order_json(sim, order))
    drop_after = sim.engine.faults.drop_connections_after_orders
    if drop_after is not None and len(sim.engine.orders) >= drop_after and sim.accepting:
        # Answered first (written out before the connections close), then gone.
        await response.prepare(request)
        await response.write_eof()
        sim.drop_connections(refuse_secs=None)
    return response


def _query_time(request: web.Request, name: str) -> dt.datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(422, INVALID_PARAMS, f"invalid {name} {raw!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _orders_filter(request: web.Request) -> Callable[[SimOrder], bool]:
    status = request.query.get("status", "open")
    if status not in ("open", "closed", "all"):
        raise ApiError(422, INVALID_PARAMS, f"invalid status {status!r}")
    side = request.query.get("side")
    symbols = {s for s in request.query.get("symbols", "").upper().split(",") if s}
    after, until = _query_time(request, "after"), _query_time(request, "until")

    def wanted(order: SimOrder) -> bool:
        return (
            (status == "all" or order.is_open == (status == "open"))
            and (side is None or order.side == side)
            and (not symbols or order.symbol in symbols)
            and (after is None or order.created_at > after)
            and (until is None or order.created_at < until)
        )

    return wanted


async def _list_orders(request: web.Request) -> web.Response:
    sim = _sim(request)
    account = account_for(request)
    wanted = _orders_filter(request)
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError as exc:
        raise ApiError(422, INVALID_PARAMS, "limit must be an integer") from exc
    if not 1 <= limit <= _MAX_ORDERS_LIMIT:
        raise ApiError(422, INVALID_PARAMS, f"limit must be 1-{_MAX_ORDERS_LIMIT}")
    descending = request.query.get("direction", "desc") != "asc"
    orders = [o for o in sim.engine.orders.values() if o.account == account.number and wanted(o)]
    orders.sort(key=lambda o: o.created_at, reverse=descending)
    return json_response([_order_json(sim, o) for o in orders[:limit]])


def _order_id(request: web.Request) -> str:
    raw = request.match_info["order_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise ApiError(422, INVALID_PARAMS, f"invalid order id {raw!r}") from exc


async def _get_order(request: web.Request) -> web.Response:
    sim = _sim(request)
    order = sim.engine.order_of(account_for(request), _order_id(request))
    return json_response(_order_json(sim, order))


async def _order_by_client_id(request: web.Request) -> web.Response:
    sim = _sim(request)
    account = account_for(request)
    wanted = request.query.get("client_order_id")
    for order in sim.engine.orders.values():
        if order.account == account.number and order.client_order_id == wanted:
            return json_response(_order_json(sim, order))
    raise ApiError(404, 40410000, "order not found")


async def _cancel_order(request: web.Request) -> web.Response:
    _sim(request).engine.cancel(account_for(request), _order_id(request))
    return web.Response(status=204)


async def _cancel_orders(request: web.Request) -> web.Response:
    sim = _sim(request)
    cancelled = sim.engine.cancel_all(account_for(request))
    # Alpaca answers 207 Multi-Status with one entry per order it tried to cancel.
    return json_response([{"id": o.id, "status": 200} for o in cancelled], status=207)


# -- clock and calendar ----------------------------------------------------------------------


async def _clock(request: web.Request) -> web.Response:
    return json_response(shapes.clock_body(_sim(request).engine.clock))


def _query_date(request: web.Request, name: str, default: dt.date) -> dt.date:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise ApiError(422, INVALID_PARAMS, f"invalid {name} {raw!r}") from exc


async def _calendar(request: web.Request) -> web.Response:
    clock = _sim(request).engine.clock
    today = clock.today()
    start = _query_date(request, "start", today)
    end = _query_date(request, "end", today + dt.timedelta(days=30))
    if (end - start).days > 3660:
        raise ApiError(422, INVALID_PARAMS, "calendar range is limited to ten years")
    return json_response(shapes.calendar_body(clock, start, end))


# -- market data -----------------------------------------------------------------------------


def _symbols(request: web.Request) -> list[str]:
    raw = request.query.get("symbols", "")
    symbols = [s for s in raw.split(",") if s]
    if not symbols:
        raise ApiError(400, 40010001, "missing symbols")
    bad = [s for s in symbols if not _SYMBOL_RE.match(s)]
    if bad:
        raise ApiError(400, 40010001, f"invalid symbol: {bad[0]}")
    feed = request.query.get("feed", "iex")
    if feed not in ("iex", "sip", "delayed_sip"):
        raise ApiError(400, 40010001, f"invalid feed {feed!r}")
    return symbols


async def _latest_quotes(request: web.Request) -> web.Response:
    engine = _sim(request).engine
    now = engine.clock.now()
    quotes = {
        s: shapes.quote_body(engine.symbols[s], now, s in engine.faults.no_quote_symbols)
        for s in _symbols(request)
        if s in engine.symbols
    }
    # Unknown symbols are left out of the answer, as Alpaca does.
    return json_response({"quotes": quotes})


async def _latest_trades(request: web.Request) -> web.Response:
    sim = _sim(request)
    now = sim.engine.clock.now()
    trades = {}
    for symbol in _symbols(request):
        spec = sim.engine.symbols.get(symbol)
        body = None if spec is None else shapes.trade_body(spec, now, sim.next_trade_id())
        if body is not None:
            trades[symbol] = body
    return json_response({"trades": trades})


def add_api_routes(app: web.Application) -> None:
    """Register the Trading and Market Data routes on ``app``."""
    app.router.add_get("/v2/account", _account)
    app.router.add_get("/v2/positions", _positions)
    app.router.add_get("/v2/positions/{symbol}", _position)
    app.router.add_post("/v2/orders", _create_order)
    app.router.add_get("/v2/orders", _list_orders)
    app.router.add_delete("/v2/orders", _cancel_orders)
    app.router.add_get("/v2/orders:by_client_order_id", _order_by_client_id)
    app.router.add_get("/v2/orders/{order_id}", _get_order)
    app.router.add_delete("/v2/orders/{order_id}", _cancel_order)
    app.router.add_get("/v2/clock", _clock)
    app.router.add_get("/v2/calendar", _calendar)
    app.router.add_get("/v2/stocks/quotes/latest", _latest_quotes)
    app.router.add_get("/v2/stocks/trades/latest", _latest_trades)
