"""HTTP hardening around the whole app (plain ASGI, so GETs pay almost nothing for it).

For every request that may change something (any method but GET, HEAD, OPTIONS):

* an ``Origin`` other than the daemon's own (or one listed in ``API_CORS_ORIGINS``), or
  ``Sec-Fetch-Site: cross-site``, is refused with 403: a page on another site cannot drive
  the dashboard's browser into a rebalance, even if the key check were bypassed;
* the body must be JSON (``Content-Type: application/json``, else 415), at most
  ``max_body_bytes`` (else 413); it is read here and handed on, so no route sees more.

Every response gets headers that keep the dashboard out of frames and other sites' reach
(a strict Content-Security-Policy: scripts only from the daemon itself), and API answers are
never cached.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityMiddleware", "response_headers"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": _CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_STATIC_HEADERS = tuple(_HEADERS.items())
_NO_STORE_HEADERS = (*_STATIC_HEADERS, ("Cache-Control", "no-store"))


def response_headers(path: str) -> tuple[tuple[str, str], ...]:
    """What ``SecurityMiddleware`` adds to an answer for ``path`` that sets none of these."""
    return _STATIC_HEADERS if path.startswith("/static/") else _NO_STORE_HEADERS


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "fields": []}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in _HEADERS.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityMiddleware:
    """See the module docstring.

    Args:
        app: The wrapped ASGI app.
        allowed_origins: Origins besides the daemon's own that may send changing requests.
        max_body_bytes: Largest request body accepted.
    """

    def __init__(
        self, app: ASGIApp, *, allowed_origins: Iterable[str] = (), max_body_bytes: int = 65536
    ) -> None:
        self.app = app
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers.setdefault(name, value)
                if not path.startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        if scope["method"] not in _SAFE_METHODS:
            refusal = self._refusal(scope)
            if refusal is not None:
                await _refuse(send, *refusal)
                return
            body = await self._read_body(receive)
            if body is None:
                await _refuse(
                    send,
                    413,
                    "body_too_large",
                    f"the request body is larger than {self.max_body_bytes} bytes",
                )
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        if origin is not None and origin != own and origin not in self.allowed_origins:
            return 403, "cross_origin", f"requests from origin {origin} may not change anything"
        if headers.get("sec-fetch-site") == "cross-site" and origin not in self.allowed_origins:
            return 403, "cross_origin", "cross-site requests may not change anything"
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            shown = media_type or "none"
            return (
                415,
                "unsupported_media_type",
                (f"the body must be JSON with Content-Type: application/json (got {shown})"),
            )
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return (
                413,
                "body_too_large",
                (f"the request body is larger than {self.max_body_bytes} bytes"),
            )
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read above once, then the connection's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
