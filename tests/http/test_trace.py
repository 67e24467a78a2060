"""Trace id precedence, echo, and presence in every log line of a request (spec §11.2)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from tests.conftest import LiveServer
from tests.support.upstream import Reply, ScriptedUpstream

from headrace.logs import JsonFormatter, TraceIdFilter


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceIdFilter())
    logger = logging.getLogger("headrace")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield buffer
    logger.removeHandler(handler)
    logger.setLevel(previous)


async def test_precedence_header_query_body_generated(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    body = {"inputs": {}, "query": "hi", "user": "ivy", "trace_id": "from-body"}
    async with server.client(handle.key) as client:
        header = await client.post(
            "/v1/chat-messages?trace_id=from-query",
            json=body,
            headers={"X-Trace-Id": "from-header"},
        )
        query = await client.post("/v1/chat-messages?trace_id=from-query", json=body)
        in_body = await client.post("/v1/chat-messages", json=body)
        generated = await client.post("/v1/chat-messages", json={**body, "trace_id": None})
        invalid = await client.post(
            "/v1/chat-messages", json=body, headers={"X-Trace-Id": "bad id!"}
        )
        on_error = await client.get(
            "/v1/info", headers={"Authorization": "Bearer nope", "X-Trace-Id": "err-1"}
        )
    assert header.headers["x-trace-id"] == "from-header"
    assert query.headers["x-trace-id"] == "from-query"
    assert in_body.headers["x-trace-id"] == "from-body"
    assert len(generated.headers["x-trace-id"]) == 32
    # An invalid value is dropped without falling back to the next source.
    assert invalid.headers["x-trace-id"] not in ("bad id!", "from-body")
    assert on_error.headers["x-trace-id"] == "err-1"
    assert all(r.status_code == 200 for r in (header, query, in_body, generated, invalid))


async def test_every_log_line_of_a_request_carries_its_trace_id(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream, json_log: io.StringIO
) -> None:
    handle = await make_app()
    # The title call fails, so the run logs a warning from its background task.
    scripted.script(Reply(text="answer"), Reply(status=500, error={"message": "boom"}))
    async with server.client(handle.key) as client:
        response = await client.post(
            "/v1/chat-messages",
            json={"inputs": {}, "query": "hi", "user": "ivy"},
            headers={"X-Trace-Id": "trace-42"},
        )
        await server.container.drain()
    assert response.status_code == 200
    lines = [orjson.loads(line) for line in json_log.getvalue().splitlines()]
    assert any(line["logger"] == "headrace.access" for line in lines)
    assert any(
        line["logger"] == "headrace.apps.naming" and line["level"] == "WARNING" for line in lines
    )
    assert {line["trace_id"] for line in lines} == {"trace-42"}
