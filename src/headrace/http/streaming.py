"""Renderers of a run: SSE frames (spec §7, §14.1) and the blocking body fold (§6).

These are the only places that know the two response formats.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from headrace.apps.events import ErrorEvent, MessageEndEvent, MessageEvent, MessageReplaceEvent
from headrace.apps.run_stream import RunStream
from headrace.apps.wire import end_metadata
from headrace.workflow.events import GraphEvent

PING_FRAME = b'event: ping\ndata: {"event": "ping"}\n\n'
SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"


async def to_sse(stream: RunStream, ping_interval: float) -> AsyncIterator[bytes]:
    """A ping first, then every event as a `data:` frame, a ping after each quiet interval.

    One timer per ping interval, not one per wait: it fires `ping_interval` after the last
    frame sent and, if nothing was sent since, wakes the loop below to send a ping.
    """
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    ping_due = False
    timer: asyncio.TimerHandle

    def check_quiet() -> None:
        nonlocal timer, ping_due
        quiet_until = last_sent + ping_interval
        if loop.time() >= quiet_until:
            ping_due = True
            stream.nudge()
            quiet_until = loop.time() + ping_interval
        timer = loop.call_at(quiet_until, check_quiet)

    timer = loop.call_at(last_sent + ping_interval, check_quiet)
    try:
        yield PING_FRAME
        index = 0
        while True:
            batch = stream.since(index)
            if batch:
                index += len(batch)
                last_sent = loop.time()
                yield batch[0][1] if len(batch) == 1 else b"".join(frame for _, frame in batch)
            elif stream.closed:
                return
            elif ping_due:
                ping_due = False
                last_sent = loop.time()
                yield PING_FRAME
            else:
                await stream.wait_change()
    finally:
        timer.cancel()


class RunStreamingResponse(StreamingResponse):
    """A streaming response without a task watching for the client to leave.

    Starlette's runs a second task per response for that (under ASGI before 2.4, which uvicorn
    speaks), about 4 KiB a stream. A run goes on when its client leaves anyway, so its frames
    simply go to the closed connection, which the server drops, until the run ends.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the head and every frame; a transport error just ends the response."""
        try:
            await self.stream_response(send)
        except OSError:
            return


def sse_response(stream: RunStream, ping_interval: float) -> StreamingResponse:
    """The streaming HTTP response of a run."""
    return RunStreamingResponse(to_sse(stream, ping_interval), media_type=SSE_MEDIA_TYPE)


def fold_message_body(stream: RunStream) -> tuple[int, dict[str, Any]]:
    """Fold a finished chat/completion run into its blocking body (or its error body)."""
    env = stream.envelope
    answer: list[str] = []
    metadata: dict[str, Any] = {}
    for event in stream.events():
        match event:
            case MessageEvent():
                answer.append(event.answer)
            case MessageReplaceEvent():
                answer = [event.answer]
            case MessageEndEvent():
                metadata = end_metadata(event)
            case ErrorEvent():
                return event.status, {
                    "code": event.code,
                    "message": event.message,
                    "status": event.status,
                }
    body: dict[str, Any] = {
        "event": "message",
        "task_id": env.task_id,
        "id": env.message_id,
        "message_id": env.message_id,
    }
    if env.conversation_id is not None:
        body["conversation_id"] = env.conversation_id
    body.update(mode=env.mode, answer="".join(answer), metadata=metadata, created_at=env.created_at)
    if env.workflow_run_id is not None:
        body["workflow_run_id"] = env.workflow_run_id
    return 200, body


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    """A JSON response rendered with orjson (Starlette's JSONResponse uses the stdlib)."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def blocking_response(stream: RunStream) -> Response:
    """Wait for the run and answer with its folded body."""
    await stream.wait_closed()
    status, body = fold_message_body(stream)
    return json_response(body, status)


WORKFLOW_BODY_KEYS = (
    "id",
    "workflow_id",
    "status",
    "outputs",
    "error",
    "elapsed_time",
    "total_tokens",
    "total_steps",
    "created_at",
    "finished_at",
)


def fold_workflow_body(stream: RunStream) -> tuple[int, dict[str, Any]]:
    """Fold a finished workflow run into its blocking body (spec §6.4)."""
    env = stream.envelope
    for event in reversed(stream.events()):
        if isinstance(event, GraphEvent) and event.event == "workflow_finished":
            data = {key: event.data.get(key) for key in WORKFLOW_BODY_KEYS}
            return 200, {
                "task_id": env.task_id,
                "workflow_run_id": env.workflow_run_id,
                "data": data,
            }
        if isinstance(event, ErrorEvent):
            return event.status, {
                "code": event.code,
                "message": event.message,
                "status": event.status,
            }
    return 500, {
        "code": "internal_server_error",
        "message": "The run ended without a result.",
        "status": 500,
    }


async def blocking_workflow_response(stream: RunStream) -> Response:
    """Wait for a workflow run and answer with its folded body."""
    await stream.wait_closed()
    status, body = fold_workflow_body(stream)
    return json_response(body, status)
