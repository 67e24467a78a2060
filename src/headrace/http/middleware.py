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


class TraceMiddleware:
    """Resolves the trace id, exposes it to logs, echoes it and the version headers."""

    def __init__(self, app: ASGIApp, env_name: str = "DEVELOPMENT") -> None:
        self.app = app
        self.extra_headers = [
            (b"x-version", __version__.encode()),
            (b"x-env", env_name.encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        resolved, receive = await self._resolve(scope, receive)
        trace_id = resolved or new_trace_id()
        token = trace_id_var.set(trace_id)
        started = time.perf_counter()
        status_holder: list[int] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder.append(message["status"])
                headers = list(message.get("headers", ()))
                headers.append((b"x-trace-id", trace_id.encode()))
                headers.extend(self.extra_headers)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s",
                    scope.get("method"),
                    scope.get("path"),
                    extra={
                        "fields": {
                            "status": status_holder[0] if status_holder else None,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        }
                    },
                )
            trace_id_var.reset(token)

    async def _resolve(self, scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
        header = _header(scope, b"x-trace-id")
        if header:
            return valid_trace_id(header), receive
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("trace_id")
        if query and query[0]:
            return valid_trace_id(query[0]), receive
        content_type = _header(scope, b"content-type") or ""
        if scope.get("method") not in ("POST", "PUT", "PATCH") or "json" not in content_type:
            return None, receive
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_PEEK):
            return None, receive
        return await self._peek_body(receive)

    async def _peek_body(self, receive: Receive) -> tuple[str | None, Receive]:
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
