"""Loopback HTTP routes of the fake: Ably's REST API as the SDK calls it, and test controls.

Ably REST (credentials checked when the server has an ``api_key``: see ``rest_auth``):

- ``POST /keys/<keyName>/requestToken``: a signed token request in, TokenDetails out.
- ``POST /channels/<ch>/messages``: publish (one message object or a list; JSON or msgpack
  body), as ``AblyRest(...).channels.get(ch).publish(...)`` sends it.
- ``GET /channels/<ch>/messages``: history (``start``, ``end``, ``direction``, ``limit``; pages
  linked by ``Link`` headers), JSON or msgpack as the ``Accept`` header asks, what
  ``channel.history()`` calls. See ``channel_history`` for what is kept and for how long.
- ``GET /time``: ``[<ms>]``, for ``query_time=True``.

Test controls (no credentials: the fake binds 127.0.0.1 and holds test data only):

- ``POST /publish/<ch>``: JSON ``{"data": ..., "name"?, "id"?, "encoding"?, "timestamp_ms"?}``
  mapped onto :meth:`FakeAblyServer.publish`; ``"data_base64"`` instead of ``"data"`` sends bytes.
- ``POST /control/drop_all?abrupt=0|1``, ``POST /control/disconnected``,
  ``POST /control/stall`` and ``POST /control/unstall``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgpack  # type: ignore[import-untyped,unused-ignore]
from aiohttp import web

from fake_ably_server.channel_history import HistoryQuery, HistoryQueryError
from fake_ably_server.protocol import json_safe_message
from fake_ably_server.rest_auth import AuthError

if TYPE_CHECKING:
    from fake_ably_server.server import FakeAblyServer

__all__ = ["add_rest_routes"]

_MESSAGE_FIELDS = {"id", "name", "data", "encoding", "clientId", "extras"}


def add_rest_routes(app: web.Application, server: FakeAblyServer) -> None:
    """Register the HTTP routes on ``app``, bound to ``server``."""
    routes = _Routes(server)
    app.router.add_post("/keys/{key_name}/requestToken", routes.request_token)
    app.router.add_post("/channels/{channel}/messages", routes.rest_publish)
    app.router.add_get("/channels/{channel}/messages", routes.rest_history)
    app.router.add_get("/time", routes.rest_time)
    app.router.add_post("/publish/{channel}", routes.simple_publish)
    app.router.add_post("/control/drop_all", routes.control_drop_all)
    app.router.add_post("/control/disconnected", routes.control_disconnected)
    app.router.add_post("/control/stall", routes.control_stall)
    app.router.add_post("/control/unstall", routes.control_unstall)


class _Routes:
    def __init__(self, server: FakeAblyServer) -> None:
        self.server = server

    async def request_token(self, request: web.Request) -> web.Response:
        try:
            body = _decode_body(request, await request.read())
            details = self.server.tokens.issue(
                request.match_info["key_name"], body, api_key=self.server.api_key, now_ms=_now_ms()
            )
        except ValueError as exc:
            return _error(400, 40000, f"invalid token request body: {exc}")
        except AuthError as exc:
            return _error(exc.status, exc.code, exc.message)
        return _respond(request, details)

    async def rest_publish(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        try:
            messages = _as_messages(_decode_body(request, await request.read()))
        except ValueError as exc:
            return _error(400, 40000, f"invalid publish body: {exc}")
        channel = request.match_info["channel"]
        message_id = await self.server.publish_raw(channel, messages)
        serial = str(self.server.channel_serial(channel))
        body = {"channel": channel, "messageId": message_id, "serials": [serial]}
        return _respond(request, body, status=201)

    async def rest_history(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        try:
            query = HistoryQuery.from_params(dict(request.query), now_ms=_now_ms())
        except HistoryQueryError as exc:
            return _error(400, 40000, f"invalid history query: {exc}")
        page = self.server.channel_history.page(request.match_info["channel"], query)
        # Relative links, as Ably sends them; the SDK resolves them against the request's URL.
        cursors = {"first": None, "current": query.cursor}
        if page.next_cursor is not None:
            cursors["next"] = page.next_cursor
        links = [
            f'<./messages?{urlencode(query.link_params(cursor))}>; rel="{rel}"'
            for rel, cursor in cursors.items()
        ]
        response = _respond(request, page.items)
        response.headers["Link"] = ", ".join(links)
        return response

    def _refused(self, request: web.Request) -> web.Response | None:
        try:
            self.server.tokens.check(
                request.headers.get("Authorization"), api_key=self.server.api_key, now_ms=_now_ms()
            )
        except AuthError as exc:
            return _error(exc.status, exc.code, exc.message)
        return None

    async def rest_time(self, _request: web.Request) -> web.Response:
        return web.json_response([int(time.time() * 1000)])

    async def simple_publish(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict) or not ({"data", "data_base64"} & body.keys()):
                raise ValueError('expected a JSON object with "data" or "data_base64"')
            data = (
                base64.b64decode(body["data_base64"], validate=True)
                if "data_base64" in body
                else body["data"]
            )
        except (ValueError, binascii.Error) as exc:
            return _error(400, 40000, f"invalid /publish body: {exc}")
        message_id = await self.server.publish(
            request.match_info["channel"],
            data,
            name=body.get("name"),
            id=body.get("id"),
            encoding=body.get("encoding"),
            timestamp_ms=body.get("timestamp_ms"),
        )
        return web.json_response({"id": message_id}, status=201)

    async def control_drop_all(self, request: web.Request) -> web.Response:
        dropped = await self.server.drop_all(abrupt=request.query.get("abrupt", "1") != "0")
        return web.json_response({"dropped": dropped})

    async def control_disconnected(self, _request: web.Request) -> web.Response:
        await self.server.send_disconnected()
        return web.json_response({"sent": self.server.connection_count})

    async def control_stall(self, _request: web.Request) -> web.Response:
        return web.json_response({"stalled": self.server.stall()})

    async def control_unstall(self, _request: web.Request) -> web.Response:
        return web.json_response({"resumed": self.server.unstall()})


def _now_ms() -> int:
    return int(time.time() * 1000)


def _decode_body(request: web.Request, body: bytes) -> object:
    """A JSON or msgpack request body, by its content type.

    Raises:
        ValueError: The body does not parse.
    """
    if request.content_type == "application/x-msgpack":
        try:
            return msgpack.unpackb(body, raw=False)
        except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise ValueError(str(exc)) from None
    return json.loads(body)


def _wants_msgpack(request: web.Request) -> bool:
    """Ably answers in msgpack when ``Accept`` (or the ``format`` parameter) asks for it."""
    if "format" in request.query:
        return request.query["format"] == "msgpack"
    return "application/x-msgpack" in request.headers.get("Accept", "")


def _respond(request: web.Request, body: object, *, status: int = 200) -> web.Response:
    if _wants_msgpack(request):
        packed = msgpack.packb(body, use_bin_type=True)
        return web.Response(body=packed, status=status, content_type="application/x-msgpack")
    if isinstance(body, list):
        body = [json_safe_message(item) if isinstance(item, dict) else item for item in body]
    return web.json_response(body, status=status)


def _as_messages(decoded: object) -> list[dict[str, Any]]:
    items = decoded if isinstance(decoded, list) else [decoded]
    messages: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"message is not an object: {item!r}")
        # Never forward "encoding": null; the SDK drops such frames.
        messages.append({k: v for k, v in item.items() if k in _MESSAGE_FIELDS and v is not None})
    if not messages:
        raise ValueError("no messages")
    return messages


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "statusCode": status, "message": message}}, status=status
    )
