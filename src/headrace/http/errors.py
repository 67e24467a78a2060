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


async def _domain(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(exc)


async def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        location = ".".join(
            str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")
        )
        parts.append(f"{location}\n  {err.get('msg')}")
    message = f"{len(parts)} validation error(s)\n" + "\n".join(parts)
    return error_response(InvalidParamError(message))


async def _http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
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


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(
        {"message": "Internal Server Error", "code": "unknown", "status": 500}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
