"""One JSON shape for every error the API answers (``ErrorResponse``), and its handlers.

A bad request names each bad field and the value it had (``allocations[1].allocation``,
``1.5``); the message never carries a secret: request headers are never echoed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.models import ErrorBody, ErrorResponse, FieldError, RunDetail

__all__ = ["ApiError", "error_response", "field_name", "install_error_handlers"]

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answer: HTTP ``status``, a stable ``code``, a message for people.

    Args:
        status: The HTTP status.
        code: Machine-readable reason (``account_busy``, ``validation_error``...).
        message: What went wrong and what to do.
        fields: The bad fields of the request, with their values.
        run: The run the request started, when it was refused (PDT, busy).
        headers: Extra response headers (``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Sequence[FieldError] = (),
        run: RunDetail | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.run = run
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Sequence[FieldError] = (),
    run: RunDetail | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The ``ErrorResponse`` document as a response."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message, fields=list(fields), run=run))
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


def field_name(loc: Sequence[int | str]) -> str:
    """``("body", "allocations", 1, "allocation")`` -> ``allocations[1].allocation``."""
    parts = list(loc[1:]) if loc and loc[0] in {"body", "query", "path", "header"} else list(loc)
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def _shown(value: Any) -> Any:
    """A request value as JSON can carry it (decimals as text; big values cut)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "..."
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
        return text if len(text) <= 200 else text[:200] + "..."
    return value if len(text) <= 200 else text[:200] + "..."


def _validation_fields(exc: RequestValidationError) -> list[FieldError]:
    fields = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            message = f"the body is not valid JSON: {error.get('ctx', {}).get('error', '')}"
            fields.append(FieldError(field="body", value=None, message=message.rstrip(": ")))
            continue
        if error.get("type") == "missing":  # its input is the object the field is missing from
            fields.append(FieldError(field=field_name(loc), value=None, message="is required"))
            continue
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        fields.append(
            FieldError(field=field_name(loc), value=_shown(error.get("input")), message=message)
        )
    return fields


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with an ``ErrorResponse``."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(
            exc.status, exc.code, exc.message, fields=exc.fields, run=exc.run, headers=exc.headers
        )

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = _validation_fields(exc)
        summary = "; ".join(f"{f.field}: {f.message} (got {f.value!r})" for f in fields)
        return error_response(422, "validation_error", f"invalid request: {summary}", fields=fields)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(
            exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
