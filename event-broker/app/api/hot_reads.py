"""The two polled reads, ``GET /api/v1/accounts/{id}`` and ``GET /metrics``, before FastAPI.

A dashboard and Prometheus poll these. Under ``bench/api.py``'s 50 clients, FastAPI's
routing, dependency resolution and its middleware layers were more than half of the daemon's
CPU time per request (py-spy), and on 2 shared cores CPU per request is what the tail latency
is made of: each request waits for the 49 others to be served.

Only the plain successful case is answered here: a GET without a query string, the exact
path of a configured account (or ``/metrics``), a valid key in the header FastAPI would read
(``X-API-Key`` first, else ``Authorization: Bearer``), from a client not blocked for failed
keys, with no ``Origin`` (CORS answers are ``CORSMiddleware``'s). The body is the one the
route builds (the same cached JSON, the same exposition text) and the headers are the
route's plus the security middleware's. Anything else (no key, a wrong one, an unknown
account, a HEAD, an error while building the answer) goes on to FastAPI unchanged, which
answers it, counts the failure and logs it as before. The routes stay: they are the OpenAPI
description and serve everything passed on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import Scope, Send

from app.api.account_views import AccountViews
from app.api.auth import AuthGuard
from app.api.metrics import DaemonMetrics
from app.api.security import response_headers

__all__ = ["HotReads"]

# The route's ``AccountId`` constraints: anything else is FastAPI's to refuse.
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ACCOUNT_PREFIX = "/api/v1/accounts/"
_Headers = list[tuple[bytes, bytes]]
_Builder = Callable[[], bytes]


def _headers(media_type: str) -> _Headers:
    # What Starlette's Response and SecurityMiddleware put on the route's answer, minus the
    # length, which is added per answer.
    return [
        (b"content-type", media_type.encode("latin-1")),
        *(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response_headers("/api")
        ),
    ]


_JSON_HEADERS = _headers("application/json")
_METRICS_HEADERS = _headers(CONTENT_TYPE_LATEST)


def _key_of(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The key a request presents, read as ``require_api_key`` reads it.

    The first ``X-API-Key`` header when not empty, else the credentials of the first
    ``Authorization`` header when its scheme is ``Bearer``. ``None`` also for a request with
    an ``Origin``: the answer may need CORS headers, which are ``CORSMiddleware``'s to give.
    """
    api_key = authorization = None
    for name, value in headers:
        if name == b"origin":
            return None
        if name == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1")
        elif name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
    if api_key:
        return api_key
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


class HotReads:
    """Answers the polled reads it can (see the module docstring).

    Args:
        guard: The API's key check.
        views: The accounts' cached views.
        metrics: The daemon's metrics.
    """

    def __init__(self, guard: AuthGuard, views: AccountViews, metrics: DaemonMetrics) -> None:
        self.guard = guard
        self.views = views
        self.metrics = metrics

    async def answer(self, scope: Scope, send: Send) -> bool:
        """Answer ``scope`` when it is a plain successful read; ``False``: pass it on."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
            return False
        found = self._body(scope["path"])
        if found is None:
            return False
        client = scope.get("client")
        address = client[0] if client else "unknown"
        key = _key_of(scope["headers"])
        if key is None or not self.guard.accepts(address, key):
            return False
        # Built only now: an unauthenticated request must not make the daemon read the journal.
        try:
            body = found[1]()
        except Exception:
            # FastAPI's path builds it again and answers the error in the API's one shape.
            return False
        headers = [*found[0], (b"content-length", str(len(body)).encode("latin-1"))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    def _body(self, path: str) -> tuple[_Headers, _Builder] | None:
        if path == "/metrics":
            return _METRICS_HEADERS, self.metrics.render
        if not path.startswith(_ACCOUNT_PREFIX):
            return None
        account_id = path[len(_ACCOUNT_PREFIX) :]
        if _ACCOUNT_ID.fullmatch(account_id) is None:
            return None
        account = self.views.find(account_id)
        if account is None:
            return None
        return _JSON_HEADERS, lambda: self.views.detail_json(account)
