"""The one table that renders errors as `{"code", "message", "status"}` (spec §4)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from headrace.errors import (
    DomainError,
    InvalidParamError,
    MethodNotAllowedError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)

log = logging.getLogger(__name__)


def error_response(error: DomainError) -> JSONResponse:
    """The JSON response of a domain error."""
    headers: dict[str, str] = {}
    if isinstance(error, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    if isinstance(error, TooManyRequestsError):
        headers["Retry-After"] = "1"
    return JSONResponse(
        {"code": error.code, "message": error.message, "status": error.status},
        status_code=error.status,
        headers=headers,
    )


def exception_response(exc: Exception) -> Response:
    """The contract's error response for any exception an endpoint raises (unexpected ones
    are logged and answer 500)."""
    if isinstance(exc, DomainError):
        return error_response(exc)
    if isinstance(exc, RequestValidationError):
        return _validation_response(exc)
    if isinstance(exc, StarletteHTTPException):
        return _http_response(exc)
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(
        {"message": "Internal Server Error", "code": "unknown", "status": 500}, status_code=500
    )


def _validation_response(exc: RequestValidationError) -> Response:
    parts = []
    for err in exc.errors():
        location = ".".join(
            str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")
        )
        parts.append(f"{location}\n  {err.get('msg')}")
    message = f"{len(parts)} validation error(s)\n" + "\n".join(parts)
    return error_response(InvalidParamError(message))


def _http_response(exc: StarletteHTTPException) -> Response:
    if exc.status_code == 405:
        return error_response(MethodNotAllowedError())
    if exc.status_code == 404:
        return error_response(NotFoundError())
    return JSONResponse(
        {
            "code": "bad_request" if exc.status_code == 400 else "unknown",
            "message": str(exc.detail),
            "status": exc.status_code,
        },
        status_code=exc.status_code,
    )


async def _handle(_: Request, exc: Exception) -> Response:
    return exception_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""
    for kind in (DomainError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, _handle)
