"""A notification receiver for tools/container-test.sh (run inside the daemon's image).

Apprise's ``json://host:port/path`` target POSTs a JSON body (title, message, type) per
notification. This records each one; ``GET /received`` returns them as a JSON list. The
request log stays off: the path of a real hook URL would carry its token.
"""

from __future__ import annotations

import json
import sys

from aiohttp import web

received: list[dict[str, object]] = []


async def record(request: web.Request) -> web.Response:
    received.append({"path": request.path, **json.loads(await request.read())})
    return web.Response(text="ok")


async def listing(_: web.Request) -> web.Response:
    return web.json_response(received)


app = web.Application()
app.router.add_get("/received", listing)
app.router.add_post("/{tail:.*}", record)
web.run_app(app, host="0.0.0.0", port=int(sys.argv[1]), access_log=None, print=None)
