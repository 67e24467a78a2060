"""A short way in for the busiest endpoints (`POST /v1/chat-messages` and
`/v1/completion-messages`).

FastAPI and Starlette put about ten ASGI layers in front of every request (error and
exception middleware, CORS, body limit, telemetry, router, route, request/response wrapper)
and four of them wrap `send`, which a streamed answer calls once per event: measured here,
those layers were a sixth of the server's CPU while streaming. The endpoints of the hot lane
take only the request and do their own authentication and parsing, so this class answers them
directly, with the same trace id handling, headers, error bodies and access log as the full
stack. A request carrying an `Origin` header (a browser, which needs CORS headers) takes the
full stack, as does everything else; the FastAPI routes of these endpoints stay registered for
those requests and for the OpenAPI document.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from headrace.http.errors import exception_response
from headrace.http.middleware import (
    Receive,
    Scope,
    Send,
    log_access,
    resolve_trace_id,
    response_headers,
)
from headrace.logs import trace_id_var

Endpoint = Callable[[Request], Awaitable[Response]]
HotEndpoint = tuple[str, Endpoint]


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _has_origin(scope: Scope) -> bool:
    return any(key == b"origin" for key, _ in scope.get("headers", ()))


class HotLaneAPI(FastAPI):
    """FastAPI that answers a few POST endpoints without its middleware and routing layers."""

    def __init__(self, *, env_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.env_name = env_name
        self._hot: dict[str, Endpoint] = {}

    def serve_hot(self, prefix: str, endpoints: list[HotEndpoint]) -> None:
        """Answer POSTs to these paths (under `prefix`) on the hot lane."""
        for path, endpoint in endpoints:
            self._hot[prefix + path] = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Take the hot lane when it applies, else the full stack."""
        if scope["type"] == "http" and scope["method"] == "POST" and self._hot:
            endpoint = self._hot.get(_route_path(scope))
            if endpoint is not None and not _has_origin(scope):
                await self._serve(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        trace_id, receive = await resolve_trace_id(scope, receive)
        token = trace_id_var.set(trace_id)
        started = time.perf_counter()
        status: int | None = None
        try:
            scope["app"] = self
            try:
                response = await endpoint(Request(scope, receive))
            except Exception as exc:
                response = exception_response(exc)
            response.raw_headers.extend(response_headers(trace_id, self.env_name))
            status = response.status_code
            await response(scope, receive, send)
        finally:
            log_access(scope, status, started)
            trace_id_var.reset(token)
