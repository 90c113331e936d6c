"""The one error envelope of the API.

Every error response is `{"error": CODE, "message": ..., "field"?: ..., "hint"?: ...}`.
AtelierError subclasses map to their own status (registered once, for the root class, so
the handler covers every subclass); request validation becomes 400 naming the field;
anything unexpected becomes a generic 500 carrying a request id while the traceback goes
to the log.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from atelier.errors import AtelierError

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "limit_exceeded",
    503: "unavailable",
}


def envelope(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse(body, status_code=status, headers=headers)


async def _atelier_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AtelierError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    return envelope(exc.status, exc.to_dict(), headers)


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field_of(tuple(first.get("loc", ())))
    problems = []
    for err in errors:
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        problems.append(f"{_field_of(tuple(err.get('loc', ())))}: {err.get('msg')}{shown}")
    body = {
        "error": "validation_error",
        "message": "; ".join(problems) or "invalid request",
        "field": field,
    }
    return envelope(400, body)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    return envelope(
        exc.status_code, {"error": code, "message": str(exc.detail)}, dict(exc.headers or {})
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = secrets.token_hex(6)
    log.exception("unhandled error %s on %s %s", request_id, request.method, request.url.path)
    return envelope(
        500,
        {
            "error": "internal",
            "message": f"internal error (request id {request_id})",
            "hint": "the manager log has the details under this request id",
        },
    )


def install(app: FastAPI) -> None:
    """Register the envelope handlers on an app."""
    app.add_exception_handler(AtelierError, _atelier_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
