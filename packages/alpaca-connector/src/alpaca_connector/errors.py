"""Alpaca failures mapped onto the base exception tree (pure functions, named tables).

alpaca-py raises ``APIError`` (HTTP status and Alpaca's ``{"code", "message"}`` body) for an
error answer and lets ``requests`` exceptions through for transport failures. The messages
built here carry what was being done and Alpaca's reason, never a key or a secret (those
travel in headers, which no exception here prints).
"""

from __future__ import annotations

import json
from typing import Literal

import requests
from alpaca.common.exceptions import APIError
from broker_connector_base import (
    AuthenticationError,
    BrokerAPIError,
    BrokerConnectionError,
    BrokerError,
    OrderExecutionError,
    RateLimitError,
)

__all__ = ["Operation", "api_error_reason", "exception_for", "transport_error"]

Operation = Literal["order", "lookup", "other"]
"""What kind of request failed: placing or cancelling an order, looking one up by id, or
anything else."""

_AUTH_STATUSES = frozenset({401})
_ORDER_REFUSAL_STATUSES = frozenset({403, 404, 422})
_FORBIDDEN_MESSAGES = frozenset({"forbidden", "forbidden."})
_MAX_REASON = 300


def api_error_reason(exc: APIError) -> tuple[int | None, str, str | None]:
    """HTTP status, Alpaca's message (or the raw body) and Alpaca's code of an ``APIError``."""
    status = exc.status_code
    raw = str(exc)
    try:
        body = json.loads(raw)
    except ValueError:
        return status, raw.strip()[:_MAX_REASON] or f"HTTP {status}", None
    if not isinstance(body, dict):
        return status, raw.strip()[:_MAX_REASON], None
    message = str(body.get("message", "")).strip() or f"HTTP {status}"
    code = body.get("code")
    return status, message[:_MAX_REASON], None if code is None else str(code)


def exception_for(
    exc: APIError, what: str, *, operation: Operation = "other", order_id: str | None = None
) -> BrokerError:
    """The base exception for an Alpaca error answer to ``what``.

    401 (and a 403 saying only "forbidden") is ``AuthenticationError``; 429
    ``RateLimitError``; a 403/404/422 to an order request (insufficient buying power or
    shares, unknown asset, PDT protection, not cancelable) ``OrderExecutionError`` with
    Alpaca's reason, as is a 404 to an order lookup; any other 403 ``AuthenticationError``;
    the rest ``BrokerAPIError``.
    """
    status, message, code = api_error_reason(exc)
    text = f"{what}: Alpaca answered {status}: {message}"
    if status in _AUTH_STATUSES or (status == 403 and message.lower() in _FORBIDDEN_MESSAGES):
        return AuthenticationError(f"{what}: Alpaca refused the API key ({status}: {message})")
    if status == 429:
        return RateLimitError(text, api_code=code)
    if operation == "order" and status in _ORDER_REFUSAL_STATUSES:
        return OrderExecutionError(text, order_id=order_id)
    if operation == "lookup" and status == 404:
        return OrderExecutionError(f"{what}: Alpaca knows no such order", order_id=order_id)
    if status == 403:
        return AuthenticationError(text)
    return BrokerAPIError(text, api_code=code)


def transport_error(exc: requests.RequestException, what: str) -> BrokerConnectionError:
    """A connection failure, refused connection or timeout while doing ``what``."""
    kind = "timed out" if isinstance(exc, requests.Timeout) else "could not reach Alpaca"
    detail = str(exc)[:_MAX_REASON]
    return BrokerConnectionError(f"{what}: {kind} ({type(exc).__name__}: {detail})")
