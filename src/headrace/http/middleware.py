"""ASGI middleware: trace id resolution and the headers every response carries.

Trace id precedence (spec §11.2): `X-Trace-Id` header, `trace_id` query, `trace_id` in a JSON
body, else generated. An invalid value is dropped without falling back to the next source.
The body is peeked (and replayed to the app) only when the earlier sources are absent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from headrace import __version__
from headrace.logs import new_trace_id, trace_id_var, valid_trace_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_PEEK = 1 << 20
log = logging.getLogger("headrace.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def response_headers(trace_id: str, env_name: str) -> list[tuple[bytes, bytes]]:
    """The headers every response carries: the trace id and the version headers."""
    return [
        (b"x-trace-id", trace_id.encode()),
        (b"x-version", __version__.encode()),
        (b"x-env", env_name.encode()),
    ]


def log_access(scope: Scope, status: int | None, started: float) -> None:
    """The access log line of a finished request (built only when INFO is on)."""
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s %s",
            scope.get("method"),
            scope.get("path"),
            extra={
                "fields": {
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                }
            },
        )


async def resolve_trace_id(scope: Scope, receive: Receive) -> tuple[str, Receive]:
    """The request's trace id (by the precedence above, else generated) and the `receive`
    to hand on: a replay of the peeked body when the body was read for it."""
    header = _header(scope, b"x-trace-id")
    if header:
        return valid_trace_id(header) or new_trace_id(), receive
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("trace_id")
    if query and query[0]:
        return valid_trace_id(query[0]) or new_trace_id(), receive
    content_type = _header(scope, b"content-type") or ""
    if scope.get("method") not in ("POST", "PUT", "PATCH") or "json" not in content_type:
        return new_trace_id(), receive
    length = _header(scope, b"content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_PEEK):
        return new_trace_id(), receive
    found, receive = await _peek_body(receive)
    return found or new_trace_id(), receive


async def _peek_body(receive: Receive) -> tuple[str | None, Receive]:
    messages: list[Message] = []
    body = bytearray()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body.extend(message.get("body", b""))
        if not message.get("more_body") or len(body) > MAX_PEEK:
            break
    found: str | None = None
    try:
        parsed = orjson.loads(bytes(body))
        if isinstance(parsed, dict) and isinstance(parsed.get("trace_id"), str):
            found = valid_trace_id(parsed["trace_id"])
    except orjson.JSONDecodeError:
        pass

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return found, replay


class TraceMiddleware:
    """Resolves the trace id, exposes it to logs, echoes it and the version headers."""

    def __init__(self, app: ASGIApp, env_name: str = "DEVELOPMENT") -> None:
        self.app = app
        self.env_name = env_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id, receive = await resolve_trace_id(scope, receive)
        token = trace_id_var.set(trace_id)
        started = time.perf_counter()
        status_holder: list[int] = []
        extra_headers = response_headers(trace_id, self.env_name)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder.append(message["status"])
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            log_access(scope, status_holder[0] if status_holder else None, started)
            trace_id_var.reset(token)
