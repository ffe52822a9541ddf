"""Loopback HTTP routes of the fake: publish from another process, history, test controls.

- ``POST /channels/<ch>/messages``: Ably REST publish (one message object or a list; JSON or
  msgpack body), as the SDK's ``AblyRest(...).channels.get(ch).publish(...)`` sends it.
- ``GET /channels/<ch>/messages?limit=N``: history, newest first, as a JSON array.
- ``GET /time``: ``[<ms>]``, for ``query_time=True``.
- ``POST /publish/<ch>``: JSON ``{"data": ..., "name"?, "id"?, "encoding"?, "timestamp_ms"?}``
  mapped onto :meth:`FakeAblyServer.publish`; ``"data_base64"`` instead of ``"data"`` sends bytes.
- ``POST /control/drop_all?abrupt=0|1`` and ``POST /control/disconnected``.

The routes check no credentials: the fake binds 127.0.0.1 only and holds test data only.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING, Any

import msgpack  # type: ignore[import-untyped,unused-ignore]
from aiohttp import web

if TYPE_CHECKING:
    from fake_ably_server.server import FakeAblyServer

__all__ = ["add_rest_routes"]

_MESSAGE_FIELDS = {"id", "name", "data", "encoding", "clientId", "extras"}


def add_rest_routes(app: web.Application, server: FakeAblyServer) -> None:
    """Register the HTTP routes on ``app``, bound to ``server``."""
    routes = _Routes(server)
    app.router.add_post("/channels/{channel}/messages", routes.rest_publish)
    app.router.add_get("/channels/{channel}/messages", routes.rest_history)
    app.router.add_get("/time", routes.rest_time)
    app.router.add_post("/publish/{channel}", routes.simple_publish)
    app.router.add_post("/control/drop_all", routes.control_drop_all)
    app.router.add_post("/control/disconnected", routes.control_disconnected)


class _Routes:
    def __init__(self, server: FakeAblyServer) -> None:
        self.server = server

    async def rest_publish(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            if request.content_type == "application/x-msgpack":
                decoded = msgpack.unpackb(body, raw=False)
            else:
                decoded = json.loads(body)
            messages = _as_messages(decoded)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError) as exc:
            return _error(400, 40000, f"invalid publish body: {exc}")
        channel = request.match_info["channel"]
        message_id = await self.server.publish_raw(channel, messages)
        serial = self.server.history(channel)[-1]["channelSerial"]
        return web.json_response(
            {"channel": channel, "messageId": message_id, "serials": [serial]}, status=201
        )

    async def rest_history(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return _error(400, 40000, "limit must be an integer")
        items: list[dict[str, Any]] = []
        for frame in reversed(self.server.history(request.match_info["channel"])):
            for index, message in enumerate(frame["messages"]):
                item = {
                    "id": message.get("id", f"{frame['id']}:{index}"),
                    "connectionId": frame["connectionId"],
                    "timestamp": frame["timestamp"],
                    **{k: v for k, v in message.items() if k != "id"},
                }
                if isinstance(item.get("data"), bytes | bytearray):
                    item["data"] = base64.b64encode(bytes(item["data"])).decode("ascii")
                    item["encoding"] = "/".join(filter(None, [item.get("encoding"), "base64"]))
                items.append(item)
        return web.json_response(items[:limit])

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
