"""Credentials on the fake's Ably REST routes: basic auth with the key, or tokens it issued.

The SDK refuses basic auth over plain http (40103), so a client of the fake (no TLS) that holds
the key uses token auth: ``AblyRest(key, use_token_auth=True)`` signs a token request with the
key secret (HMAC-SHA256, never sending the secret), POSTs it to
``/keys/<keyName>/requestToken``, and sends ``Authorization: Bearer base64(token)`` from then
on, renewing the token when it expires. :class:`TokenIssuer` checks the signature the way
Ably does and issues the tokens; :meth:`TokenIssuer.check` accepts either form of credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any

__all__ = ["DEFAULT_TOKEN_TTL_MS", "AuthError", "TokenIssuer"]

DEFAULT_TOKEN_TTL_MS = 60 * 60 * 1000
"""Ably's default token lifetime: one hour."""

_ALL_CAPABILITIES = '{"*":["*"]}'


class AuthError(Exception):
    """A refused credential, with the Ably error ``code`` and HTTP ``status``."""

    def __init__(self, code: int, status: int, message: str) -> None:
        super().__init__(code, status, message)
        self.code = code
        self.status = status
        self.message = message


class TokenIssuer:
    """Issues tokens for signed token requests and checks the credentials of REST calls."""

    def __init__(self) -> None:
        self._expiry_ms: dict[str, int] = {}

    def issue(
        self, path_key_name: str, request: object, *, api_key: str | None, now_ms: int
    ) -> dict[str, Any]:
        """TokenDetails for a token request signed with ``api_key``.

        Raises:
            AuthError: The body is not a token request, names another key, or its ``mac`` is
                not the HMAC of its fields under the key secret.
        """
        if not isinstance(request, dict) or not isinstance(request.get("mac"), str):
            raise AuthError(40000, 400, "the body is not a signed token request")
        key_name = request.get("keyName")
        if key_name != path_key_name:
            raise AuthError(40000, 400, f"keyName {key_name!r} differs from the URL's")
        if api_key is not None:
            name, _, secret = api_key.partition(":")
            if key_name != name:
                raise AuthError(40400, 404, f"no key named {key_name!r}")
            if not hmac.compare_digest(request["mac"], _mac(request, secret)):
                raise AuthError(40101, 401, "token request mac does not match the key")
        ttl = request.get("ttl") or DEFAULT_TOKEN_TTL_MS
        token = secrets.token_urlsafe(24)
        self._expiry_ms[token] = now_ms + int(ttl)
        details: dict[str, Any] = {
            "token": token,
            "keyName": key_name,
            "issued": now_ms,
            "expires": now_ms + int(ttl),
            "capability": request.get("capability") or _ALL_CAPABILITIES,
        }
        if request.get("clientId"):
            details["clientId"] = request["clientId"]
        return details

    def token_valid(self, token: str, *, now_ms: int) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        return self._expiry_ms.get(token, 0) > now_ms

    def check(self, authorization: str | None, *, api_key: str | None, now_ms: int) -> None:
        """Accept ``Basic base64(key)`` or ``Bearer base64(token)``; anything when no key is set.

        Raises:
            AuthError: 40101 for a missing or wrong credential, 40142 for an expired token
                (a token error: the SDK then requests a new token and retries).
        """
        if api_key is None:
            return
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            credential = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError(40101, 401, "no valid credentials") from None
        if scheme == "Basic" and hmac.compare_digest(credential, api_key):
            return
        if scheme == "Bearer" and credential in self._expiry_ms:
            if self.token_valid(credential, now_ms=now_ms):
                return
            raise AuthError(40142, 401, "token expired")
        raise AuthError(40101, 401, "invalid credentials")


def _mac(request: dict[str, Any], secret: str) -> str:
    """The signature Ably expects: the fields one per line, in this order, each line ended."""
    fields = [request.get(name) or "" for name in ("keyName", "ttl", "capability", "clientId")]
    fields += [request.get("timestamp") or 0, request.get("nonce") or ""]
    text = "".join(f"{field}\n" for field in fields)
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")
